import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportSkills, importSkillFolders } from '../../src/skills/index.js';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
let t: TestServer;
let root: string;
let user: Awaited<ReturnType<typeof registerUser>>;

async function put(rel: string, content: string, mode = 0o644) {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  await chmod(file, mode);
}

beforeAll(async () => {
  t = await startTestServer();
  user = await registerUser(new Api(t.baseUrl), 'importer');
  root = await mkdtemp(path.join(tmpdir(), 'skillport-import-'));
  await put('team/pdf/SKILL.md', '---\nname: pdf\ndescription: PDF tools\n---\nUse scripts/run.py\n');
  await put('team/pdf/scripts/run.py', 'print("pdf")\n', 0o755);
  await put('team/pdf/nested/SKILL.md', '---\nname: nested\ndescription: not a separate skill\n---\n');
  await put('misc/notes/SKILL.md', '---\nname: notes\ndescription: Notes\nextra: 1\n---\n');
  await put('node_modules/dep/SKILL.md', '---\nname: dep\ndescription: must be skipped\n---\n');
  await put('.git/hooks/SKILL.md', '---\nname: hook\ndescription: must be skipped\n---\n');
  await put('broken/SKILL.md', '---\nname: Broken Name\n---\n');
  await mkdir(path.join(root, 'escape'), { recursive: true });
  await put('escape/SKILL.md', '---\nname: escape\ndescription: has a bad link\n---\n');
  await symlink('/etc/passwd', path.join(root, 'escape', 'passwd'));
});
afterAll(async () => {
  await t.close();
  await rm(root, { recursive: true, force: true });
});

describe('skills import', () => {
  it('imports every skill folder, reports each result and skips .git and node_modules', async () => {
    const principal = await t.server.ctx.accounts.principalByEmail(user.email.toUpperCase());
    const reports = await importSkillFolders(
      t.server.ctx.skills,
      principal,
      root,
      t.server.ctx.archiveLimits,
    );
    const byFolder = Object.fromEntries(reports.map((r) => [path.relative(root, r.folder), r]));
    expect(Object.keys(byFolder).sort()).toEqual(['broken', 'escape', 'misc/notes', 'team/pdf']);
    expect(byFolder['team/pdf']).toMatchObject({ status: 'created', name: 'pdf', version: 1 });
    expect(byFolder['misc/notes']!.warnings!.join(' ')).toMatch(/extra/);
    expect(byFolder['broken']!.status).toBe('failed');
    expect(byFolder['broken']!.error).toMatch(/lowercase/);
    expect(byFolder['escape']!.status).toBe('failed');
    expect(byFolder['escape']!.error).toMatch(/passwd/);

    const files = await user.api.get('/api/v1/skills/pdf/versions/latest/files');
    const paths = files.body.files.map((f: any) => [f.path, f.executable]);
    expect(paths).toContainEqual(['scripts/run.py', true]);
    expect(paths).toContainEqual(['nested/SKILL.md', false]);

    const again = await importSkillFolders(t.server.ctx.skills, principal, root, t.server.ctx.archiveLimits);
    expect(again.find((r) => r.name === 'pdf')!.status).toBe('unchanged');
    await put('team/pdf/scripts/run.py', 'print("pdf v2")\n', 0o755);
    const third = await importSkillFolders(t.server.ctx.skills, principal, root, t.server.ctx.archiveLimits);
    expect(third.find((r) => r.name === 'pdf')).toMatchObject({ status: 'updated', version: 2 });
  });

  it('exports the current versions with executable bits, refusing to overwrite by default', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'skillport-export-'));
    const written = await exportSkills(
      t.server.ctx.skills,
      await t.server.ctx.accounts.principalByEmail(user.email),
      out,
      { overwrite: false },
    );
    expect(written.map((w) => w.name).sort()).toEqual(['notes', 'pdf']);
    expect(await readFile(path.join(out, 'pdf/scripts/run.py'), 'utf8')).toBe('print("pdf v2")\n');
    expect((await stat(path.join(out, 'pdf/scripts/run.py'))).mode & 0o111).not.toBe(0);
    await expect(
      exportSkills(t.server.ctx.skills, await t.server.ctx.accounts.principalByEmail(user.email), out, {
        overwrite: false,
      }),
    ).rejects.toThrow(/already exists/);
    await rm(out, { recursive: true, force: true });
  });

  it('runs as a CLI command with a per-folder report and a failing exit code', async () => {
    if (t.server.ctx.db.kind !== 'postgres') {
      // The embedded database is single-process: the CLI opens its own data dir.
      const dataDir = await mkdtemp(path.join(tmpdir(), 'skillport-cli-'));
      const env = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
      const cli = ['tsx', 'src/cli/main.ts'];
      await run('npx', [...cli, 'admin', 'create', '--email', 'cli@example.com', '--username', 'cliuser'], {
        env,
      });
      const result = await run('npx', [...cli, 'skills', 'import', root, '--user', 'cli@example.com'], {
        env,
      }).catch((e) => e);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/created\s+pdf v1/);
      expect(result.stdout).toMatch(/failed\s+.*broken/);
      expect(result.stdout).toMatch(/2 imported or unchanged, 2 failed/);
      await rm(dataDir, { recursive: true, force: true });
    } else {
      const env = {
        ...process.env,
        DATABASE_URL: t.server.ctx.config.DATABASE_URL,
        SECRET_KEY: t.secretKey,
        LOG_LEVEL: 'warn',
      };
      const result = await run(
        'npx',
        ['tsx', 'src/cli/main.ts', 'skills', 'import', root, '--user', user.email],
        { env },
      ).catch((e) => e);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/unchanged\s+pdf/);
    }
  }, 120_000); // two CLI processes, each opening (and on PGlite first creating) a database
});
