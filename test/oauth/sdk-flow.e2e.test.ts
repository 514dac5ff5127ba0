/**
 * The whole MCP authorization flow as a real client runs it: the official MCP SDK client's OAuth support
 * (`OAuthClientProvider`) discovers the authorization server from a bare 401, registers (by Client ID Metadata
 * Document, or dynamically), sends the user to authorize; headless Chromium is sent through the console's login
 * and approves on the consent page (limiting the client to one skill); the SDK exchanges the code, lists and calls
 * tools, refreshes when its access token has expired, and is shut out when the user disconnects it on the
 * Tokens page. Both protocol eras (2025-11-25 stateless, 2026-07-28).
 */
import {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { eq } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../src/db/index.js';
import { recordKey } from '../../src/oauth/adapter.js';
import { guardedFetch } from '../../src/oauth/ssrf.js';
import { registerUser, type Api } from '../helpers/api.js';
import { callText, uploadSkill } from '../mcp/fixtures.js';
import { axeSerious, heading, shoot, useConsoleBrowser, visible } from '../web/browser.js';

/** Where the client's "website" publishes its metadata document (served by the stand-in fetch below). */
const CLIENT_DOCUMENT_URL = 'https://mcp-client.example.test/oauth/client.json';
const REDIRECT_URL = 'http://127.0.0.1:53999/oauth/callback';

const clientMetadata: OAuthClientMetadata = {
  client_name: 'SDK Test Client',
  redirect_uris: [REDIRECT_URL],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

/**
 * The public internet as the server sees it: the client's metadata document at its https URL, and every other
 * URL through the real guarded fetch.
 */
const oauthFetch: typeof fetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  if (url === CLIENT_DOCUMENT_URL) {
    return Response.json({ client_id: CLIENT_DOCUMENT_URL, ...clientMetadata, application_type: 'native' });
  }
  return guardedFetch(input, init);
};

/** An MCP client's OAuth state, kept in memory (what a desktop client keeps in its config or keychain). */
class MemoryOAuthClient implements OAuthClientProvider {
  info?: StoredOAuthClientInformation;
  saved?: StoredOAuthTokens;
  verifier = '';
  discovery?: OAuthDiscoveryState;
  authorizationUrl?: URL;
  readonly redirectUrl = REDIRECT_URL;
  readonly clientMetadata = clientMetadata;
  constructor(readonly clientMetadataUrl?: string) {}
  clientInformation = () => this.info;
  saveClientInformation = (info: StoredOAuthClientInformation) => void (this.info = info);
  tokens = () => this.saved;
  saveTokens = (tokens: StoredOAuthTokens) => void (this.saved = tokens);
  redirectToAuthorization = (url: URL) => void (this.authorizationUrl = url);
  saveCodeVerifier = (v: string) => void (this.verifier = v);
  codeVerifier = () => this.verifier;
  saveDiscoveryState = (s: OAuthDiscoveryState) => void (this.discovery = s);
  discoveryState = () => this.discovery;
  invalidateCredentials = (scope: string) => {
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'client') this.info = undefined;
  };
}

const h = useConsoleBrowser({ COMMANDS_ENABLED: 'false' }, { context: { oauthFetch } });
let login: { username: string; password: string };
let aliceId: string;
let aliceApi: Api;

beforeAll(async () => {
  const alice = await registerUser(h.api, 'sdkalice');
  login = { username: alice.user.username, password: alice.password };
  aliceId = alice.user.id;
  aliceApi = alice.api;
  await uploadSkill(alice.api, 'alpha', 'The skill the client may use');
  await uploadSkill(alice.api, 'beta', 'A skill the client was not given');
});

/** Moves an access token's expiry into the past (as an hour passing would) and drops cached credentials. */
async function expireAccessToken(token: string) {
  const { ctx } = h.server.server;
  await ctx.db.db
    .update(tables.oauthRecords)
    .set({ expiresAt: new Date(Date.now() - 1000) })
    .where(eq(tables.oauthRecords.key, recordKey('AccessToken', token)));
  ctx.apiTokens.events.emit('credentials-changed', { userId: aliceId });
}

/**
 * Opens the authorization URL in a browser that is not logged in: the console asks to log in first and then
 * shows the consent page, where the user allows only `alpha`. Returns the client's callback URL.
 */
async function approveInBrowser(page: Page, authorizationUrl: URL, clientName: string): Promise<URL> {
  const callback = new Promise<URL>((resolve) => {
    void page.route('http://127.0.0.1:53999/**', async (route) => {
      resolve(new URL(route.request().url()));
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'You can close this window.' });
    });
  });
  await page.goto(authorizationUrl.href);
  await visible(heading(page, 'Log in'));
  await page.getByLabel('Email or username').fill(login.username);
  await page.getByLabel('Password', { exact: true }).fill(login.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await visible(heading(page, `${clientName} wants to use your skills`));
  await visible(page.getByText(authorizationUrl.searchParams.get('client_id')!, { exact: true }));
  expect(await axeSerious(page)).toEqual([]);
  await page.getByLabel('Only these skills').check();
  await page.getByLabel('alpha').check();
  await shoot(page, 'oauth-consent');
  await page.getByRole('button', { name: 'Allow' }).click();
  return callback;
}

