/**
 * The progressive-disclosure tools over every HTTP transport: `/mcp` pinned to 2026-07-28, `/mcp` in the 2025
 * stateless era, and the legacy `/sse` + `/messages` pair, with the official SDK client.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { connectMcp, type McpTransportKind } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  addVersion,
  binaryBytes,
  call,
  callError,
  callText,
  mcpUser,
  patchSkill,
  uploadSkill,
  type McpUser,
} from './fixtures.js';

let t: TestServer;
let alice: McpUser;
let bob: McpUser;
const png = binaryBytes(3000);
const bigText = 'x'.repeat(600 * 1024);
const bigBlob = Buffer.alloc(5 * 1024 * 1024 + 10); // zeros: binary, and tiny once zipped

beforeAll(async () => {
  t = await startTestServer();
  const anon = new Api(t.baseUrl);
  const admin = await mcpUser(anon, 'tooladmin'); // first user: administrator
  alice = await mcpUser(anon, 'toolalice');
  bob = await mcpUser(anon, 'toolbob');

  // Shared skills published by the administrator.
  await uploadSkill(admin.api, 'house-style', 'The house style guide for every document.');
  await uploadSkill(admin.api, 'shadowed', 'SHARED version of shadowed, must lose to the own one.');
  await uploadSkill(admin.api, 'hidden-shared', 'A shared skill alice hides.');
  await uploadSkill(admin.api, 'disabled-shared', 'A shared skill its owner disabled.');
  for (const n of ['house-style', 'shadowed', 'hidden-shared', 'disabled-shared'])
    await patchSkill(admin.api, n, { shared: true });
  await patchSkill(admin.api, 'disabled-shared', { enabled: false });
  await patchSkill(alice.api, 'hidden-shared', { hidden: true });

  // Alice's own skills.
  await uploadSkill(
    alice.api,
    'pdf-tools',
    'Extract text and tables from PDF documents. Use for any PDF task.',
    [
      { path: 'scripts/extract.py', data: 'print("extract")\n', mode: 0o100755 },
      { path: 'references/forms.md', data: '# Forms\n\nHow to fill PDF forms.\n' },
      { path: 'references/api notes.md', data: 'Notes with a space in the name.\n' },
      { path: 'assets/logo.png', data: png },
      { path: 'data/table.json', data: '{"rows": 3}\n' },
    ],
    '# PDF tools\n\nRun scripts/extract.py on the document. Read references/forms.md for forms.\n',
  );
  await uploadSkill(alice.api, 'shadowed', 'OWN version of shadowed.');
  await uploadSkill(alice.api, 'off-skill', 'A disabled skill of alice.');
  await patchSkill(alice.api, 'off-skill', { enabled: false });
  await uploadSkill(alice.api, 'rolled', 'Rolled description one (old version).');
  await addVersion(alice.api, 'rolled', [
    {
      path: 'rolled/SKILL.md',
      data: '---\nname: rolled\ndescription: Rolled description two (current).\n---\nVersion two body.\n',
    },
  ]);
  await uploadSkill(
    alice.api,
    'many-files',
    'A skill with more files than load_skill lists.',
    Array.from({ length: 205 }, (_, i) => ({
      path: `parts/part-${String(i).padStart(3, '0')}.txt`,
      data: `${i}`,
    })),
  );
  await uploadSkill(alice.api, 'big-files', 'Files over the tool size caps.', [
    { path: 'big.txt', data: bigText },
    { path: 'huge.bin', data: bigBlob },
  ]);
  await uploadSkill(
    alice.api,
    'spreadsheet-helper',
    'Build spreadsheets and charts.',
    [],
    'Mentions pdf once in the body only.\n',
  );

  // Bob has only his own skill, to check nothing of alice's leaks to him.
  await uploadSkill(bob.api, 'bob-private', 'Only bob has this.');
}, 120_000);
afterAll(() => t?.close());

const transports: McpTransportKind[] = ['modern', 'legacy-http', 'sse'];

describe.each(transports)('tools over %s', (kind) => {
  let client: Client;
  let bobClient: Client;
  beforeAll(async () => {
    client = await connectMcp(t.baseUrl, alice.token, kind);
    bobClient = await connectMcp(t.baseUrl, bob.token, kind);
  });
  afterAll(async () => {
    await client?.close();
    await bobClient?.close();
  });

  it('negotiates the expected protocol era', () => {
    const version = client.getNegotiatedProtocolVersion();
    if (kind === 'modern') expect(version).toBe('2026-07-28');
    else expect(version).not.toBe('2026-07-28');
  });

  it('lists the skill tools with model-oriented descriptions', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((x) => x.name);
    expect(names).toEqual(
      expect.arrayContaining(['load_skill', 'load_skill_metadata', 'read_reference_file', 'search_skills']),
    );
    // The only other tools are the sandbox room's and the search meta-tool.
    expect(
      names.filter((n) => !/^(load_skill|load_skill_metadata|read_reference_file|search_skills)$/.test(n)),
    ).toEqual([...(names.includes('run_shell_command') ? ['run_shell_command'] : []), 'search_tools']);
    const byName = Object.fromEntries(tools.map((x) => [x.name, x]));
    expect(byName.load_skill_metadata!.description).toMatch(/first/i);
    expect(byName.load_skill!.inputSchema.required).toEqual(['skill_name']);
    expect(byName.read_reference_file!.inputSchema.required).toEqual(['skill_name', 'file_name']);
    expect(byName.search_skills!.inputSchema.required).toEqual(['query']);
  });

  it('load_skill_metadata: own and shared, own wins, no disabled, hidden or old versions', async () => {
    const text = await callText(client, 'load_skill_metadata');
    const [header, ...lines] = text.split('\n');
    expect(header).toMatch(/^Available skills \(\d+\)/);
    const names = lines.map((l) => /^- ([^:]+):/.exec(l)![1]);
    expect(names).toEqual([
      'big-files',
      'house-style',
      'many-files',
      'pdf-tools',
      'rolled',
      'shadowed',
      'spreadsheet-helper',
    ]);
    expect(header).toBe('Available skills (7). Call load_skill(skill_name) before using one:');
    expect(text).toContain('- pdf-tools: Extract text and tables from PDF documents. Use for any PDF task.');
    expect(text).toContain('- shadowed: OWN version of shadowed.');
    expect(text).not.toContain('SHARED version');
    expect(text).toContain('- rolled: Rolled description two (current).');
    expect(text).not.toContain('description one');
    for (const absent of ['off-skill', 'hidden-shared', 'disabled-shared', 'bob-private'])
      expect(text).not.toContain(absent);
  });

  it('load_skill_metadata: another user sees only their own and the shared skills', async () => {
    const text = await callText(bobClient, 'load_skill_metadata');
    expect(text).toContain('- bob-private: Only bob has this.');
    expect(text).toContain('- shadowed: SHARED version of shadowed');
    expect(text).toContain('- hidden-shared:');
    expect(text).not.toContain('pdf-tools');
    expect(text).not.toContain('OWN version');
  });

  it('load_skill: SKILL.md followed by the other files with sizes', async () => {
    const text = await callText(client, 'load_skill', { skill_name: 'pdf-tools' });
    expect(text.startsWith('---\nname: pdf-tools\n')).toBe(true);
    expect(text).toContain('Run scripts/extract.py on the document.');
    expect(text).toContain('Files in skill "pdf-tools"');
    expect(text).toContain(`- assets/logo.png (${(png.length / 1024).toFixed(1)} KB)`);
    expect(text).toContain('- scripts/extract.py (17 B, executable)');
    expect(text).toContain('- references/forms.md (');
    expect(text).toContain('- data/table.json (12 B)');
    expect(text).not.toMatch(/^- SKILL\.md/m);
  });

  it('load_skill: the file list is capped', async () => {
    const text = await callText(client, 'load_skill', { skill_name: 'many-files' });
    expect(text.match(/^- parts\//gm)).toHaveLength(200);
    expect(text).toContain('- parts/part-199.txt');
    expect(text).not.toContain('part-200');
    expect(text).toContain('… and 5 more files');
  });

  it('load_skill: current version, shared skills, and errors naming the closest skills', async () => {
    expect(await callText(client, 'load_skill', { skill_name: 'rolled' })).toContain('Version two body.');
    expect(await callText(client, 'load_skill', { skill_name: 'house-style' })).toContain('# house-style');
    expect(await callText(client, 'load_skill', { skill_name: 'shadowed' })).toContain('OWN version');

    const typo = await callError(client, 'load_skill', { skill_name: 'pdf-tool' });
    expect(typo).toBe('No skill named "pdf-tool". Did you mean: pdf-tools?');
    const none = await callError(client, 'load_skill', { skill_name: 'zzzzzzzzzzzzzz' });
    expect(none).toContain('Call load_skill_metadata');
    for (const hidden of ['off-skill', 'hidden-shared', 'disabled-shared', 'bob-private'])
      expect(await callError(client, 'load_skill', { skill_name: hidden })).toContain(
        `No skill named "${hidden}"`,
      );
  });

  it('read_reference_file: text, with a ./ prefix and encoded names', async () => {
    expect(
      await callText(client, 'read_reference_file', {
        skill_name: 'pdf-tools',
        file_name: 'references/forms.md',
      }),
    ).toBe('# Forms\n\nHow to fill PDF forms.\n');
    expect(
      await callText(client, 'read_reference_file', {
        skill_name: 'pdf-tools',
        file_name: './scripts/extract.py',
      }),
    ).toBe('print("extract")\n');
    expect(
      await callText(client, 'read_reference_file', {
        skill_name: 'pdf-tools',
        file_name: 'references/api notes.md',
      }),
    ).toBe('Notes with a space in the name.\n');
    expect(
      await callText(client, 'read_reference_file', {
        skill_name: 'pdf-tools',
        file_name: 'data/table.json',
      }),
    ).toBe('{"rows": 3}\n');
  });

  it('read_reference_file: a binary file is an embedded resource blob', async () => {
    const r = await call(client, 'read_reference_file', {
      skill_name: 'pdf-tools',
      file_name: 'assets/logo.png',
    });
    expect(r.isError).toBeFalsy();
    expect(r.content).toHaveLength(1);
    const block = r.content[0];
    expect(block.type).toBe('resource');
    expect(block.resource.uri).toBe('skill://pdf-tools/assets/logo.png');
    expect(block.resource.mimeType).toBe('image/png');
    expect(Buffer.from(block.resource.blob, 'base64').equals(png)).toBe(true);
  });

  it('read_reference_file: refuses paths outside the skill and suggests close names', async () => {
    for (const bad of ['../pdf-tools/SKILL.md', 'references/../../x', '/etc/passwd', '..'])
      expect(
        await callError(client, 'read_reference_file', { skill_name: 'pdf-tools', file_name: bad }),
      ).toContain('is not a path inside the skill');
    const near = await callError(client, 'read_reference_file', {
      skill_name: 'pdf-tools',
      file_name: 'references/form.md',
    });
    expect(near).toMatch(
      /^Skill "pdf-tools" has no file "references\/form\.md"\. Did you mean: references\/forms\.md[,?]/,
    );
    const unknownSkill = await callError(client, 'read_reference_file', {
      skill_name: 'pdf-toolz',
      file_name: 'SKILL.md',
    });
    expect(unknownSkill).toContain('Did you mean: pdf-tools?');
    expect(
      await callError(client, 'read_reference_file', { skill_name: 'off-skill', file_name: 'SKILL.md' }),
    ).toContain('No skill named "off-skill"');
  });

  it('read_reference_file: size caps for text and binary files', async () => {
    const text = await callText(client, 'read_reference_file', {
      skill_name: 'big-files',
      file_name: 'big.txt',
    });
    expect(text.startsWith('x'.repeat(1000))).toBe(true);
    expect(text).toContain('[truncated: the file has 600.0 KB; only the first 512.0 KB are shown]');
    expect(text.length).toBeLessThan(bigText.length);
    const blob = await callError(client, 'read_reference_file', {
      skill_name: 'big-files',
      file_name: 'huge.bin',
    });
    expect(blob).toContain('over the 5.0 MB limit');
  });

  it('search_skills: ranked matches with scores, and a limit', async () => {
    const text = await callText(client, 'search_skills', { query: 'pdf' });
    const names = text
      .split('\n')
      .slice(1)
      .map((l) => /^- (\S+) \(score ([\d.]+)\)/.exec(l)!);
    expect(names.map((m) => m[1])).toEqual(['pdf-tools', 'spreadsheet-helper']);
    expect(Number(names[0]![2])).toBeGreaterThan(Number(names[1]![2]));
    const limited = await callText(client, 'search_skills', { query: 'pdf', limit: 1 });
    expect(limited.split('\n').slice(1)).toHaveLength(1);
    expect(await callText(client, 'search_skills', { query: 'nothingmatchesthis' })).toContain(
      'No skill matches',
    );
    expect(await callText(bobClient, 'search_skills', { query: 'pdf' })).toContain('No skill matches');
  });

  it('invalid arguments are tool errors, not protocol failures', async () => {
    const r = await call(client, 'search_skills', { query: 'pdf', limit: 500 });
    expect(r.isError).toBe(true);
    const missing = await call(client, 'load_skill', {});
    expect(missing.isError).toBe(true);
  });
});

describe('changes show at once (the server caches what the tools read)', () => {
  it('a new version, a disabled skill and a new skill are seen by the very next call', async () => {
    const client = await connectMcp(t.baseUrl, bob.token, 'modern');
    try {
      await uploadSkill(bob.api, 'changing', 'Changing, first description.', [
        { path: 'notes.md', data: 'v1 notes' },
      ]);
      expect(await callText(client, 'load_skill', { skill_name: 'changing' })).toContain('Changing, first');
      expect(
        await callText(client, 'read_reference_file', { skill_name: 'changing', file_name: 'notes.md' }),
      ).toBe('v1 notes');
      expect(await callText(client, 'load_skill_metadata')).toContain(
        '- changing: Changing, first description.',
      );

      await addVersion(bob.api, 'changing', [
        { path: 'changing/SKILL.md', data: '---\nname: changing\ndescription: Changing, second.\n---\nV2\n' },
        { path: 'changing/notes.md', data: 'v2 notes' },
      ]);
      expect(await callText(client, 'load_skill', { skill_name: 'changing' })).toContain('V2');
      expect(
        await callText(client, 'read_reference_file', { skill_name: 'changing', file_name: 'notes.md' }),
      ).toBe('v2 notes');
      expect(await callText(client, 'load_skill_metadata')).toContain('- changing: Changing, second.');

      await patchSkill(bob.api, 'changing', { enabled: false });
      expect(await callError(client, 'load_skill', { skill_name: 'changing' })).toContain('No skill named');
      expect(await callText(client, 'load_skill_metadata')).not.toContain('changing');
    } finally {
      await client.close();
    }
  });
});

describe('observability', () => {
  it('logs user, tool, duration and outcome of each call in its one access line, never the arguments', async () => {
    const client = await connectMcp(t.baseUrl, alice.token, 'modern');
    try {
      const before = t.logs.length;
      await callText(client, 'read_reference_file', {
        skill_name: 'pdf-tools',
        file_name: 'references/api notes.md',
      });
      await callError(client, 'load_skill', { skill_name: 'distinctive-zebra-name' });
      const logged = t.logs.slice(before).map((l) => JSON.parse(l));
      // At `info`, a call over /mcp writes one line: the access line, which carries the call.
      expect(logged.filter((l) => l.msg === 'tool call' && l.level >= 30)).toEqual([]);
      const lines = logged.filter((l) => l.msg === 'request' && l.route === '/mcp' && l.tool);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatchObject({ user: alice.user.id, tool: 'read_reference_file', outcome: 'ok' });
      expect(lines[1]).toMatchObject({ user: alice.user.id, tool: 'load_skill', outcome: 'tool_error' });
      for (const l of lines) expect(typeof l.tool_ms).toBe('number');
      const raw = t.logs.slice(before).join('\n');
      expect(raw).not.toContain('api notes');
      expect(raw).not.toContain('distinctive-zebra-name');
    } finally {
      await client.close();
    }
  });

  it('/metrics counts tool calls by tool and outcome', async () => {
    const client = await connectMcp(t.baseUrl, alice.token, 'legacy-http');
    await callText(client, 'load_skill', { skill_name: 'pdf-tools' });
    await client.close();
    const adminToken = await (async () => {
      const anon = new Api(t.baseUrl);
      const res = await anon.post('/api/v1/auth/login', {
        login: 'tooladmin',
        password: 'pw-tooladmin-long-enough',
      });
      return res.body.access_token as string;
    })();
    const metrics = await new Api(t.baseUrl, adminToken).get('/metrics');
    expect(metrics.status).toBe(200);
    const ok = /^skillport_mcp_tool_calls_total\{tool="load_skill",outcome="ok"\} (\d+)$/m.exec(metrics.text);
    expect(ok).not.toBeNull();
    expect(Number(ok![1])).toBeGreaterThanOrEqual(4);
    expect(metrics.text).toMatch(
      /^skillport_mcp_tool_calls_total\{tool="load_skill",outcome="tool_error"\} \d+$/m,
    );
    expect(metrics.text).toMatch(
      /skillport_mcp_tool_call_duration_seconds_count\{tool="search_skills"\} \d+/,
    );
  });
});
