/** Shared set-up for the MCP tests: users, tokens and skills on a real test server. */
import type { Client } from '@modelcontextprotocol/client';
import { expect } from 'vitest';
import { createApiToken, registerUser, type Api } from '../helpers/api.js';
import { skillZip, yazlZip, type YazlEntry } from '../helpers/zips.js';

export interface McpUser {
  /** Console session (REST API). */
  api: Api;
  user: { id: string; username: string };
  /** An API token with the `mcp` scope. */
  token: string;
}

export async function mcpUser(anon: Api, name: string, scopes: string[] = ['mcp']): Promise<McpUser> {
  const { api, user } = await registerUser(anon, name);
  return { api, user, token: await createApiToken(api, scopes, `${name}-token`) };
}

/** Uploads a skill zip as a new skill (201 expected). */
export async function upload(api: Api, zip: Buffer): Promise<any> {
  const res = await api.post('/api/v1/skills', zip);
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.text}`);
  return res.body;
}

export async function uploadSkill(
  api: Api,
  name: string,
  description?: string,
  extra: YazlEntry[] = [],
  body?: string,
): Promise<any> {
  return upload(api, await skillZip(name, description, extra, body));
}

export async function addVersion(api: Api, name: string, entries: YazlEntry[]): Promise<any> {
  const res = await api.post(`/api/v1/skills/${name}/versions`, await yazlZip(entries));
  if (res.status !== 201) throw new Error(`version failed: ${res.status} ${res.text}`);
  return res.body;
}

export async function patchSkill(api: Api, name: string, patch: Record<string, boolean>): Promise<void> {
  const res = await api.patch(`/api/v1/skills/${name}`, patch);
  if (res.status !== 200) throw new Error(`patch failed: ${res.status} ${res.text}`);
}

/** Calls a tool and returns the whole result. */
export const call = (client: Client, name: string, args: Record<string, unknown> = {}) =>
  client.callTool({ name, arguments: args }) as Promise<any>;

/** The text of a successful tool call (fails the test on an error result). */
export async function callText(client: Client, name: string, args: Record<string, unknown> = {}) {
  const r = await call(client, name, args);
  expect(r.isError, JSON.stringify(r)).toBeFalsy();
  expect(r.content[0].type).toBe('text');
  return r.content[0].text as string;
}

/** The text of a tool call that must fail with `isError: true`. */
export async function callError(client: Client, name: string, args: Record<string, unknown> = {}) {
  const r = await call(client, name, args);
  expect(r.isError, JSON.stringify(r)).toBe(true);
  return r.content[0].text as string;
}

/** A promise with its resolver, for awaiting one event without sleeping. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Bytes that are not UTF-8 (NUL and 0xFF), for binary files. */
export function binaryBytes(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x & 0xff;
  }
  b[0] = 0x89;
  b[1] = 0;
  b[2] = 0xff;
  return b;
}
