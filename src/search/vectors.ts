import { LRUCache } from 'lru-cache';

/**
 * Embeddings are stored as `bytea` holding Float32 little-endian values, in every configuration: node-postgres
 * parses `real[]` ~13× slower (connector-design §5.3), and bytea needs no extension. Vectors are normalised
 * when stored, so cosine similarity is a dot product.
 */

export function normalise(v: ArrayLike<number>): Float32Array {
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!;
  const out = new Float32Array(v.length);
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * scale;
  return out;
}

export function encodeVector(v: Float32Array): Buffer {
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4);
  return buf;
}

export function decodeVector(buf: Buffer): Float32Array {
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

/** Cosine similarity of two normalised vectors (0 when their sizes differ: different models never compare). */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}

/** pgvector's text form of a vector (`[0.1,0.2]`), for parameters of the accelerator's queries. */
export const vectorLiteral = (v: Float32Array): string => `[${Array.from(v).join(',')}]`;

/**
 * Decoded vectors of documents, by document id and a stamp that changes whenever the document's embedding
 * does, within a byte budget (least recently used dropped first). Entries can never be stale: a lookup with a
 * newer stamp misses. Used by the portable vector search, which ranks in JS.
 */
export class VectorCache {
  private readonly entries: LRUCache<string, { stamp: string; vec: Float32Array }>;

  constructor(maxBytes = 256 * 1024 * 1024) {
    this.entries = new LRUCache({ maxSize: maxBytes, sizeCalculation: (e) => Math.max(1, e.vec.byteLength) });
  }

  get(id: string, stamp: string): Float32Array | undefined {
    const hit = this.entries.get(id);
    return hit?.stamp === stamp ? hit.vec : undefined;
  }

  set(id: string, stamp: string, vec: Float32Array): void {
    this.entries.set(id, { stamp, vec });
  }
}
