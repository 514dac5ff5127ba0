import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import type { Executor } from '../../src/db/index.js';
import type { BlobStore } from '../../src/skills/index.js';
import { listTables, tableLines } from '../../src/backup/snapshot.js';
import type { Api } from '../helpers/api.js';
import { skillZip } from '../helpers/zips.js';

/** A version as uploaded: the bytes of every file, by path inside the skill. */
export interface Uploaded {
  name: string;
  version: number;
  files: Map<string, Buffer>;
}

/** Uploads a new version (or a new skill) with a SKILL.md, a random binary file and a script; returns what it sent. */
export async function uploadVersion(api: Api, name: string, size = 2048): Promise<Uploaded> {
  const binary = randomBytes(size);
  const script = Buffer.from(`print(${JSON.stringify(randomBytes(8).toString('hex'))})\n`);
  const zip = await skillZip(name, `The ${name} skill. Use it in backup tests.`, [
    { path: 'assets/blob.bin', data: binary },
    { path: 'scripts/run.py', data: script, mode: 0o100755 },
  ]);
  const exists = (await api.get(`/api/v1/skills/${name}`)).status === 200;
  const res = exists
    ? await api.post(`/api/v1/skills/${name}/versions`, zip)
    : await api.post('/api/v1/skills', zip);
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.text}`);
  const version = exists ? res.body.version.number : res.body.version.number;
  const md = `---\nname: ${name}\ndescription: ${JSON.stringify(`The ${name} skill. Use it in backup tests.`)}\n---\n# ${name}\n\nInstructions for ${name}.\n`;
  return {
    name,
    version,
    files: new Map([
      ['SKILL.md', Buffer.from(md)],
      ['assets/blob.bin', binary],
      ['scripts/run.py', script],
    ]),
  };
}

/** The raw bytes of one file of a version, read through the REST API. */
export async function fileBytes(api: Api, name: string, version: number, file: string): Promise<Buffer> {
  const res = await fetch(`${api.baseUrl}/api/v1/skills/${name}/versions/${version}/files/${file}`, {
    headers: { authorization: `Bearer ${api.token}` },
  });
  if (res.status !== 200)
    throw new Error(`read ${name} v${version} ${file}: ${res.status} ${await res.text()}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Asserts that every file of every given version reads back byte for byte. */
export async function expectIntact(api: Api, versions: Uploaded[]): Promise<void> {
  expect(versions.length).toBeGreaterThan(0);
  for (const v of versions) {
    for (const [file, data] of v.files) {
      const got = await fileBytes(api, v.name, v.version, file);
      expect(got.equals(data), `${v.name} v${v.version} ${file}`).toBe(true);
    }
  }
}

/**
 * Everything a database holds, in a comparable form: each table's rows as PostgreSQL's JSON text (sorted), and
 * every blob's bytes read through the store.
 */
export async function contents(exec: Executor, blobs: BlobStore): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  await exec.transaction(async (tx) => {
    for (const table of await listTables(tx)) {
      const rows: string[] = [];
      for await (const line of tableLines(tx, table)) rows.push(line);
      out[table] = rows.sort();
    }
  });
  const digests = (
    (await exec.execute(sql`select sha256 from blobs order by sha256`)) as unknown as {
      rows: { sha256: string }[];
    }
  ).rows.map((r) => r.sha256);
  const bytes = await blobs.getMany(exec, digests);
  out['blob-bytes'] = digests.map((d) => `${d}:${bytes.get(d)?.toString('base64')}`);
  return out;
}
