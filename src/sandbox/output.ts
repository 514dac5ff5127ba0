import type { Readable } from 'node:stream';

/** Bytes of each stream scanned for limit markers (fork/alloc failures), stored or not. */
export const SCAN_BUDGET = 1024 * 1024;
const SCAN_TAIL = 64;

/**
 * Keeps the first `max` bytes of a stream and keeps reading (and dropping) the rest so the child never blocks on a
 * full pipe. The text is cut on a UTF-8 character boundary and gets a truncation marker.
 */
export class CappedCapture {
  private readonly chunks: Buffer[] = [];
  private stored = 0;
  private scanned = 0;
  private scanCarry = '';
  truncated = false;
  totalBytes = 0;
  /** Patterns seen anywhere in the first SCAN_BUDGET bytes. */
  readonly seen = new Set<string>();

  constructor(
    private readonly max: number,
    private readonly markers: ReadonlyArray<readonly [string, RegExp]> = [],
  ) {}

  attach(stream: Readable): void {
    stream.on('data', (chunk: Buffer) => this.push(chunk));
  }

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    if (this.markers.length && this.scanned < SCAN_BUDGET) {
      const text = this.scanCarry + chunk.toString('latin1');
      for (const [name, re] of this.markers) if (re.test(text)) this.seen.add(name);
      this.scanCarry = text.slice(-SCAN_TAIL);
      this.scanned += chunk.length;
    }
    const room = this.max - this.stored;
    if (room <= 0) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    if (chunk.length > room) {
      this.chunks.push(chunk.subarray(0, room));
      this.stored += room;
      this.truncated = true;
    } else {
      this.chunks.push(chunk);
      this.stored += chunk.length;
    }
  }

  text(): string {
    let buf = Buffer.concat(this.chunks, this.stored);
    if (this.truncated) buf = buf.subarray(0, utf8Boundary(buf));
    const s = buf.toString('utf8');
    return this.truncated ? `${s}\n…[truncated after ${this.max} bytes]` : s;
  }
}

/** Largest length ≤ buf.length that does not end inside a multi-byte UTF-8 sequence. */
export function utf8Boundary(buf: Buffer): number {
  let i = buf.length;
  // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
  let k = i - 1;
  let cont = 0;
  while (k >= 0 && cont < 3 && (buf[k]! & 0xc0) === 0x80) {
    k--;
    cont++;
  }
  if (k < 0) return i;
  const lead = buf[k]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  if (need > cont + 1) i = k;
  return i;
}
