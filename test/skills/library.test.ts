import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import yauzl from 'yauzl';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { craftZip } from '../helpers/zip-craft.js';
import { skillZip, yazlZip } from '../helpers/zips.js';

let t: TestServer;
let anon: Api;
let alice: Api;
let bob: Api;
let admin: Api;

beforeAll(async () => {
  t = await startTestServer({ SKILL_MAX_ARCHIVE_MB: '2', SKILL_MAX_FILE_MB: '1' });
  anon = new Api(t.baseUrl);
  admin = (await registerUser(anon, 'libadmin')).api;
  alice = (await registerUser(anon, 'alice')).api;
  bob = (await registerUser(anon, 'bob')).api;
});
afterAll(() => t.close());

const blobCount = async () => {
  const r = (await t.server.ctx.db.db.execute(sql`select count(*)::int as n from blobs`)) as any;
  return Number(r.rows[0].n);
};

async function unzip(buf: Buffer): Promise<Map<string, { data: Buffer; mode: number }>> {
  const zip = await new Promise<yauzl.ZipFile>((res, rej) =>
    yauzl.fromBuffer(buf, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z!))),
  );
  const out = new Map<string, { data: Buffer; mode: number }>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        stream!.on('data', (c: Buffer) => chunks.push(c));
        stream!.on('end', () => {
          out.set(entry.fileName, {
            data: Buffer.concat(chunks),
            mode: (entry.externalFileAttributes >>> 16) & 0o777,
          });
          zip.readEntry();
        });
      });
    });
    zip.on('end', resolve);
    zip.on('error', reject);
    zip.readEntry();
  });
  return out;
}

