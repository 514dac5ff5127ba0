import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';
import { fileBytes } from '../backup/fixtures.js';

/**
 * The database blob store under deletes racing uploads of the same bytes (see the invariant in
 * src/skills/blob-store.ts): before row locks, PostgreSQL refused such a delete (or upload) on the foreign key
 * from `version_files`, and the user got a 500.
 */
let t: TestServer;
let alice: Api;
let bob: Api;

beforeAll(async () => {
  t = await startTestServer();
  alice = (await registerUser(new Api(t.baseUrl), 'gcalice')).api;
  bob = (await registerUser(new Api(t.baseUrl), 'gcbob')).api;
});
afterAll(async () => {
  await t?.close();
});

const ROUNDS = 12;

describe('database blob store: garbage collection racing uploads of the same bytes', () => {
  it('answers every delete and upload without a 5xx, and every acknowledged version reads back', async () => {
    const common = randomBytes(2 * 1024 * 1024); // several chunk rows: a longer write
    const failures: string[] = [];
    const check = (what: string, status: number, expected: number, text: string) => {
      if (status !== expected) failures.push(`${what}: ${status} ${text.slice(0, 300)}`);
    };
    const acknowledged: { name: string; version: number }[] = [];

    // Upload a skill holding `common`, read it back, delete it: the delete collects `common` unless another
    // upload holds it at that moment.
    const churn = async (api: Api, prefix: string) => {
      for (let n = 0; n < ROUNDS; n++) {
        const name = `${prefix}-${n}`;
        const zip = await skillZip(name, `The ${name} skill. Use it in GC tests.`, [
          { path: 'common.bin', data: common },
        ]);
        const up = await api.post('/api/v1/skills', zip);
        check(`upload ${name}`, up.status, 201, up.text);
        if (up.status !== 201) continue;
        expect((await fileBytes(api, name, 1, 'common.bin')).equals(common)).toBe(true);
        const del = await api.delete(`/api/v1/skills/${name}`);
        check(`delete ${name}`, del.status, 204, del.text);
      }
    };
    // New versions of one skill, whose `common` the uploader's own (churning) skills may hold: those bytes are
    // not sent again, and older versions are deleted as it goes.
    const versions = async () => {
      for (let n = 1; n <= ROUNDS; n++) {
        const zip = await skillZip('kept', `The kept skill, version ${n}. Use it in GC tests.`, [
          { path: 'common.bin', data: common },
          { path: 'own.bin', data: randomBytes(1024) },
        ]);
        const up = await alice.post(n === 1 ? '/api/v1/skills' : '/api/v1/skills/kept/versions', zip);
        check(`upload kept v${n}`, up.status, 201, up.text);
        if (up.status !== 201) continue;
        acknowledged.push({ name: 'kept', version: up.body.version.number });
        if (n > 1) {
          const del = await alice.delete(`/api/v1/skills/kept/versions/${n - 1}`);
          if (del.status !== 409) check(`delete kept v${n - 1}`, del.status, 204, del.text);
        }
      }
    };
    await Promise.all([churn(alice, 'a'), churn(bob, 'b'), churn(alice, 'c'), churn(bob, 'd'), versions()]);

    expect(failures).toEqual([]);
    // The last version stays: its `common` must still be readable after all the collections.
    const last = await alice.get('/api/v1/skills/kept');
    expect(last.status).toBe(200);
    const current = acknowledged[acknowledged.length - 1]!.version;
    expect((await fileBytes(alice, 'kept', current, 'common.bin')).equals(common)).toBe(true);
    expect(acknowledged.length).toBe(ROUNDS);
    const errors = t.logs.filter((l) => l.includes('"level":50'));
    expect(errors).toEqual([]);
  });
});
