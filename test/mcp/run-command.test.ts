import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';

const SCRIPTS = [
  {
    path: 'scripts/report.py',
    data: 'import sys, json\nopen("report.json", "w").write(json.dumps({"args": sys.argv[1:]}))\nprint("python says", *sys.argv[1:])\n',
    mode: 0o100755,
  },
  { path: 'scripts/count.sh', data: '#!/bin/bash\nwc -l < "$1"\necho "bash done" >&2\n', mode: 0o100755 },
  { path: 'scripts/wait.sh', data: '#!/bin/bash\nsleep "$1"\necho waited\n', mode: 0o100755 },
  {
    path: 'scripts/shout.js',
    data: 'const fs = require("fs");\nconsole.log(fs.readFileSync(process.argv[2], "utf8").toUpperCase());\n',
  },
];

/** Polls the host's run folders until a working copy holding `name` appears; returns its path. */
async function waitForFile(root: string, name: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const runs of (await readdir(root)).filter((d) => d.startsWith('skillport-runs-'))) {
      const found = await readdir(path.join(root, runs), { recursive: true }).catch(() => [] as string[]);
      const hit = found.find((f) => f.endsWith(`/${name}`) || f === name);
      if (hit) return path.join(root, runs, hit);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no working copy with ${name} appeared under ${root}`);
}

let t: TestServer;
let alice: Awaited<ReturnType<typeof registerUser>>;
let bob: Awaited<ReturnType<typeof registerUser>>;
let client: Client;

const run = async (c: Client, args: Record<string, unknown>) =>
  (await c.callTool({ name: 'run_shell_command', arguments: args })) as any;

beforeAll(async () => {
  t = await startTestServer({ COMMAND_TIMEOUT: '20' });
  const api = new Api(t.baseUrl);
  alice = await registerUser(api, 'runalice');
  bob = await registerUser(api, 'runbob');
  expect(
    (await alice.api.post('/api/v1/skills', await skillZip('tools', 'Tools for tests', SCRIPTS))).status,
  ).toBe(201);
  expect(
    (
      await bob.api.post(
        '/api/v1/skills',
        await skillZip('bob-private', 'Bob only', [{ path: 'secret.txt', data: 'BOB-SECRET-MARKER' }]),
      )
    ).status,
  ).toBe(201);
  client = await connectMcp(t.baseUrl, await createApiToken(alice.api));
});
afterAll(async () => {
  await client?.close();
  await t.close();
});

describe('run_shell_command (strict sandbox)', () => {
  it('reports the sandbox level in /ready', async () => {
    const ready = await (await fetch(`${t.baseUrl}/ready`)).json();
    expect(ready.command_sandbox).toBe('strict');
  });

  it('runs a Python script from the skill root and returns the files it created', async () => {
    const r = await run(client, { skill_name: 'tools', command: 'python3 scripts/report.py one two' });
    expect(r.isError).toBeFalsy();
    const text = resultText(r);
    expect(text).toMatch(/^Exit code 0/);
    expect(text).toContain('python says one two');
    expect(text).toContain('- report.json');
    const file = r.content.find((c: any) => c.type === 'resource');
    expect(file.resource.uri).toBe('sandbox://tools/report.json');
    expect(JSON.parse(Buffer.from(file.resource.blob, 'base64').toString())).toEqual({
      args: ['one', 'two'],
    });
  });

  it('runs Bash and Node scripts on input files passed with the call', async () => {
    const bash = await run(client, {
      skill_name: 'tools',
      command: 'bash scripts/count.sh data/lines.txt',
      files: [{ path: 'data/lines.txt', content: 'a\nb\nc\n' }],
    });
    expect(resultText(bash)).toMatch(/--- stdout ---\n3\n/);
    expect(resultText(bash)).toContain('bash done');
    const node = await run(client, {
      skill_name: 'tools',
      command: 'node scripts/shout.js in.txt',
      files: [{ path: 'in.txt', content_base64: Buffer.from('quiet words').toString('base64') }],
    });
    expect(resultText(node)).toContain('QUIET WORDS');
  });

  it('leaves the stored skill unchanged between runs', async () => {
    await run(client, { skill_name: 'tools', command: 'rm -f scripts/report.py && echo gone' });
    const again = await run(client, { skill_name: 'tools', command: 'ls scripts' });
    expect(resultText(again)).toContain('report.py');
  });

  it('runs the current version: a new version, and a rollback, from the very next call', async () => {
    const zip = (marker: string) =>
      skillZip('versioned', 'Changes between versions', [{ path: 'marker.txt', data: marker }]);
    expect((await alice.api.post('/api/v1/skills', await zip('FIRST-MARKER'))).status).toBe(201);
    const cat = async () =>
      resultText(await run(client, { skill_name: 'versioned', command: 'cat marker.txt' }));
    expect(await cat()).toContain('FIRST-MARKER');
    expect(
      (await alice.api.post('/api/v1/skills/versioned/versions', await zip('SECOND-MARKER'))).status,
    ).toBe(201);
    expect(await cat()).toContain('SECOND-MARKER');
    expect((await alice.api.post('/api/v1/skills/versioned/rollback', { version: 1 })).status).toBe(200);
    expect(await cat()).toContain('FIRST-MARKER');
    expect((await alice.api.patch('/api/v1/skills/versioned', { enabled: false })).status).toBe(200);
    expect((await run(client, { skill_name: 'versioned', command: 'cat marker.txt' })).isError).toBe(true);
  });

  it('sets isError for a failing command and for a timeout', async () => {
    const failing = await run(client, { skill_name: 'tools', command: 'exit 3' });
    expect(failing.isError).toBe(true);
    expect(resultText(failing)).toMatch(/^Exit code 3/);
    const slow = await run(client, { skill_name: 'tools', command: 'sleep 30', timeout_seconds: 1 });
    expect(slow.isError).toBe(true);
    expect(resultText(slow)).toMatch(/timed out/);
  });

  it('keeps the server secrets, data dir and other users out of reach', async () => {
    const env = await run(client, {
      skill_name: 'tools',
      command: 'env; cat /proc/1/environ | tr "\\0" "\\n"; true',
    });
    const text = resultText(env);
    expect(text).not.toContain(t.secretKey);
    expect(text).not.toMatch(/SECRET_KEY|DATABASE_URL/);
    const dataDir = await run(client, { skill_name: 'tools', command: `ls ${t.dataDir}` });
    expect(dataDir.isError).toBe(true);
    expect(resultText(dataDir)).toMatch(/No such file or directory/);
    // Bob's run holds his working copy (with secret.txt) on the host while Alice looks for it.
    const bobClient = await connectMcp(t.baseUrl, await createApiToken(bob.api));
    const bobRun = run(bobClient, {
      skill_name: 'bob-private',
      command: 'sleep 4; echo bob done',
      timeout_seconds: 10,
    });
    const bobCopy = await waitForFile(os.tmpdir(), 'secret.txt', 10_000);
    const probe = await run(client, {
      skill_name: 'tools',
      command: `cat ${bobCopy}; ls ${path.dirname(path.dirname(bobCopy))}; find / -name secret.txt -not -path '/proc/*' 2>/dev/null; echo searched`,
      timeout_seconds: 15,
    });
    expect(resultText(probe)).toContain('searched');
    expect(resultText(probe)).not.toContain('BOB-SECRET-MARKER');
    expect(resultText(probe)).not.toMatch(/\/secret\.txt\n/);
    expect(resultText(await bobRun)).toContain('bob done');
    await bobClient.close();
    const other = await run(client, { skill_name: 'bob-private', command: 'cat secret.txt' });
    expect(other.isError).toBe(true);
    expect(resultText(other)).toContain('No skill named "bob-private"');
  });

  it('has no network, not even to this server on 127.0.0.1', async () => {
    const port = new URL(t.baseUrl).port;
    const r = await run(client, {
      skill_name: 'tools',
      command: `python3 -c "import socket; socket.create_connection(('127.0.0.1', ${port}), 3); print('CONNECTED')"`,
    });
    expect(r.isError).toBe(true);
    expect(resultText(r)).not.toContain('CONNECTED');
    expect(resultText(r)).toMatch(/Network is unreachable|Connection refused/);
  });

  it('honours the per-skill and the administrators’ switches, and audits every run', async () => {
    expect((await alice.api.patch('/api/v1/skills/tools', { run_commands_enabled: false })).status).toBe(200);
    const off = await run(client, { skill_name: 'tools', command: 'echo hi' });
    expect(off.isError).toBe(true);
    expect(resultText(off)).toMatch(/switched off/);
    await alice.api.patch('/api/v1/skills/tools', { run_commands_enabled: true });

    // alice registered first in this server: she is the administrator.
    expect((await bob.api.patch('/api/v1/admin/settings', { commands_enabled: false })).status).toBe(403);
    expect((await alice.api.patch('/api/v1/admin/settings', { commands_enabled: false })).body).toMatchObject(
      {
        commands_enabled: false,
      },
    );
    const globalOff = await run(client, { skill_name: 'tools', command: 'echo hi' });
    expect(resultText(globalOff)).toMatch(/switched off on this server/);
    await alice.api.patch('/api/v1/admin/settings', { commands_enabled: true });
    const on = await run(client, { skill_name: 'tools', command: 'echo back on' });
    expect(resultText(on)).toContain('back on');

    const audit = await alice.api.get('/api/v1/audit?limit=100');
    const runs = audit.body.items.filter((e: any) => e.action === 'command.run');
    expect(runs.length).toBeGreaterThanOrEqual(5);
    const last = runs[0];
    expect(last.details).toMatchObject({
      skill: 'tools',
      version: 1,
      command: 'echo back on',
      exit_code: 0,
      level: 'strict',
    });
    expect(typeof last.details.duration_ms).toBe('number');
    expect(runs.some((e: any) => e.details.limits_hit?.includes('timeout'))).toBe(true);
  });
});

describe('run_shell_command (whitelist level and limits)', () => {
  let w: TestServer;
  let wc: Client;
  beforeAll(async () => {
    w = await startTestServer({ COMMAND_SECURITY_LEVEL: 'whitelist', COMMAND_CONCURRENCY_PER_USER: '1' });
    const u = await registerUser(new Api(w.baseUrl), 'wluser');
    await u.api.post('/api/v1/skills', await skillZip('tools', 'Tools', SCRIPTS));
    wc = await connectMcp(w.baseUrl, await createApiToken(u.api));
  });
  afterAll(async () => {
    await wc?.close();
    await w.close();
  });

  it('runs allowed programs and refuses shell tricks', async () => {
    expect(await (await fetch(`${w.baseUrl}/ready`)).json()).toMatchObject({ command_sandbox: 'whitelist' });
    const ok = await run(wc, { skill_name: 'tools', command: 'python3 scripts/report.py x' });
    expect(resultText(ok)).toContain('python says x');
    for (const command of [
      'bash -c "cat /etc/passwd"',
      'python3 scripts/report.py; cat /etc/passwd',
      'python3 scripts/report.py $(id)',
      'python3 scripts/report.py `id`',
      'cat /etc/passwd',
      'python3 scripts/report.py | sh',
      'python3 scripts/report.py > /tmp/x',
      'FOO=1 python3 scripts/report.py',
      '/usr/bin/python3 scripts/report.py',
    ]) {
      const r = await run(wc, { skill_name: 'tools', command });
      expect(r.isError, command).toBe(true);
      expect(resultText(r), command).not.toMatch(/root:x:0:0/);
      expect(resultText(r), command).not.toMatch(/^Exit code/);
    }
  });

  it('refuses a second concurrent run at once when the per-user limit is reached', async () => {
    // Whichever of the two the server takes first runs; the other is refused at once (not queued).
    const call = () =>
      run(wc, { skill_name: 'tools', command: 'bash scripts/wait.sh 3', timeout_seconds: 5 });
    const [a, b] = await Promise.all([call(), call()]);
    const texts = [resultText(a), resultText(b)];
    expect(texts.filter((x) => /Too many scripts running for this user/.test(x))).toHaveLength(1);
    expect(texts.filter((x) => x.includes('waited'))).toHaveLength(1);
  });
});

it('refuses to start with COMMAND_SECURITY_LEVEL=disabled unless explicitly allowed', async () => {
  await expect(startTestServer({ COMMAND_SECURITY_LEVEL: 'disabled' })).rejects.toThrow(
    /COMMAND_ALLOW_DISABLED/,
  );
});

it('removes the tool entirely with COMMANDS_ENABLED=false', async () => {
  const s = await startTestServer({ COMMANDS_ENABLED: 'false' });
  try {
    const u = await registerUser(new Api(s.baseUrl), 'notools');
    const c = await connectMcp(s.baseUrl, await createApiToken(u.api));
    const names = (await c.listTools()).tools.map((x) => x.name);
    expect(names).toContain('load_skill');
    expect(names).not.toContain('run_shell_command');
    await c.close();
  } finally {
    await s.close();
  }
});