describe('upload', () => {
  it('creates a skill from a raw zip with nested, binary and executable files', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 255, 0]);
    const zip = await skillZip('pdf-tools', 'Extract text from PDF documents. Use for PDFs.', [
      { path: 'scripts/extract.py', data: 'print("hi")\n', mode: 0o100755 },
      { path: 'references/a/b/c/d/e/deep.md', data: '# deep\n' },
      { path: 'assets/logo.png', data: png },
    ]);
    const res = await alice.post('/api/v1/skills', zip);
    expect(res.status).toBe(201);
    expect(res.body.skill).toMatchObject({
      name: 'pdf-tools',
      origin: 'own',
      current_version: 1,
      file_count: 4,
    });
    expect(res.body.version.number).toBe(1);
    expect(res.body.warnings).toEqual([]);

    const tree = await alice.get('/api/v1/skills/pdf-tools/versions/latest/files');
    expect(tree.status).toBe(200);
    const byPath = Object.fromEntries(tree.body.files.map((f: any) => [f.path, f]));
    expect(Object.keys(byPath).sort()).toEqual([
      'SKILL.md',
      'assets/logo.png',
      'references/a/b/c/d/e/deep.md',
      'scripts/extract.py',
    ]);
    expect(byPath['scripts/extract.py'].executable).toBe(true);
    expect(byPath['SKILL.md'].executable).toBe(false);

    const bin = await fetch(`${t.baseUrl}/api/v1/skills/pdf-tools/versions/1/files/assets/logo.png`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(bin.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await bin.arrayBuffer())).toEqual(png);
    const md = await alice.get('/api/v1/skills/pdf-tools/versions/1/files/SKILL.md');
    expect(md.headers.get('content-type')).toMatch(/^text\/markdown/);
    expect(md.text).toContain('name: pdf-tools');
    // A file's bytes are user content: its own policy (no scripts, a sandbox) wins over the app's.
    for (const res of [bin, md])
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
  });

  it('accepts multipart form data and a zip with SKILL.md at the root', async () => {
    const zip = await yazlZip([
      {
        path: 'SKILL.md',
        data: '---\nname: root-skill\ndescription: |-\n  Multi-line\n  description.\n---\nBody\n',
      },
    ]);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(zip)], { type: 'application/zip' }), 'root-skill.skill');
    const res = await alice.post('/api/v1/skills', form);
    expect(res.status).toBe(201);
    expect(res.body.skill.description).toBe('Multi-line\ndescription.');
  });

  it('returns and keeps warnings for real-world deviations', async () => {
    const long = 'x'.repeat(1100);
    const zip = await yazlZip([
      {
        path: 'other-folder/SKILL.md',
        data: `---\nname: warned\ndescription: ${long}\nversion: 2\n---\nx\n`,
      },
    ]);
    const res = await alice.post('/api/v1/skills', zip);
    expect(res.status).toBe(201);
    expect(res.body.warnings.length).toBe(4);
    expect(res.body.warnings.join(' ')).toMatch(/1024|1,024/);
    expect(res.body.warnings.join(' ')).toMatch(/skills\/list will not show/);
    expect(res.body.warnings.join(' ')).toMatch(/version/);
    expect(res.body.warnings.join(' ')).toMatch(/other-folder/);
    const got = await alice.get('/api/v1/skills/warned');
    expect(got.body.warnings).toEqual(res.body.warnings);
  });

  it.each([
    [
      'absolute path',
      craftZip([
        { name: 's/SKILL.md', data: Buffer.from('x') },
        { name: '/etc/passwd', data: Buffer.from('x') },
      ]),
      '/etc/passwd',
    ],
    [
      'traversal',
      craftZip([
        { name: 's/SKILL.md', data: Buffer.from('x') },
        { name: 's/../../evil', data: Buffer.from('x') },
      ]),
      's/../../evil',
    ],
    [
      'symlink',
      craftZip([
        { name: 's/SKILL.md', data: Buffer.from('x') },
        { name: 's/link', data: Buffer.from('/etc/passwd'), unixMode: 0o120777 },
      ]),
      's/link',
    ],
    [
      'duplicate',
      craftZip([
        { name: 's/SKILL.md', data: Buffer.from('x') },
        { name: 's/SKILL.md', data: Buffer.from('y') },
      ]),
      's/SKILL.md',
    ],
    ['encrypted', craftZip([{ name: 's/SKILL.md', data: Buffer.from('x'), flags: 1 }]), 's/SKILL.md'],
  ])('refuses a hostile archive (%s) naming the entry, and stores nothing', async (_label, zip, entry) => {
    const before = await blobCount();
    const res = await alice.post('/api/v1/skills', zip);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('invalid_archive');
    expect(res.body.error.details.entry).toBe(entry);
    expect(await blobCount()).toBe(before);
  });

  it('stops a zip bomb whose headers lie, while inflating', async () => {
    const huge = Buffer.alloc(3 * 1024 * 1024, 0x61);
    const zip = craftZip([
      { name: 'b/SKILL.md', data: Buffer.from('---\nname: b\ndescription: d\n---\n') },
      { name: 'b/bomb.txt', data: huge, declaredSize: 10 },
    ]);
    expect(zip.length).toBeLessThan(64 * 1024);
    const res = await alice.post('/api/v1/skills', zip);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect((await alice.get('/api/v1/skills/b')).status).toBe(404);
  });

  it('refuses archives over the size cap with 413 and non-zips with 422', async () => {
    const big = await yazlZip([
      { path: 's/SKILL.md', data: '---\nname: s\ndescription: d\n---\n' },
      {
        path: 's/noise.bin',
        data: Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7919) % 251)),
        compress: false,
      },
    ]);
    const res = await alice.post('/api/v1/skills', big);
    expect(res.status).toBe(413);
    const notZip = await alice.post('/api/v1/skills', new TextEncoder().encode('hello, not a zip'));
    expect(notZip.status).toBe(422);
    expect(notZip.body.error.code).toBe('invalid_archive');
    const wrongType = await alice.request('POST', '/api/v1/skills', undefined, {
      'content-type': 'text/plain',
    });
    expect(wrongType.status).toBe(415);
  });

  it('rejects invalid SKILL.md with every error listed', async () => {
    const zip = await yazlZip([
      { path: 'Bad_Name/SKILL.md', data: '---\nname: Bad_Name\ndescription: ""\n---\n' },
    ]);
    const res = await alice.post('/api/v1/skills', zip);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('invalid_skill');
    expect(res.body.error.details.errors.length).toBeGreaterThanOrEqual(2);
    const latin1 = await yazlZip([
      { path: 'l/SKILL.md', data: Buffer.from([0x2d, 0x2d, 0x2d, 0x0a, 0xe9, 0xff, 0x0a]) },
    ]);
    const bad = await alice.post('/api/v1/skills', latin1);
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toMatch(/UTF-8/);
  });

  it('refuses a second skill of the same name with 409', async () => {
    const res = await alice.post('/api/v1/skills', await skillZip('pdf-tools'));
    expect(res.status).toBe(409);
  });
});

