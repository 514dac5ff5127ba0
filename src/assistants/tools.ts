import type { Principal } from '../shared/principal.js';
import type { Tool } from '../tools/index.js';

/** What of an assistant decides its tools. */
export interface AssistantToolChoice {
  ownerId: string;
  allSkills: boolean;
  skillNames: readonly string[];
  runScripts: boolean;
  upstreamTools: readonly string[];
}

/**
 * Who the assistant's tools act as: its owner (a shared assistant brings its owner's selected skills to every
 * caller; that is what sharing it means), through the caller's credential, limited to the assistant's skills and
 * never beyond the calling key's own skill restriction. No admin powers, whoever calls.
 */
export function assistantPrincipal(caller: Principal, a: AssistantToolChoice): Principal {
  const callerSkills = caller.restriction?.skills;
  let skills: readonly string[] | undefined;
  if (!a.allSkills)
    skills = callerSkills ? a.skillNames.filter((s) => callerSkills.includes(s)) : a.skillNames;
  else skills = callerSkills;
  return {
    userId: a.ownerId,
    isAdmin: false,
    via: caller.via,
    ...(caller.tokenId ? { tokenId: caller.tokenId } : {}),
    scopes: ['assistants'],
    ...(skills ? { restriction: { skills } } : {}),
  };
}

/**
 * The assistant's selection from its principal's tools, by what a tool is rather than where it comes from: the
 * skill tools (`skills.read`) when it has skills, `run_shell_command` (`skills.run`) when it may run scripts,
 * and any other tool named in `upstream_tools`, either exactly (`server__tool`) or by its server (`server`).
 */
export function selectTools(a: AssistantToolChoice, tools: readonly Tool[]): Tool[] {
  const hasSkills = a.allSkills || a.skillNames.length > 0;
  const named = (name: string) =>
    a.upstreamTools.some((entry) => name === entry || name.startsWith(`${entry}__`));
  return tools.filter((tool) => {
    if (tool.permission === 'skills.read') return hasSkills;
    if (tool.permission === 'skills.run') return hasSkills && a.runScripts;
    return named(tool.name);
  });
}
