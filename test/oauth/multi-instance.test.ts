/**
 * OAuth across two instances of one deployment (one database, one Redis, one PUBLIC_URL): what one instance
 * issues, the other honours, and a disconnection or a disabled user on one is refused by the other at once —
 * sooner than the 5-second credential cache could expire, so it is the event that does it.
 */
import { waitUntil } from '../helpers/until.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { startTwoInstances, type TestServer } from '../helpers/server.js';
import { authorize, exchangeCode, mcpInitialize, pkcePair, registerClient, tokenRequest } from './flow.js';

const PUBLIC_URL = 'http://skillport.test';
let a: TestServer;
let b: TestServer;

let deployment: Awaited<ReturnType<typeof startTwoInstances>>;

beforeAll(async () => {
  deployment = await startTwoInstances({ PUBLIC_URL, COMMANDS_ENABLED: 'false' });
  ({ a, b } = deployment);
});
afterAll(() => deployment?.close());

const mcpStatus = async (server: TestServer, token: string) =>
  (await mcpInitialize(`${server.baseUrl}/mcp`, token)).status;

/** Registers on A, authorizes on A, exchanges the code on B; returns B's tokens. */
async function connect(user: Awaited<ReturnType<typeof registerUser>>) {
  const clientId = await registerClient(a.baseUrl);
  const { verifier, challenge } = pkcePair();
  const { location } = await authorize(a.baseUrl, user.api, { clientId, challenge, publicUrl: PUBLIC_URL });
  const tokens = await exchangeCode(b.baseUrl, location, verifier, clientId);
  expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
  return {
    clientId,
    access_token: String(tokens.body.access_token),
    refresh_token: String(tokens.body.refresh_token),
  };
}

it('issues on one instance, works on the other, and a disconnection reaches the other at once', async () => {
  const admin = await registerUser(new Api(a.baseUrl), 'oauthmultiadmin');
  const user = await registerUser(new Api(a.baseUrl), 'oauthmultiuser');
  const first = await connect(user);
  expect(await mcpStatus(a, first.access_token)).toBe(200);
  expect(await mcpStatus(b, first.access_token)).toBe(200); // B has now cached it
  const refreshed = await tokenRequest(a.baseUrl, {
    grant_type: 'refresh_token',
    refresh_token: first.refresh_token,
    client_id: first.clientId,
  });
  expect(refreshed.status).toBe(200);
  expect(await mcpStatus(b, refreshed.body.access_token)).toBe(200);

  const [connection] = (await user.api.get('/api/v1/oauth/connections')).body.data;
  expect((await user.api.delete(`/api/v1/oauth/connections/${connection.id}`)).status).toBe(204);
  await waitUntil(async () => (await mcpStatus(b, refreshed.body.access_token)) === 401);

  const second = await connect(user);
  expect(await mcpStatus(b, second.access_token)).toBe(200);
  expect((await admin.api.patch(`/api/v1/users/${user.user.id}`, { disabled: true })).status).toBe(200);
  await waitUntil(async () => (await mcpStatus(b, second.access_token)) === 401);
});
