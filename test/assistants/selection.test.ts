import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { assistantPrincipal, selectTools } from '../../src/assistants/index.js';
import { defineTool, textResult, type Tool, type ToolPermission } from '../../src/tools/index.js';
import type { Principal } from '../../src/shared/principal.js';

const tool = (name: string, permission: ToolPermission): Tool =>
  defineTool({
    name,
    title: name,
    description: name,
    inputSchema: z.object({}),
    annotations: {},
    permission,
    call: async () => textResult(name),
  });

// Upstream tools have whatever permission the connector gives them; selection goes by name for those.
const TOOLS = [
  tool('load_skill_metadata', 'skills.read'),
  tool('load_skill', 'skills.read'),
  tool('run_shell_command', 'skills.run'),
  tool('github__create_issue', 'upstream.call' as ToolPermission),
  tool('github__search', 'upstream.call' as ToolPermission),
  tool('memory__store', 'upstream.call' as ToolPermission),
];
const base = { ownerId: 'owner', allSkills: true, skillNames: [], runScripts: false, upstreamTools: [] };
const names = (tools: Tool[]) => tools.map((t) => t.name);

describe("an assistant's tools", () => {
  it('selects skill tools, run_shell_command and upstream tools by server or by name', () => {
    expect(names(selectTools(base, TOOLS))).toEqual(['load_skill_metadata', 'load_skill']);
    expect(names(selectTools({ ...base, runScripts: true }, TOOLS))).toContain('run_shell_command');
    expect(names(selectTools({ ...base, allSkills: false, runScripts: true }, TOOLS))).toEqual([]);
    expect(names(selectTools({ ...base, allSkills: false, upstreamTools: ['github'] }, TOOLS))).toEqual([
      'github__create_issue',
      'github__search',
    ]);
    expect(
      names(selectTools({ ...base, allSkills: false, upstreamTools: ['memory__store', 'git'] }, TOOLS)),
    ).toEqual(['memory__store']);
  });

  it("act as the owner, within the assistant's skills and the key's restriction, never as admin", () => {
    const caller: Principal = {
      userId: 'caller',
      isAdmin: true,
      via: 'api_token',
      tokenId: 'k1',
      scopes: ['assistants'],
      restriction: { skills: ['pdf', 'docx'] },
    };
    expect(assistantPrincipal(caller, { ...base, allSkills: false, skillNames: ['pdf', 'xlsx'] })).toEqual({
      userId: 'owner',
      isAdmin: false,
      via: 'api_token',
      tokenId: 'k1',
      scopes: ['assistants'],
      restriction: { skills: ['pdf'] },
    });
    expect(assistantPrincipal(caller, base).restriction).toEqual({ skills: ['pdf', 'docx'] });
    const unrestricted = { ...caller, restriction: undefined };
    expect(assistantPrincipal(unrestricted, base)).not.toHaveProperty('restriction');
  });
});
