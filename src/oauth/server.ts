import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Database } from '../db/index.js';
import { badRequest, forbidden, notFound } from '../shared/errors.js';
import { constantTimeEqual, randomHex, sha256Hex } from '../shared/crypto.js';
import type { Principal } from '../shared/principal.js';
import type { Logger } from '../observability/index.js';
import type { RateLimiter } from '../shared/rate-limit.js';
import type { SecretBox } from '../shared/secrets.js';
import { DatabaseAdapter, sweepExpiredRecords } from './adapter.js';
import type { OAuthConnections } from './connections.js';
import { authorize } from '../authz/index.js';
import { clientAllowed } from './policy.js';
import type { ProviderDeps } from './provider.js';
import { interactionPath, MCP_SCOPE, mcpResource } from './resource.js';

/**
 * Distinct public origins kept without PUBLIC_URL (each its own issuer). Beyond that the least recently used is
 * dropped (its state is in the database; only its cache of client metadata documents goes), so a flood of
 * made-up Host headers cannot lock the real one out.
 */
const MAX_ISSUERS = 8;
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const REGISTRATIONS_PER_HOUR = 30;
/**
 * The scopes a grant may carry as the library's own (`mcp` is also declared there, so it is listed in the
 * metadata); `mcp` is added for the MCP resource as well.
 */
const OIDC_SCOPES = new Set(['openid', 'offline_access', MCP_SCOPE]);

export interface AuthorizationRequestView {
  client: {
    id: string;
    name: string | null;
    uri: string | null;
    logo_uri: string | null;
    /** How the client identified itself: a metadata document at its URL, or dynamic registration. */
    registration: 'metadata_document' | 'dynamic';
  };
  redirect_uri: string;
  resource: string;
  scopes: string[];
}

interface ConsentTicket {
  ticketHash: string;
  accountId: string;
  approve: boolean;
  restriction: { skills: string[] } | null;
}

export interface OAuthServerDeps extends Omit<ProviderDeps, 'allowedClients'> {
  connections: OAuthConnections;
  logger: Logger;
  /** Counts dynamic registrations per client address (shared by every instance with Redis). */
  rateLimiter: RateLimiter;
  settings: { get(): Promise<{ oauth_dynamic_registration: boolean; oauth_allowed_clients: string[] }> };
}

/**
 * Skillport as the OAuth authorization server for its own users. Holds one oidc-provider per public origin
 * (one, with PUBLIC_URL) and the consent hand-over: the console (authenticated as the user) records a decision
 * and gets a one-time ticket; the browser that started the authorization (it holds the library's interaction
 * cookie) redeems it. Both are needed, so a consent link sent to someone else cannot authorize its sender.
 */