describe('versions', () => {
  it('adds versions, labels them, rolls back, deletes old ones and frees blobs', async () => {
    const v1 = await alice.post('/api/v1/skills', await skillZip('versioned', 'First description'));
    expect(v1.status).toBe(201);
    const md2 =
      '---\nname: versioned\ndescription: Second description\nmetadata:\n  version: "2.0.0"\n---\nv2 body\n';
    const v2 = await alice.post(
      '/api/v1/skills/versioned/versions',
      await yazlZip([
        { path: 'versioned/SKILL.md', data: md2 },
        { path: 'versioned/only-in-v2.txt', data: 'unique content of version two' },
      ]),
    );
    expect(v2.status).toBe(201);
    expect(v2.body.version).toMatchObject({ number: 2, label: '2.0.0', is_current: true });
    expect(v2.body.skill.description).toBe('Second description');

    const list = await alice.get('/api/v1/skills/versioned/versions');
    expect(list.body.items.map((v: any) => [v.number, v.is_current])).toEqual([
      [2, true],
      [1, false],
    ]);
    expect((await alice.delete('/api/v1/skills/versioned/versions/2')).status).toBe(409);

    const rolled = await alice.post('/api/v1/skills/versioned/rollback', { version: 1 });
    expect(rolled.status).toBe(200);
    expect(rolled.body).toMatchObject({ current_version: 1, description: 'First description' });
    const current = await alice.get('/api/v1/skills/versioned/versions/latest/files');
    expect(current.body.files.map((f: any) => f.path)).toEqual(['SKILL.md']);

    const before = await blobCount();
    expect((await alice.delete('/api/v1/skills/versioned/versions/2')).status).toBe(204);
    // v2's SKILL.md and only-in-v2.txt were referenced by nothing else.
    expect(await blobCount()).toBe(before - 2);
    expect((await alice.get('/api/v1/skills/versioned/versions/2/files')).status).toBe(404);
  });

  it('keeps the name: a version with another name is refused atomically', async () => {
    const before = await blobCount();
    const res = await alice.post(
      '/api/v1/skills/versioned/versions',
      await skillZip('renamed', 'Brand new unique text 123'),
    );
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('name_mismatch');
    expect(await blobCount()).toBe(before);
    expect((await alice.get('/api/v1/skills/versioned/versions')).body.items).toHaveLength(1);
  });

  it('downloads a version as a zip that round-trips with executable bits', async () => {
    const res = await fetch(`${t.baseUrl}/api/v1/skills/pdf-tools/versions/1/content`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    const files = await unzip(Buffer.from(await res.arrayBuffer()));
    expect([...files.keys()].sort()).toContain('pdf-tools/scripts/extract.py');
    expect(files.get('pdf-tools/scripts/extract.py')!.mode & 0o111).not.toBe(0);
    expect(files.get('pdf-tools/SKILL.md')!.mode & 0o111).toBe(0);
    // Bob uploads Alice's download: identical bytes, so no new blob is stored.
    const download = Buffer.from(
      await (
        await fetch(`${t.baseUrl}/api/v1/skills/pdf-tools/versions/1/content`, {
          headers: { authorization: `Bearer ${alice.token}` },
        })
      ).arrayBuffer(),
    );
    const before = await blobCount();
    const again = await bob.post('/api/v1/skills', download);
    expect(again.status).toBe(201);
    expect(await blobCount()).toBe(before);
  });
});

describe('dedup and garbage collection', () => {
  it('adds no blobs for identical content and frees them when the last reference goes', async () => {
    const zip = await skillZip('dedup-me', 'Unique dedup description', [
      { path: 'data.txt', data: 'dedup payload 42' },
    ]);
    const before = await blobCount();
    expect((await alice.post('/api/v1/skills', zip)).status).toBe(201);
    const afterFirst = await blobCount();
    expect(afterFirst).toBe(before + 2);
    expect((await alice.post('/api/v1/skills/dedup-me/versions', zip)).status).toBe(201);
    expect(await blobCount()).toBe(afterFirst);
    expect((await bob.post('/api/v1/skills', zip)).status).toBe(201);
    expect(await blobCount()).toBe(afterFirst);
    expect((await alice.delete('/api/v1/skills/dedup-me')).status).toBe(204);
    expect(await blobCount()).toBe(afterFirst); // Bob still references them
    expect((await bob.delete('/api/v1/skills/dedup-me')).status).toBe(204);
    expect(await blobCount()).toBe(before);
  });
});

describe('isolation', () => {
  it('two users with a skill of the same name each see only their own', async () => {
    await alice.post('/api/v1/skills', await skillZip('same-name', 'Alice version of same-name'));
    await bob.post('/api/v1/skills', await skillZip('same-name', 'Bob version of same-name'));
    expect((await alice.get('/api/v1/skills/same-name')).body.description).toBe('Alice version of same-name');
    expect((await bob.get('/api/v1/skills/same-name')).body.description).toBe('Bob version of same-name');
    const aliceList = await alice.get('/api/v1/skills?limit=100');
    expect(aliceList.body.items.every((s: any) => s.origin === 'own')).toBe(true);
    expect(aliceList.body.items.map((s: any) => s.description)).not.toContain('Bob version of same-name');
  });

  it("answers 404 (never 403) for another user's private skill by name, version or file", async () => {
    const paths = [
      '/api/v1/skills/warned',
      '/api/v1/skills/warned/versions',
      '/api/v1/skills/warned/versions/1/files',
      '/api/v1/skills/warned/versions/1/files/SKILL.md',
      '/api/v1/skills/warned/versions/latest/content',
    ];
    for (const p of paths) expect((await bob.get(p)).status, p).toBe(404);
    expect((await bob.patch('/api/v1/skills/warned', { enabled: false })).status).toBe(404);
    expect((await bob.delete('/api/v1/skills/warned')).status).toBe(404);
    expect((await bob.post('/api/v1/skills/warned/rollback', { version: 1 })).status).toBe(404);
    expect((await bob.post('/api/v1/skills/warned/versions', await skillZip('warned'))).status).toBe(404);
    const search = await bob.get('/api/v1/skills?q=xxxx');
    expect(search.body.items).toEqual([]);
    expect((await anon.get('/api/v1/skills')).status).toBe(401);
  });
});

describe('list, search, enable/disable', () => {
  it('searches name, description and body with ranking', async () => {
    await alice.post(
      '/api/v1/skills',
      await skillZip(
        'spreadsheet-helper',
        'Work with Excel spreadsheets',
        [],
        '# Excel\nPivot tables and formulas.\n',
      ),
    );
    await alice.post(
      '/api/v1/skills',
      await skillZip('chart-maker', 'Draw charts', [], 'Uses spreadsheet data from formulas\n'),
    );
    const res = await alice.get('/api/v1/skills?q=spreadsheet');
    expect(res.status).toBe(200);
    const names = res.body.items.map((s: any) => s.name);
    expect(names[0]).toBe('spreadsheet-helper');
    expect(names).toContain('chart-maker');
    const body = await alice.get('/api/v1/skills?q=pivot');
    expect(body.body.items.map((s: any) => s.name)).toEqual(['spreadsheet-helper']);
    const prefix = await alice.get('/api/v1/skills?q=spread');
    expect(prefix.body.items.length).toBeGreaterThanOrEqual(1);
  });

  it('pages with a stable order and a capped page size', async () => {
    const page1 = await alice.get('/api/v1/skills?limit=2');
    expect(page1.body.items).toHaveLength(2);
    const page2 = await alice.get(`/api/v1/skills?limit=2&cursor=${page1.body.next_cursor}`);
    const names1 = page1.body.items.map((s: any) => s.name);
    const names2 = page2.body.items.map((s: any) => s.name);
    expect(names1.concat(names2)).toEqual([...names1, ...names2].sort());
    expect(names2.some((n: string) => names1.includes(n))).toBe(false);
    expect((await alice.get('/api/v1/skills?limit=1000')).status).toBe(400);
    expect((await alice.get('/api/v1/skills?cursor=garbage')).status).toBe(400);
  });

  it('hides disabled skills unless asked', async () => {
    expect((await alice.patch('/api/v1/skills/chart-maker', { enabled: false })).body.enabled).toBe(false);
    const names = (await alice.get('/api/v1/skills?limit=100')).body.items.map((s: any) => s.name);
    expect(names).not.toContain('chart-maker');
    const all = (await alice.get('/api/v1/skills?limit=100&include_disabled=true')).body.items.map(
      (s: any) => s.name,
    );
    expect(all).toContain('chart-maker');
  });
});

describe('shared skills', () => {
  it('admins publish; users read them, cannot change them, can hide them; an own skill of the same name wins', async () => {
    await admin.post('/api/v1/skills', await skillZip('company-style', 'The house style guide'));
    expect((await alice.patch('/api/v1/skills/pdf-tools', { shared: true })).status).toBe(403);
    const shared = await admin.patch('/api/v1/skills/company-style', { shared: true });
    expect(shared.body.shared).toBe(true);

    const seen = await bob.get('/api/v1/skills/company-style');
    expect(seen.status).toBe(200);
    expect(seen.body.origin).toBe('shared');
    expect((await bob.get('/api/v1/skills/company-style/versions/latest/files/SKILL.md')).status).toBe(200);
    expect((await bob.patch('/api/v1/skills/company-style', { enabled: false })).status).toBe(403);
    expect((await bob.delete('/api/v1/skills/company-style')).status).toBe(403);
    expect((await bob.get('/api/v1/skills?scope=shared')).body.items.map((s: any) => s.name)).toContain(
      'company-style',
    );

    expect((await bob.patch('/api/v1/skills/company-style', { hidden: true })).body.hidden).toBe(true);
    expect((await bob.get('/api/v1/skills?limit=100')).body.items.map((s: any) => s.name)).not.toContain(
      'company-style',
    );
    expect((await bob.patch('/api/v1/skills/company-style', { hidden: false })).body.hidden).toBe(false);

    await alice.post('/api/v1/skills', await skillZip('company-style', 'Alice overrides the style'));
    const own = await alice.get('/api/v1/skills/company-style');
    expect(own.body).toMatchObject({ origin: 'own', description: 'Alice overrides the style' });
    const list = (await alice.get('/api/v1/skills?limit=100')).body.items.filter(
      (s: any) => s.name === 'company-style',
    );
    expect(list).toHaveLength(1);
  });
});

describe('account deletion', () => {
  it('frees the blobs only the deleted account referenced, in the same transaction', async () => {
    const carol = await registerUser(anon, 'carol');
    const shared = await skillZip('carol-shared-content', 'Same bytes as Dave', [
      { path: 'same.txt', data: 'common 7' },
    ]);
    const own = await skillZip('carol-own', 'Only Carol has these bytes', [
      { path: 'own.txt', data: 'carol only 9' },
    ]);
    const dave = await registerUser(anon, 'dave');
    expect((await dave.api.post('/api/v1/skills', shared)).status).toBe(201);
    const before = await blobCount();
    expect((await carol.api.post('/api/v1/skills', shared)).status).toBe(201);
    expect((await carol.api.post('/api/v1/skills', own)).status).toBe(201);
    expect(await blobCount()).toBe(before + 2); // own SKILL.md and own.txt; the shared ones already existed
    expect((await carol.api.delete('/api/v1/users/me', { password: carol.password })).status).toBe(204);
    expect(await blobCount()).toBe(before);
    expect((await dave.api.get('/api/v1/skills/carol-shared-content/versions/1/files/same.txt')).text).toBe(
      'common 7',
    );
  });
});

describe('file paths in URLs', () => {
  it('answers 400 for malformed percent-encoding and 404 for traversal attempts', async () => {
    expect((await alice.get('/api/v1/skills/pdf-tools/versions/1/files/%E0%A4%A')).status).toBe(400);
    expect((await alice.get('/api/v1/skills/pdf-tools/versions/1/files/..%2F..%2Fetc%2Fpasswd')).status).toBe(
      404,
    );
    const encoded = await alice.get('/api/v1/skills/pdf-tools/versions/1/files/scripts%2Fextract.py');
    expect(encoded.status).toBe(200);
    expect(encoded.text).toContain('print');
  });
});
