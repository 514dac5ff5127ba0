/**
 * The official MCP Inspector CLI against a live server: `skills/list --verify` (SEP-2640 conformance and every
 * file's digest) and `tools/list`. The Inspector needs Node >= 22.19: tools/inspector (installed by `npm test`)
 * holds it with a Node 22 of its own, kept off the root package's PATH so the project itself runs on Node 20.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { yazlZip } from '../helpers/zips.js';
import { binaryBytes, mcpUser, patchSkill, upload, uploadSkill, type McpUser } from './fixtures.js';

const TOOLS = path.resolve('tools/inspector/node_modules');
const NODE22 = path.join(TOOLS, 'node/bin/node');
const INSPECTOR = path.join(TOOLS, '@modelcontextprotocol/inspector/clients/launcher/build/index.js');

let t: TestServer;
let alice: McpUser;
let home: string;

beforeAll(async () => {
  t = await startTestServer();
  const anon = new Api(t.baseUrl);
  const admin = await mcpUser(anon, 'inspadmin');
  alice = await mcpUser(anon, 'inspalice');
  await uploadSkill(alice.api, 'pdf-tools', 'Extract text from PDF files. Use for PDFs.', [
    { path: 'scripts/extract.py', data: 'print("x")\n', mode: 0o100755 },
    { path: 'references/forms.md', data: '# Forms\n' },
    { path: 'assets/logo.png', data: binaryBytes(5000) },
  ]);
  await upload(
    alice.api,
    await yazlZip([
      {
        path: 'folded/SKILL.md',
        data: '---\nname: folded\ndescription: >\n  A folded description\n  over two lines.\nmetadata:\n  version: "2"\n---\n# Folded\n',
      },
    ]),
  );
  await uploadSkill(admin.api, 'shared-style', 'The shared house style.');
  await patchSkill(admin.api, 'shared-style', { shared: true });
  home = mkdtempSync(path.join(tmpdir(), 'skillport-inspector-home-'));
}, 60_000);
afterAll(async () => {
  await t?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

function inspector(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      NODE22,
      [INSPECTOR, '--cli', ...args],
      // The Inspector keeps a settings folder under HOME; give it a scratch one.
      { env: { PATH: process.env.PATH ?? '', HOME: home }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as any).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

const auth = () => ['--header', `Authorization: Bearer ${alice.token}`];

describe('MCP Inspector CLI', () => {
  it('runs on the bundled Node 22', async () => {
    expect(existsSync(NODE22)).toBe(true);
    const version = await new Promise<string>((resolve, reject) =>
      execFile(NODE22, ['--version'], (err, out) => (err ? reject(err) : resolve(out.trim()))),
    );
    expect(version).toMatch(/^v22\./);
    expect(Number(version.split('.')[1])).toBeGreaterThanOrEqual(19);
  });

  it.each(['/mcp', '/sse'])(
    'skills/list --verify passes over %s',
    async (endpoint) => {
      const r = await inspector([
        `${t.baseUrl}${endpoint}`,
        ...auth(),
        '--method',
        'skills/list',
        '--verify',
      ]);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const reports = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
      expect(reports.map((x) => x.name).sort()).toEqual(['folded', 'pdf-tools', 'shared-style']);
      for (const report of reports) {
        expect(report, JSON.stringify(report)).toMatchObject({
          ok: true,
          outcome: 'verified',
          conformance: [],
        });
        for (const f of report.files) expect(f.status, f.uri).toBe('verified');
      }
      expect(reports.find((x) => x.name === 'pdf-tools').files).toHaveLength(4);
      expect(r.stderr).toContain('Verified 3 skills and 6 files: no conformance errors.');
    },
    90_000,
  );

  it('tools/list shows the skill tools', async () => {
    const r = await inspector([`${t.baseUrl}/mcp`, ...auth(), '--method', 'tools/list']);
    expect(r.code, r.stderr).toBe(0);
    const { tools } = JSON.parse(r.stdout);
    expect(tools.map((x: any) => x.name)).toEqual(
      expect.arrayContaining(['load_skill_metadata', 'load_skill', 'read_reference_file', 'search_skills']),
    );
  }, 90_000);

  it('tools/call load_skill returns the SKILL.md', async () => {
    const r = await inspector([
      `${t.baseUrl}/mcp`,
      ...auth(),
      '--method',
      'tools/call',
      '--tool-name',
      'load_skill',
      '--tool-arg',
      'skill_name=pdf-tools',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).content[0].text).toContain('- scripts/extract.py (11 B, executable)');
  }, 90_000);
});