export class OAuthServer {
  private readonly providers = new Map<string, Provider>();
  private readonly tickets: DatabaseAdapter;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly deps: OAuthServerDeps & { db: Database; box: SecretBox }) {
    this.tickets = new DatabaseAdapter('ConsentTicket', deps.db, deps.box);
    this.sweeper = setInterval(
      () => void sweepExpiredRecords(deps.db).catch(() => undefined),
      SWEEP_INTERVAL_MS,
    );
    this.sweeper.unref();
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  async settings() {
    return this.deps.settings.get();
  }

  /**
   * Whether a dynamic registration (RFC 7591) from `ip` may go ahead: the admins allow it, and the address has
   * not registered `REGISTRATIONS_PER_HOUR` clients within the hour (registrations are kept, so they are bounded).
   */
  async admitRegistration(
    ip: string | null,
  ): Promise<{ ok: true } | { ok: false; status: 403 | 429; retryAfter?: number }> {
    if (!(await this.deps.settings.get()).oauth_dynamic_registration) return { ok: false, status: 403 };
    const { allowed, retryAfter } = await this.deps.rateLimiter.consume(
      `oauth-register:${ip ?? 'unknown'}`,
      REGISTRATIONS_PER_HOUR,
      3600,
    );
    return allowed ? { ok: true } : { ok: false, status: 429, retryAfter };
  }

  /**
   * The authorization server of one public origin, built on first use. oidc-provider (and Koa under it) is loaded
   * then too: a server that never sees an OAuth request does not spend its start-up loading them.
   */
  async providerFor(base: string): Promise<Provider> {
    let provider = this.providers.get(base);
    if (provider) {
      this.providers.delete(base); // re-inserted below: Map order is the LRU order
      this.providers.set(base, provider);
      return provider;
    }
    const { buildProvider } = await import('./provider.js');
    provider = this.providers.get(base); // built meanwhile by a concurrent first request
    if (provider) return provider;
    if (this.providers.size >= MAX_ISSUERS) this.providers.delete(this.providers.keys().next().value!);
    provider = buildProvider(base, {
      ...this.deps,
      allowedClients: async () => (await this.deps.settings.get()).oauth_allowed_clients,
    });
    // The library answers its own failures with `server_error`; the cause is ours to log (never sent out).
    provider.on('server_error', (_ctx, err: Error) =>
      this.deps.logger.error({ err: err.message, issuer: base }, 'oauth server error'),
    );
    provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
      const done = this.deps.connections.grantRevoked(grantId, String(ctx.oidc.route), ctx.ip ?? null);
      done.catch((err: Error) =>
        this.deps.logger.error({ err: err.message }, 'oauth revocation not recorded'),
      );
    });
    provider.on('access_token.destroyed', (token: { accountId?: string }) => {
      if (token.accountId) this.deps.connections.tokenRevoked(token.accountId);
    });
    this.providers.set(base, provider);
    return provider;
  }

  /** What the consent page shows: which client asks, to be sent back where, for what. */
  async describe(actor: Principal, base: string, uid: string): Promise<AuthorizationRequestView> {
    const { interaction, client } = await this.pending(actor, base, uid);
    const params = interaction.params as Record<string, string | undefined>;
    return {
      client: {
        id: client.clientId,
        name: client.clientName ?? null,
        uri: client.clientUri ?? null,
        logo_uri: client.logoUri ?? null,
        registration: (client as { clientIdMetadataDocument?: boolean }).clientIdMetadataDocument
          ? 'metadata_document'
          : 'dynamic',
      },
      redirect_uri: params.redirect_uri ?? '',
      resource: mcpResource(base),
      scopes: [MCP_SCOPE],
    };
  }

  /** Records the user's decision and returns where the browser goes to hand it to the authorization server. */
  async decide(
    actor: Principal,
    base: string,
    uid: string,
    decision: { approve: boolean; restriction: { skills: string[] } | null },
  ): Promise<{ redirect_to: string }> {
    const { interaction } = await this.pending(actor, base, uid);
    const ticket = randomHex(32);
    const restriction = decision.restriction ? { skills: [...new Set(decision.restriction.skills)] } : null;
    const stored: ConsentTicket = {
      ticketHash: sha256Hex(ticket),
      accountId: actor.userId,
      approve: decision.approve,
      restriction,
    };
    const ttl = Math.max(1, interaction.exp - Math.floor(Date.now() / 1000));
    await this.tickets.upsert(uid, stored as never, ttl);
    return { redirect_to: `${base}${interactionPath(uid)}/finish?ticket=${ticket}` };
  }

  /**
   * Redeems a ticket in the browser that started the authorization and hands the result to the library, which
   * answers with the redirect back to the client (a code, or `access_denied`).
   */
  async finish(
    base: string,
    uid: string,
    ticket: string,
    node: { incoming: IncomingMessage; outgoing: ServerResponse },
    ip: string | null,
  ): Promise<void> {
    const provider = await this.providerFor(base);
    const interaction = await provider.interactionDetails(node.incoming, node.outgoing).catch(() => null);
    if (!interaction || interaction.uid !== uid) {
      throw badRequest('Finish the authorization in the browser that started it');
    }
    const stored = (await this.tickets.find(uid)) as unknown as ConsentTicket | undefined;
    if (!stored || !constantTimeEqual(sha256Hex(ticket), stored.ticketHash)) {
      throw badRequest('This approval link is not valid (it may have been used already)');
    }
    await this.tickets.destroy(uid);
    const finish = (result: Record<string, unknown>) =>
      provider.interactionFinished(node.incoming, node.outgoing, result, { mergeWithLastSubmission: false });
    if (!stored.approve) {
      return finish({ error: 'access_denied', error_description: 'The user declined the request' });
    }
    const params = interaction.params as Record<string, string | undefined>;
    const clientId = String(params.client_id);
    const client = await provider.Client.find(clientId);
    const grant = new provider.Grant({ accountId: stored.accountId, clientId });
    grant.addResourceScope(mcpResource(base), MCP_SCOPE);
    const oidcScopes = (params.scope ?? '').split(' ').filter((s) => OIDC_SCOPES.has(s));
    if (oidcScopes.length) grant.addOIDCScope(oidcScopes);
    const grantId = await grant.save();
    // The actor is the user whose console session decided (the ticket proves it); this request carries no bearer.
    const actor: Principal = { userId: stored.accountId, isAdmin: false, via: 'session', scopes: [] };
    await this.deps.connections.create(
      actor,
      {
        grantId,
        clientId,
        clientName: client?.clientName ?? null,
        resource: mcpResource(base),
        restriction: stored.restriction,
      },
      ip,
    );
    return finish({ login: { accountId: stored.accountId }, consent: { grantId } });
  }

  /** The pending authorization `uid`, if the actor may answer it and its client is allowed. */
  private async pending(actor: Principal, base: string, uid: string) {
    authorize(actor, 'oauth.approve');
    const provider = await this.providerFor(base);
    const interaction = await provider.Interaction.find(uid);
    if (!interaction) throw notFound('This authorization request has expired or does not exist');
    const clientId = String((interaction.params as Record<string, unknown>).client_id);
    const client = await provider.Client.find(clientId).catch(() => undefined);
    if (!client) throw notFound('The client of this authorization request is unknown');
    if (!clientAllowed((await this.deps.settings.get()).oauth_allowed_clients, clientId)) {
      throw forbidden('An administrator has not allowed this client');
    }
    return { interaction, client };
  }
}
