/**
 * Hand-crafted zip files for hostile cases yazl refuses to produce: symlink / device mode bits, duplicate
 * names, encrypted flags, absolute paths, backslashes, headers that lie about sizes, overlapping entries.
 * Writes local headers + data, then the central directory and the end record. No zip64.
 */
import { crc32, deflateRawSync } from 'node:zlib';

export interface CraftEntry {
  /** Entry name; a Buffer is written as-is (raw bytes), a string as UTF-8 with the UTF-8 flag set. */
  name: string | Buffer;
  /** Uncompressed content (default empty). */
  data?: Buffer;
  /** 0 = stored, 8 = deflate (default), anything else is written as declared. */
  method?: number;
  /** Bytes written as the entry data instead of compressing `data`. */
  raw?: Buffer;
  /** Uncompressed size written in both headers (default: data length). */
  declaredSize?: number;
  /** CRC-32 written in both headers (default: crc of data). */
  crc?: number;
  /** Extra general-purpose flags (e.g. 0x1 = encrypted). */
  flags?: number;
  /** "Version made by" host OS (default 3 = unix). */
  madeByOs?: number;
  /** Unix mode stored in the high 16 bits of the external attributes (default 0o100644). */
  unixMode?: number;
  /** Full external attributes, overriding `unixMode`. */
  externalAttributes?: number;
  /** Reuse the local header + data of an earlier entry (overlapping-entry bombs). */
  shareDataWith?: number;
}

interface Written {
  offset: number;
  nameBytes: Buffer;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
}

export function craftZip(entries: readonly CraftEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const written: Written[] = [];

  for (const e of entries) {
    const nameBytes = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    const flags = (e.flags ?? 0) | (typeof e.name === 'string' ? 0x800 : 0);
    const method = e.method ?? 8;
    const data = e.data ?? Buffer.alloc(0);
    if (e.shareDataWith !== undefined) {
      const shared = written[e.shareDataWith];
      if (!shared) throw new Error('shareDataWith must point to an earlier entry');
      written.push({ ...shared, nameBytes, flags });
      continue;
    }
    const payload = e.raw ?? (method === 8 ? deflateRawSync(data) : data);
    const crc = e.crc ?? crc32(data);
    const size = e.declaredSize ?? data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date 1980-01-01
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(payload.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    parts.push(local, nameBytes, payload);
    written.push({ offset, nameBytes, flags, method, crc, compressedSize: payload.length, size });
    offset += local.length + nameBytes.length + payload.length;
  }

  const centralStart = offset;
  entries.forEach((e, i) => {
    const w = written[i]!;
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(((e.madeByOs ?? 3) << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(w.flags, 8);
    central.writeUInt16LE(w.method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(w.crc >>> 0, 16);
    central.writeUInt32LE(w.compressedSize, 20);
    central.writeUInt32LE(w.size, 24);
    central.writeUInt16LE(w.nameBytes.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    const external = e.externalAttributes ?? ((e.unixMode ?? 0o100644) << 16) >>> 0;
    central.writeUInt32LE(external >>> 0, 38);
    central.writeUInt32LE(w.offset, 42);
    parts.push(central, w.nameBytes);
    offset += central.length + w.nameBytes.length;
  });

  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(offset - centralStart, 12);
  end.writeUInt32LE(centralStart, 16);
  end.writeUInt16LE(0, 20);
  parts.push(end);
  return Buffer.concat(parts);
}

/** A minimal valid SKILL.md. */
export function skillMd(name = 'demo-skill', description = 'Does demo things. Use when testing.'): Buffer {
  return Buffer.from(`---\nname: ${name}\ndescription: ${description}\n---\n\n# ${name}\n`, 'utf8');
}
