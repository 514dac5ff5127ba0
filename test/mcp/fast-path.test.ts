/**
 * Issue 11, item 2: a plain authenticated `POST /mcp` is served in front of the app's routing (`McpHttp.direct`).
 * Its answers must be those of the app: the same security headers, request id, access-log line and error
 * answers; and whatever the fast path does not take (browsers, bad credentials, unusual bodies) still gets the
 * app's full treatment (CORS, challenges, limits).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { mcpUser, uploadSkill, type McpUser } from './fixtures.js';

const ALLOWED_ORIGIN = 'https://console.example.com';
const METRICS_TOKEN = 'fast-path-metrics-token-0123456789';
const MODERN = '2026-07-28';

let t: TestServer;
let alice: McpUser;

beforeAll(async () => {
  t = await startTestServer({ CORS_ORIGINS: ALLOWED_ORIGIN, METRICS_TOKEN });
  alice = await mcpUser(new Api(t.baseUrl), 'fastalice');
  await uploadSkill(alice.api, 'fast-skill', 'A skill for the fast path.');
}, 60_000);
afterAll(() => t?.close());

/** A 2025-era `tools/call` of load_skill, as the SDK client sends it (no session: stateless). */
const loadSkill = (id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'load_skill', arguments: { skill_name: 'fast-skill' } },
});

const post = (body: string | object, headers: Record<string, string> = {}) =>
  fetch(`${t.baseUrl}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${alice.token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** The JSON-RPC message of an answer, JSON or a one-event SSE stream. */
async function message(res: Response): Promise<any> {
  const text = await res.text();
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) return JSON.parse(text);
  const data = text.split('\n').find((l) => l.startsWith('data: '));
  return JSON.parse(data!.slice('data: '.length));
}

/**
 * The headers an answer of the app carries whatever the route: the security headers. (Per-answer ones are set
 * aside, and CORS ones, which only a browser's request, never served by the fast path, needs.)
 */
const PER_ANSWER = [
  'date',
  'content-length',
  'content-type',
  'x-request-id',
  'connection',
  'keep-alive',
  'vary',
];
const appHeaders = (res: Response) =>
  Object.fromEntries(
    [...res.headers].filter(([name]) => !PER_ANSWER.includes(name) && !name.startsWith('access-control-')),
  );

describe('the /mcp fast path', () => {
  it('answers a tool call with the same security headers as any other route, and echoes the request id', async () => {
    const res = await post(loadSkill(), { 'x-request-id': 'fast-path-req-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('fast-path-req-1');
    const answer = await message(res);
    expect(answer.result.content[0].text).toContain('A skill for the fast path.');
    const health = await fetch(`${t.baseUrl}/health`);
    const expected = appHeaders(health);
    expect(Object.keys(expected).length).toBeGreaterThanOrEqual(10);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(Object.fromEntries([...res.headers])).toMatchObject(expected);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
  });

  it('writes one access line per call, once its streamed answer is complete, with the user and the tool', async () => {
    const before = t.logs.length;
    const res = await post(loadSkill(2), { 'x-request-id': 'fast-path-req-2' });
    await res.text();
    const lines = t.logs
      .slice(before)
      .map((l) => JSON.parse(l))
      .filter((l) => l.req_id === 'fast-path-req-2' && l.level >= 30);
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'request',
        method: 'POST',
        route: '/mcp',
        status: 200,
        user: alice.user.id,
        tool: 'load_skill',
        outcome: 'ok',
      }),
    ]);
  });

  it('counts its requests in the HTTP metrics under the /mcp route', async () => {
    const served = async () => {
      const text = await (
        await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
      ).text();
      const line = text
        .split('\n')
        .find((l) => l.startsWith('skillport_http_requests_total{method="POST",route="/mcp",status="200"}'));
      return Number(line?.split(' ').pop() ?? 0);
    };
    const before = await served();
    for (const id of [10, 11, 12]) await (await post(loadSkill(id))).text();
    expect(await served()).toBe(before + 3);
  });

  it('answers a body that is not JSON with the protocol parse error, not a 500', async () => {
    const res = await post('{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(res.status).toBe(400);
    const answer = await res.json();
    expect(answer.error.code).toBe(-32700);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('leaves a browser request to the app: CORS headers for an allowed origin, 403 for another', async () => {
    const allowed = await post(loadSkill(3), { origin: ALLOWED_ORIGIN });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect((await message(allowed)).result.content[0].text).toContain('fast-skill');
    const evil = await post(loadSkill(4), { origin: 'https://evil.example.com' });
    expect(evil.status).toBe(403);
    expect((await evil.json()).error.code).toBe('forbidden_origin');
  });

  it('leaves a bad credential to the app: 401 with the resource metadata challenge', async () => {
    const res = await post(loadSkill(5), { authorization: 'Bearer ask_live_' + '0'.repeat(64) });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('resource_metadata=');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('refuses a Host it does not serve (DNS rebinding) on the fast path too', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const body = JSON.stringify(loadSkill(6));
      const req = request(
        `${t.baseUrl}/mcp`,
        {
          method: 'POST',
          headers: {
            host: 'evil.example.com',
            authorization: `Bearer ${alice.token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(403);
  });

  it('serves the 2026-07-28 era through the fast path as well', async () => {
    const res = await post(
      {
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: {
          name: 'load_skill',
          arguments: { skill_name: 'fast-skill' },
          _meta: {
            'io.modelcontextprotocol/protocolVersion': MODERN,
            'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      },
      { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'load_skill' },
    );
    const answer = await message(res);
    expect(res.status, JSON.stringify(answer)).toBe(200);
    expect(answer.result.content[0].text).toContain('A skill for the fast path.');
  });
});
