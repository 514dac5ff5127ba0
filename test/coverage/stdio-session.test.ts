/**
 * `serveFolderOverStdio` in this process, over the SDK's in-memory transport: the same session the `skillport
 * stdio` command runs (test/mcp/stdio.test.ts drives that one as a child process, where coverage cannot see it).
 * The folder library needs no database, so this file is the same on PGlite and PostgreSQL.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveFolderOverStdio, type StdioSession } from '../../src/mcp/stdio.js';
import { createLogger } from '../../src/observability/logger.js';
import { callError, callText, deferred } from '../mcp/fixtures.js';

let dir: string;
let session: StdioSession;
let client: Client;
const logs: string[] = [];

function writeSkill(folder: string, name: string, description: string, body: string) {
  mkdirSync(path.join(dir, folder), { recursive: true });
  writeFileSync(
    path.join(dir, folder, 'SKILL.md'),
    `---\nname: ${name}\ndescription: ${description}\n---\n${body}`,
  );
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'skillport-stdio-session-'));
  writeSkill('notes', 'notes', 'Take meeting notes. Use for minutes.', '# Notes\n\nWrite the minutes.\n');
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  session = await serveFolderOverStdio({
    skillsDir: dir,
    version: '9.9.9',
    logger: createLogger('debug', sink),
    transport: serverSide as never,
  });
  client = new Client({ name: 'in-process', version: '1.0.0' });
  await client.connect(clientSide);
});
afterAll(async () => {
  await client?.close();
  await session?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the stdio session, in process', () => {
  it('serves the folder: metadata, the skill body, and a clear error for an unknown one', async () => {
    expect(client.getServerVersion()?.version).toBe('9.9.9');
    expect(await callText(client, 'load_skill_metadata')).toContain(
      '- notes: Take meeting notes. Use for minutes.',
    );
    expect(await callText(client, 'load_skill', { skill_name: 'notes' })).toContain('Write the minutes.');
    expect(await callError(client, 'load_skill', { skill_name: 'note' })).toContain('Did you mean: notes?');
    expect(logs.join('')).toContain('serving skills over stdio');
  });

  it('tells the client when a skill folder appears, and serves it on the next call', async () => {
    const changed = deferred();
    client.setNotificationHandler('notifications/resources/list_changed', () => changed.resolve());
    writeSkill('agenda', 'agenda', 'Draft agendas. Use before meetings.', '# Agenda\n');
    await changed.promise;
    expect(await callText(client, 'load_skill_metadata')).toContain('- agenda: Draft agendas.');
  });

  it('stops notifying and answering once closed', async () => {
    await session.close();
    const library = session.library;
    expect(library.events.listenerCount('change')).toBe(0);
    await expect(client.listTools()).rejects.toThrow();
  });
});