async function disconnectInBrowser(page: Page, clientName: string) {
  await page.goto('/tokens');
  await visible(page.getByRole('button', { name: `Disconnect ${clientName}` }));
  await shoot(page, 'oauth-connected-apps');
  await page.getByRole('button', { name: `Disconnect ${clientName}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Disconnect' }).click();
  await visible(page.getByText('No connected applications'));
}

const cases = [
  { era: '2026-07-28', registration: 'metadata document' },
  { era: '2025-11-25', registration: 'dynamic registration' },
] as const;

describe.each(cases)('MCP SDK client, $era era, $registration', ({ era, registration }) => {
  it('discovers, registers, authorizes in the browser, calls tools, refreshes and is disconnected', async () => {
    const mcpUrl = new URL(`${h.server.baseUrl}/mcp`);
    const oauth = new MemoryOAuthClient(
      registration === 'metadata document' ? CLIENT_DOCUMENT_URL : undefined,
    );
    const options = era === '2026-07-28' ? { versionNegotiation: { mode: { pin: era } } } : {};
    const connect = async () => {
      const client = new Client({ name: 'sdk-test', version: '1.0.0' }, options);
      await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: oauth }));
      return client;
    };

    // Discovery from a bare 401, then registration, then the redirect to authorize.
    await expect(connect()).rejects.toBeInstanceOf(UnauthorizedError);
    expect(oauth.discovery?.resourceMetadata?.resource).toBe(mcpUrl.href);
    expect(oauth.authorizationUrl?.origin).toBe(h.server.baseUrl);
    if (registration === 'metadata document') expect(oauth.info?.client_id).toBe(CLIENT_DOCUMENT_URL);
    else expect(oauth.info?.client_id).toMatch(/^[\w-]{20,}$/);

    const page = await h.freshPage();
    const callback = await approveInBrowser(page, oauth.authorizationUrl!, clientMetadata.client_name!);
    expect(callback.searchParams.get('error')).toBeNull();
    await new StreamableHTTPClientTransport(mcpUrl, { authProvider: oauth }).finishAuth(
      callback.searchParams,
    );
    expect(oauth.saved?.access_token).toBeTruthy();
    expect(oauth.saved?.refresh_token).toBeTruthy();

    const client = await connect();
    if (era === '2026-07-28') expect(client.getNegotiatedProtocolVersion()).toBe(era);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('load_skill_metadata');
    const catalog = await callText(client, 'load_skill_metadata');
    expect(catalog).toContain('alpha');
    expect(catalog).not.toContain('beta'); // the consent page limited the client to alpha

    // Time passes beyond the access token's life: the SDK gets a 401, refreshes (rotation) and carries on.
    const first = oauth.saved!;
    await expireAccessToken(first.access_token);
    expect(await callText(client, 'load_skill_metadata')).toContain('alpha');
    expect(oauth.saved!.access_token).not.toBe(first.access_token);
    expect(oauth.saved!.refresh_token).not.toBe(first.refresh_token);

    // The user disconnects the client on the Tokens page: its next request is refused at once.
    await disconnectInBrowser(page, clientMetadata.client_name!);
    await expect(client.callTool({ name: 'load_skill_metadata', arguments: {} })).rejects.toThrow();
    const res = await fetch(mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${oauth.saved!.access_token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    await client.close();
  });
});

describe('MCP SDK v1 client (2025 era)', () => {
  it('completes the same flow with the v1 SDK auth support', async () => {
    const mcpUrl = new URL(`${h.server.baseUrl}/mcp`);
    const oauth = new MemoryOAuthClient();
    const connect = async () => {
      const client = new V1Client({ name: 'sdk-v1-test', version: '1.0.0' });
      await client.connect(new V1Transport(mcpUrl, { authProvider: oauth as never }));
      return client;
    };
    await expect(connect()).rejects.toThrow(/Unauthorized/i);
    const page = await h.freshPage();
    const callback = await approveInBrowser(page, oauth.authorizationUrl!, clientMetadata.client_name!);
    await new V1Transport(mcpUrl, { authProvider: oauth as never }).finishAuth(
      callback.searchParams.get('code')!,
    );
    const client = await connect();
    const catalog = await callText(client as never, 'load_skill_metadata');
    expect(catalog).toContain('alpha');
    expect(catalog).not.toContain('beta');
    await client.close();
  });
});

describe('admin settings for OAuth clients', () => {
  it('turns dynamic registration off and limits clients from the Admin page', async () => {
    const page = await h.freshPage();
    await h.logIn(page, login.username, login.password); // the first user: the admin
    await page.goto('/admin');
    const registration = page.getByRole('switch', { name: 'Let clients register themselves' });
    await visible(registration);
    await registration.click();
    await visible(page.getByText('Client registration is off'));
    const register = () =>
      fetch(`${h.server.baseUrl}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URL], token_endpoint_auth_method: 'none' }),
      });
    expect((await register()).status).toBe(403);
    await registration.click();
    await visible(page.getByText('Clients may register themselves'));
    expect((await register()).status).toBe(201);

    await page.getByLabel('Allowed clients').fill(CLIENT_DOCUMENT_URL);
    await page.getByRole('button', { name: 'Save allowed clients' }).click();
    await visible(page.getByText('Only 1 client(s) may ask for access'));
    const settings = await aliceApi.get('/api/v1/admin/settings');
    expect(settings.body.oauth_allowed_clients).toEqual([CLIENT_DOCUMENT_URL]);
    await page.getByLabel('Allowed clients').fill('');
    await page.getByRole('button', { name: 'Save allowed clients' }).click();
    await visible(page.getByText('Any client may ask for access'));
  });
});
