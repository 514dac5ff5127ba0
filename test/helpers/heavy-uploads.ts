/**
 * The heaviest uploads the default limits allow, and a /health sampler to watch the server while they run:
 * shared by test/skills/upload-load.test.ts (asserts) and bench/uploads.bench.ts (figures).
 */
import http from 'node:http';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { FRONTMATTER_LIMITS } from '../../src/skills/package/index.js';
import { craftZip, type CraftEntry } from './zip-craft.js';

const MiB = 1024 * 1024;
const WORDS = 'skill agent lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n';

/** A shared compressible body of `bytes` bytes, deflated once (compressing 800 MiB per run would take long). */
const bodies = new Map<number, { data: Buffer; deflated: Buffer }>();
function body(bytes: number): { data: Buffer; deflated: Buffer } {
  let b = bodies.get(bytes);
  if (!b) {
    const data = Buffer.from(WORDS.repeat(Math.ceil(bytes / WORDS.length))).subarray(0, bytes);
    b = { data, deflated: deflateRawSync(data) };
    bodies.set(bytes, b);
  }
  return b;
}

/**
 * An entry of `head` followed by a shared body of `bodyBytes`: deflate streams concatenate (the head's ends in
 * a sync flush, not a final block), so each file is distinct (no two uploads share a blob) at no compression
 * cost.
 */
function entry(name: string, head: string | Buffer, bodyBytes: number): CraftEntry {
  const headBytes = Buffer.from(head);
  const shared = body(bodyBytes);
  return {
    name,
    raw: Buffer.concat([deflateRawSync(headBytes, { finishFlush: constants.Z_SYNC_FLUSH }), shared.deflated]),
    declaredSize: headBytes.length + bodyBytes,
    crc: crc32(shared.data, crc32(headBytes)),
  };
}

/** A frontmatter just under every frontmatter limit: ~62 KiB, ~1,900 keys, nested 15 deep, with aliases. */
function fullFrontmatter(name: string): string {
  const lines = [
    `name: ${name}`,
    `description: ${JSON.stringify(`A heavy skill. ${'Use it. '.repeat(120)}`)}`,
  ];
  lines.push('anchor: &a some value', 'metadata:');
  for (let i = 0; i < 50; i++) lines.push(`  alias${i}: *a`);
  const nested = Array.from(
    { length: FRONTMATTER_LIMITS.maxDepth - 2 },
    (_, d) => `${'  '.repeat(d + 1)}n${d}:`,
  );
  lines.push(...nested.slice(0, -1), `${nested[nested.length - 1]} deep`);
  const budget = FRONTMATTER_LIMITS.maxBytes - 2048;
  for (let i = 0; Buffer.byteLength(lines.join('\n')) < budget && i < 1800; i++) {
    lines.push(`  key${i}: ${'v'.repeat(20)}`);
  }
  return lines.join('\n');
}

export type HeavyKind = 'large-files' | 'many-files';

/**
 * One archive at the default limits (100 MiB unpacked, 20 MiB per file, 1,000 files), a few hundred KB
 * zipped: `large-files` has a full frontmatter, a 19.9 MiB SKILL.md and four 19.9 MiB files; `many-files`
 * has 999 files of 100 KiB besides SKILL.md.
 */
export function heavyArchive(kind: HeavyKind, name: string): Buffer {
  const entries: CraftEntry[] = [];
  if (kind === 'large-files') {
    const size = Math.floor(19.9 * MiB);
    const md = `---\n${fullFrontmatter(name)}\n---\n# ${name}\n\n`;
    entries.push(entry(`${name}/SKILL.md`, md, size - Buffer.byteLength(md)));
    for (let i = 0; i < 4; i++) entries.push(entry(`${name}/assets/big-${i}.txt`, `${name} ${i}\n`, size));
  } else {
    const md = `---\nname: ${name}\ndescription: Many files. Use it when testing.\n---\n# ${name}\n`;
    entries.push({ name: `${name}/SKILL.md`, data: Buffer.from(md) });
    for (let i = 0; i < 999; i++) {
      entries.push(entry(`${name}/refs/d${i % 10}/f-${i}.md`, `${name} ${i}\n`, 100 * 1024));
    }
  }
  return craftZip(entries);
}

export interface HealthSamples {
  latencies: number[];
  stop(): Promise<number[]>;
}

/** GET /health over one keep-alive connection, one request every `gapMs`, until `stop()`. */
export function sampleHealth(baseUrl: string, gapMs = 20): HealthSamples {
  const url = new URL('/health', baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        http
          .get(url, { agent }, (res) => {
            res.resume();
            res.on('end', () =>
              res.statusCode === 200 ? resolve() : reject(new Error(`/health ${res.statusCode}`)),
            );
          })
          .on('error', reject);
      });
      latencies.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, gapMs));
    }
  })();
  return {
    latencies,
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      return latencies;
    },
  };
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
