import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import yazl from 'yazl';

export const MANIFEST = 'manifest.json';
/** Holds the SHA-256 of manifest.json, so a damaged manifest is detected too. */
export const MANIFEST_DIGEST = 'manifest.sha256';

/** One file of a backup archive; `content` is pulled only when the writer reaches it. */
export interface MemberSource {
  name: string;
  content: () => AsyncIterable<Buffer>;
}

export interface MemberDigest {
  name: string;
  size: number;
  sha256: string;
}

/**
 * Writes a zip with `members` in order, then `manifest.json` built from their sizes and SHA-256, then that
 * manifest's own SHA-256 (computed while
 * the bytes stream through, so nothing is held in memory). The file is created with mode 0600: a backup holds
 * every account's data.
 */
export async function writeArchive(
  file: string,
  members: MemberSource[],
  manifest: (digests: MemberDigest[]) => Buffer,
  mtime: Date,
): Promise<void> {
  const zip = new yazl.ZipFile();
  const digests: MemberDigest[] = [];
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    (zip.outputStream as Readable).destroy(err instanceof Error ? err : new Error(String(err)));
  };
  for (const member of members) {
    zip.addReadStreamLazy(member.name, { mtime }, (cb) => {
      const stream = Readable.from(hashed(member, digests));
      stream.on('error', fail);
      cb(null, stream);
    });
  }
  let manifestDigest = '';
  zip.addReadStreamLazy(MANIFEST, { mtime }, (cb) => {
    const bytes = manifest(digests);
    manifestDigest = createHash('sha256').update(bytes).digest('hex');
    cb(null, Readable.from([bytes]));
  });
  zip.addReadStreamLazy(MANIFEST_DIGEST, { mtime }, (cb) => cb(null, Readable.from([`${manifestDigest}\n`])));
  zip.end();
  try {
    await pipeline(zip.outputStream, createWriteStream(file, { mode: 0o600, flags: 'wx' }));
  } catch (err) {
    throw failure ?? err;
  }
  if (failure) throw failure;
}

async function* hashed(member: MemberSource, out: MemberDigest[]): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of member.content()) {
    hash.update(chunk);
    size += chunk.length;
    yield chunk;
  }
  out.push({ name: member.name, size, sha256: hash.digest('hex') });
}

/** Random access to the members of an archive (the zip's central directory is read once). */
export class ArchiveReader {
  private constructor(
    private readonly zip: yauzl.ZipFile,
    readonly entries: Map<string, yauzl.Entry>,
  ) {}

  static async open(file: string): Promise<ArchiveReader> {
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.open(file, { lazyEntries: true, autoClose: false, validateEntrySizes: true }, (err, z) =>
        err ? reject(err) : resolve(z),
      ),
    );
    const entries = new Map<string, yauzl.Entry>();
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        entries.set(entry.fileName, entry);
        zip.readEntry();
      });
      zip.once('end', resolve);
      zip.once('error', reject);
      zip.readEntry();
    });
    return new ArchiveReader(zip, entries);
  }

  async stream(name: string): Promise<Readable> {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`${name} is missing from the archive`);
    return new Promise((resolve, reject) =>
      this.zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))),
    );
  }

  async read(name: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.stream(name)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Size and SHA-256 of a member as stored. */
  async digest(name: string): Promise<MemberDigest> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of await this.stream(name)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { name, size, sha256: hash.digest('hex') };
  }

  close(): void {
    this.zip.close();
  }
}

/** Splits a stream of newline-delimited JSON into lines (each a JSON text). */
export async function* lines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of stream) {
    const parts = (rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk))).split('\n');
    rest = parts.pop()!;
    for (const line of parts) if (line) yield line;
  }
  rest += decoder.end();
  if (rest) yield rest;
}
