/**
 * No command runs unaudited: run_shell_command writes its audit record before the command starts and completes
 * it afterwards; when the record cannot be written, nothing runs. Real MCP client, real sandbox, real database.
 */
import { watch, type FSWatcher } from 'node:fs';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/audit/service.js';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';
import { until } from '../helpers/until.js';

let t: TestServer;
let alice: Awaited<ReturnType<typeof registerUser>>;
let client: Client;
/** Where this server's sandbox makes its working copies: a private TMPDIR, so no other test's runs show up. */
let runsRoot: string;
const originalTmp = process.env.TMPDIR;

const run = async (args: Record<string, unknown>) =>
  (await client.callTool({ name: 'run_shell_command', arguments: args })) as any;
const commandRuns = async () =>
  (await alice.api.get('/api/v1/audit?limit=100')).body.items.filter((e: any) => e.action === 'command.run');

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'skillport-audit-test-'));
  await chmod(tmp, 0o755);
  process.env.TMPDIR = tmp;
  t = await startTestServer({ COMMAND_TIMEOUT: '20' });
  const roots = (await readdir(tmp)).filter((d) => d.startsWith('skillport-runs-'));
  expect(roots).toHaveLength(1);
  // Below the per-user parent, each server keeps its runs in a dir of its own (see sandbox/runroot.ts).
  const parent = path.join(tmp, roots[0]!);
  const servers = await readdir(parent);
  expect(servers).toHaveLength(1);
  runsRoot = path.join(parent, servers[0]!);
  alice = await registerUser(new Api(t.baseUrl), 'auditalice');
  expect((await alice.api.post('/api/v1/skills', await skillZip('tools', 'Tools for tests'))).status).toBe(
    201,
  );
  client = await connectMcp(t.baseUrl, await createApiToken(alice.api));
});
afterAll(async () => {
  process.env.TMPDIR = originalTmp;
  await client?.close();
  await t?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('run_shell_command and the audit log', () => {
  it.each([
    ['a lone surrogate in the command', { command: 'echo \ud800' }, 'command'],
    ['a NUL in the command', { command: 'echo a\u0000b' }, 'command'],
    [
      'a NUL in an input file',
      { command: 'cat in.txt', files: [{ path: 'in.txt', content: 'x\u0000' }] },
      'files.0.content',
    ],
    [
      'a lone surrogate in an input path',
      { command: 'ls', files: [{ path: '\udfff', content: 'x' }] },
      'files.0.path',
    ],
  ])('refuses %s before anything runs, as a tool error', async (_label, args, field) => {
    const before = (await commandRuns()).length;
    const r = await run({ skill_name: 'tools', ...args });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toMatch(
      new RegExp(`^Invalid argument ${field.replace('.', '\\.')}: it must not contain`),
    );
    expect((await commandRuns()).length).toBe(before);
  });

  it('writes the record before the command starts and completes it when it ends', async () => {
    const command = 'sleep 2 && echo slept';
    const pending = run({ skill_name: 'tools', command });
    let settled = false;
    void pending.finally(() => (settled = true));
    const started = await until('the started record', async () =>
      (await commandRuns()).find((e: any) => e.details.command === command),
    );
    expect(settled).toBe(false);
    expect(started.result).toBe('started');
    expect(started.details).toMatchObject({ skill: 'tools', version: 1, command, level: 'strict' });

    expect(resultText(await pending)).toContain('slept');
    const done = (await commandRuns()).find((e: any) => e.id === started.id);
    expect(done.result).toBe('success');
    expect(done.details).toMatchObject({ command, exit_code: 0, timed_out: false });
  });

  it('does not run a command whose audit record cannot be written', async () => {
    const db = t.server.ctx.db.db;
    const created = new Set<string>();
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(runsRoot, (_event, name) => name && created.add(String(name)));
      // A real database failure on exactly the command's audit insert.
      await db.execute(
        sql.raw(`create function refuse_command_audit() returns trigger language plpgsql as $$
          begin
            if new.action = 'command.run' then raise exception 'audit log unavailable'; end if;
            return new;
          end $$`),
      );
      await db.execute(
        sql.raw(`create trigger refuse_command_audit before insert on audit_events
          for each row execute function refuse_command_audit()`),
      );
      const refused = await run({ skill_name: 'tools', command: 'echo should-not-run' });
      expect(refused.isError).toBe(true);
      expect(resultText(refused)).toMatch(/could not be recorded in the audit log, so it was not started/);
      expect(resultText(refused)).not.toContain('should-not-run');

      await db.execute(sql.raw('drop trigger refuse_command_audit on audit_events'));
      // The same call with the audit log back: it runs, and the watcher sees its working copy. Watch events
      // arrive in order, so a working copy of the refused call would have been seen before this one.
      expect(resultText(await run({ skill_name: 'tools', command: 'echo ran' }))).toContain('ran');
      await until('the working copy of the second call', async () => created.size > 0);
      expect(created.size).toBe(1);
      const runs = await commandRuns();
      expect(runs.some((e: any) => e.details.command === 'echo should-not-run')).toBe(false);
      expect(runs[0].details.command).toBe('echo ran');
    } finally {
      watcher?.close();
      await db.execute(sql.raw('drop trigger if exists refuse_command_audit on audit_events'));
      await db.execute(sql.raw('drop function if exists refuse_command_audit()'));
    }
  });
});

describe('recordAudit', () => {
  it('stores text that jsonb and text columns would refuse, made visible instead of failing', async () => {
    const id = await recordAudit(t.server.ctx.db.db, {
      actorId: alice.user.id,
      action: 'test.storable',
      target: 'skill:a\u0000b',
      result: 'failure',
      details: { command: 'echo \ud800 a\u0000b', ['key\udfff']: ['x\ud800'] },
    });
    const event = (await alice.api.get('/api/v1/audit?limit=100')).body.items.find((e: any) => e.id === id);
    expect(event).toMatchObject({
      action: 'test.storable',
      target: 'skill:a\u2400b',
      details: { command: 'echo \ufffd a\u2400b', 'key\ufffd': ['x\ufffd'] },
    });
  });
});
