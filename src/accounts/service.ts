import { randomUUID } from 'node:crypto';
import { and, asc, eq, exists, getTableColumns, gt, ilike, isNull, ne, or, sql, type SQL } from 'drizzle-orm';
import {
  tables,
  type Database,
  type Transaction,
  afterTimeId,
  cursorTime,
  timeIdCursor,
  isUniqueViolation,
  violatedConstraint,
} from '../db/index.js';
import { recordAudit } from '../audit/index.js';
import {
  conflict,
  forbidden,
  ForbiddenError,
  InvalidInputError,
  notFound,
  tooManyRequests,
  UnauthenticatedError,
} from '../shared/errors.js';
import { randomHex, sha256Hex } from '../shared/crypto.js';
import { decodeCursor, toPage, type Page } from '../shared/pagination.js';
import { authorize, SESSION_SCOPES } from '../authz/index.js';
import type { Principal } from '../shared/principal.js';
import type { RateLimiter } from '../shared/rate-limit.js';
import type { AccessTokens } from './access-tokens.js';
import type { ApiTokens } from './api-tokens.js';
import { LoginThrottle } from './login-throttle.js';
import { burnVerification, hashPassword, passwordProblems, verifyPassword } from './passwords.js';
import { toUserView, type UserView } from './views.js';

export interface AuthResult {
  user: UserView;
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface AccountsOptions {
  signup: 'open' | 'closed';
  refreshTokenTtlDays: number;
  rateLimit: { perIp: number; perAccount: number; windowSeconds: number };
}

/** Runs inside the account-deletion transaction, after the user's rows are gone (e.g. to free blobs). */
export type AccountDeletionHook = (tx: Transaction, userId: string) => Promise<void>;

const invalidCredentials = () => new UnauthenticatedError('invalid_credentials', 'Invalid login or password');
const invalidRefresh = () =>
  new UnauthenticatedError('invalid_refresh_token', 'Refresh token is invalid or expired');

/** Serialises registrations so exactly one first user becomes admin. */
const REGISTER_LOCK_KEY = 7_346_202;
/** Serialises changes that take admin rights away, so two admins cannot demote each other at the same time. */
const ADMINS_LOCK_KEY = 7_346_203;

type UserRow = typeof tables.users.$inferSelect;

/**
 * Users and their credentials. A console session is one refresh-token family: the access tokens issued from it
 * carry its id (`sid`), and ending the session (logout, password change, admin reset, disable, refresh-token reuse)
 * revokes the family, so those access tokens are refused on the next request on every instance.
 */
export class AccountsService {
  private readonly deletionHooks: AccountDeletionHook[] = [];
  private readonly loginThrottle: LoginThrottle;

  constructor(
    private readonly db: Database,
    private readonly accessTokens: AccessTokens,
    private readonly apiTokens: ApiTokens,
    private readonly rateLimiter: RateLimiter,
    private readonly options: AccountsOptions,
  ) {
    this.loginThrottle = new LoginThrottle(rateLimiter, options.rateLimit);
  }

  onAccountDeleted(hook: AccountDeletionHook): void {
    this.deletionHooks.push(hook);
  }

  async register(
    input: { email: string; username: string; password: string },
    ip: string | null,
  ): Promise<AuthResult> {
    await this.limit(`register:ip:${ip ?? 'unknown'}`, this.options.rateLimit.perIp);
    const user = await this.insertUser(input, { isAdmin: undefined, actorId: null, ip, publicSignup: true });
    return this.issueTokens(user);
  }

  /** Creates a user (admin API and CLI); `isAdmin: undefined` means "admin if this is the first user". */
  async createUser(
    input: { email: string; username: string; password: string },
    opts: { isAdmin: boolean | undefined; actorId: string | null; ip: string | null; publicSignup: boolean },
  ): Promise<UserView> {
    return toUserView(await this.insertUser(input, opts));
  }

  private async insertUser(
    input: { email: string; username: string; password: string },
    opts: { isAdmin: boolean | undefined; actorId: string | null; ip: string | null; publicSignup: boolean },
  ) {
    const email = normaliseEmail(input.email);
    const username = input.username.toLowerCase();
    assertPassword(input.password, { email, username });
    const passwordHash = await hashPassword(input.password);
    try {
      const row = await this.db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${REGISTER_LOCK_KEY})`);
        const [{ count }] = (await tx.select({ count: sql<number>`count(*)::int` }).from(tables.users)) as [
          { count: number },
        ];
        if (opts.publicSignup && this.options.signup === 'closed' && count > 0) {
          throw forbidden('Sign-up is closed; ask an administrator for an account');
        }
        const [created] = await tx
          .insert(tables.users)
          .values({ email, username, passwordHash, isAdmin: opts.isAdmin ?? count === 0 })
          .returning();
        await recordAudit(tx, {
          actorId: opts.actorId ?? created!.id,
          action: opts.actorId ? 'admin.user.create' : 'user.register',
          target: `user:${created!.id}`,
          result: 'success',
          ip: opts.ip,
          details: { is_admin: created!.isAdmin },
        });
        return created!;
      });
      return row;
    } catch (err) {
      throw mapUniqueError(err);
    }
  }

  async login(input: { login: string; password: string }, ip: string | null): Promise<AuthResult> {
    const login = input.login.trim().toLowerCase();
    const [user] = await this.db
      .select()
      .from(tables.users)
      .where(login.includes('@') ? eq(tables.users.email, login) : eq(tables.users.username, login));
    // Counted per account, not per identifier: alternating email and username must not double the attempts.
    // Unknown identifiers get counters of their own and the same answers, so the limits reveal nothing either.
    const account = user ? user.id : `unknown:${login}`;
    await this.loginThrottle.admit(account, ip);
    const fail = async (reason: string) =>
      recordAudit(this.db, {
        actorId: user?.id ?? null,
        action: 'auth.login',
        target: user ? `user:${user.id}` : null,
        result: 'failure',
        ip,
        details: { reason },
      });
    if (!user) {
      await burnVerification(input.password);
      await this.loginThrottle.failed(account);
      await fail('invalid_credentials');
      throw invalidCredentials();
    }
    const { ok, needsRehash } = await verifyPassword(input.password, user.passwordHash);
    if (!ok) {
      await this.loginThrottle.failed(account);
      await fail('invalid_credentials');
      throw invalidCredentials();
    }
    await this.loginThrottle.succeeded(account, ip);
    if (user.disabledAt) {
      await fail('disabled');
      throw new ForbiddenError('account_disabled', 'This account is disabled');
    }
    if (needsRehash) {
      // Legacy bcrypt (or weaker argon2) hashes are replaced once the plaintext is known to be right.
      await this.db
        .update(tables.users)
        .set({ passwordHash: await hashPassword(input.password), updatedAt: new Date() })
        .where(eq(tables.users.id, user.id));
    }
    await recordAudit(this.db, {
      actorId: user.id,
      action: 'auth.login',
      target: `user:${user.id}`,
      result: 'success',
      ip,
      details: needsRehash ? { password_rehashed: true } : undefined,
    });
    return this.issueTokens(user);
  }

  /** Rotates a refresh token. Presenting one that was already used revokes its whole family (theft signal). */
  async refresh(presented: string, ip: string | null): Promise<AuthResult> {
    const hash = sha256Hex(presented);
    const rt = tables.refreshTokens;
    const [row] = await this.db.select().from(rt).where(eq(rt.tokenHash, hash));
    if (!row) throw invalidRefresh();
    if (row.usedAt || row.revokedAt) {
      if (row.usedAt && !row.revokedAt)
        await this.revokeFamily(row.familyId, row.userId, ip, 'reuse_detected');
      throw invalidRefresh();
    }
    if (row.expiresAt.getTime() <= Date.now()) throw invalidRefresh();
    const result = await this.db.transaction(async (tx) => {
      // The user row is locked first, as every transaction that ends sessions does (`lockUser`): a rotation
      // racing with the end of its session then cannot leave a live token in a revoked family.
      const [user] = await tx.select().from(tables.users).where(eq(tables.users.id, row.userId)).for('share');
      if (!user) return undefined;
      // The conditional update makes rotation single-use even when two requests race with the same token.
      const claimed = await tx
        .update(rt)
        .set({ usedAt: new Date(), updatedAt: new Date() })
        .where(and(eq(rt.id, row.id), isNull(rt.usedAt), isNull(rt.revokedAt)))
        .returning({ id: rt.id });
      if (claimed.length === 0) return null;
      if (user.disabledAt) return undefined;
      const refreshToken = await this.insertRefreshToken(tx, user.id, row.familyId);
      return { user, refreshToken };
    });
    if (result === null) {
      await this.revokeFamily(row.familyId, row.userId, ip, 'reuse_detected');
      throw invalidRefresh();
    }
    if (!result) throw invalidRefresh();
    return this.authResult(result.user, result.refreshToken, row.familyId);
  }

  async logout(presented: string, ip: string | null): Promise<void> {
    const [row] = await this.db
      .select()
      .from(tables.refreshTokens)
      .where(eq(tables.refreshTokens.tokenHash, sha256Hex(presented)));
    if (row) await this.revokeFamily(row.familyId, row.userId, ip, 'logout');
  }

  /** The actor's own account. */
  async me(actor: Principal): Promise<UserView> {
    authorize(actor, 'users.read-self');
    const [user] = await this.db.select().from(tables.users).where(eq(tables.users.id, actor.userId));
    if (!user) throw notFound('User not found');
    return toUserView(user);
  }

  /** The principal of an account found by email, for administrative commands run on the server (CLI). */
  async principalByEmail(email: string): Promise<Principal> {
    const [user] = await this.db
      .select()
      .from(tables.users)
      .where(eq(tables.users.email, normaliseEmail(email)));
    if (!user) throw notFound(`No user with email ${normaliseEmail(email)}`);
    return { userId: user.id, isAdmin: user.isAdmin, via: 'session', scopes: SESSION_SCOPES };
  }

  /**
   * The principal behind a console session, or null when the user is gone or disabled or the session has ended
   * (its refresh-token family revoked or expired). One indexed query, so an ended session is refused at once on
   * every instance. `Authenticator` caches it per (user, session) and drops it on `credentials-changed`, which
   * every session end emits.
   */
  async sessionPrincipal(userId: string, sessionId: string): Promise<Principal | null> {
    const u = tables.users;
    const rt = tables.refreshTokens;
    const live = this.db
      .select({ one: sql`1` })
      .from(rt)
      .where(
        and(
          eq(rt.familyId, sessionId),
          eq(rt.userId, u.id),
          isNull(rt.revokedAt),
          gt(rt.expiresAt, sql`now()`),
        ),
      );
    const [user] = await this.db
      .select({ id: u.id, isAdmin: u.isAdmin })
      .from(u)
      .where(and(eq(u.id, userId), isNull(u.disabledAt), exists(live)));
    return user ? { userId: user.id, isAdmin: user.isAdmin, via: 'session', scopes: SESSION_SCOPES } : null;
  }

  /**
   * Ends every console session of a user at once: their refresh tokens are revoked and the access tokens issued
   * from them are refused on the next request, on every instance. API tokens are separate credentials (listed and
   * revocable by their owner) and stay valid.
   */
  async endSessions(
    userId: string,
    opts: { actorId: string | null; ip: string | null; reason: string },
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (!(await this.lockUser(tx, userId))) throw notFound('User not found');
      await this.revokeSessions(tx, userId);
      await recordAudit(tx, {
        actorId: opts.actorId,
        action: 'auth.sessions_end',
        target: `user:${userId}`,
        result: 'success',
        ip: opts.ip,
        details: { reason: opts.reason },
      });
    });
    await this.sessionsEnded(userId);
  }

  async updateMe(
    principal: Principal,
    input: { email?: string; username?: string },
    ip: string | null,
  ): Promise<UserView> {
    authorize(principal, 'users.update-self');
    const set: Partial<typeof tables.users.$inferInsert> = { updatedAt: new Date() };
    if (input.email !== undefined) set.email = normaliseEmail(input.email);
    if (input.username !== undefined) set.username = input.username.toLowerCase();
    try {
      const row = await this.db.transaction(async (tx) => {
        const [updated] = await tx
          .update(tables.users)
          .set(set)
          .where(eq(tables.users.id, principal.userId))
          .returning();
        if (!updated) throw notFound('User not found');
        await recordAudit(tx, {
          actorId: principal.userId,
          action: 'user.update',
          target: `user:${principal.userId}`,
          result: 'success',
          ip,
          details: { fields: Object.keys(input).filter((k) => input[k as keyof typeof input] !== undefined) },
        });
        return updated;
      });
      return toUserView(row);
    } catch (err) {
      throw mapUniqueError(err);
    }
  }

  async changePassword(
    principal: Principal,
    input: { current_password: string; new_password: string },
    ip: string | null,
  ): Promise<void> {
    authorize(principal, 'users.change-password');
    const user = await this.confirmPassword(principal, input.current_password, {
      action: 'user.password_change',
      field: 'current_password',
      ip,
    });
    assertPassword(input.new_password, user, 'new_password');
    const passwordHash = await hashPassword(input.new_password);
    // Every session ends, this one too: a password change is how people respond to a suspected compromise.
    await this.replacePassword(user.id, passwordHash, {
      actorId: user.id,
      action: 'user.password_change',
      ip,
    });
  }

  /**
   * Sets another user's password (admin) and ends all their sessions. Not for oneself: that goes through
   * `changePassword`, which asks for the current password.
   */
  async adminSetPassword(
    admin: Principal,
    userId: string,
    password: string,
    ip: string | null,
  ): Promise<void> {
    authorize(admin, 'users.set-password');
    if (userId === admin.userId) {
      throw conflict('Change your own password with POST /api/v1/users/me/password');
    }
    const [user] = await this.db.select().from(tables.users).where(eq(tables.users.id, userId));
    if (!user) throw notFound('User not found');
    assertPassword(password, user);
    await this.replacePassword(userId, await hashPassword(password), {
      actorId: admin.userId,
      action: 'admin.user.password_reset',
      ip,
    });
  }

  private async replacePassword(
    userId: string,
    passwordHash: string,
    audit: { actorId: string; action: string; ip: string | null },
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.lockUser(tx, userId);
      await tx
        .update(tables.users)
        .set({ passwordHash, updatedAt: new Date() })
        .where(eq(tables.users.id, userId));
      await this.revokeSessions(tx, userId);
      await recordAudit(tx, { ...audit, target: `user:${userId}`, result: 'success' });
    });
    await this.sessionsEnded(userId);
  }

  /**
   * Re-checks the caller's password before a sensitive change (rate limited per account); a wrong one is
   * audited and reported on `field`.
   */
  private async confirmPassword(
    principal: Principal,
    password: string,
    opts: { action: string; field: string; ip: string | null },
  ) {
    const [user] = await this.db.select().from(tables.users).where(eq(tables.users.id, principal.userId));
    if (!user) throw notFound('User not found');
    await this.limit(`password:account:${user.id}`, this.options.rateLimit.perAccount);
    if (!(await verifyPassword(password, user.passwordHash)).ok) {
      await recordAudit(this.db, {
        actorId: user.id,
        action: opts.action,
        target: `user:${user.id}`,
        result: 'failure',
        ip: opts.ip,
      });
      throw new InvalidInputError('invalid_password', `The ${opts.field.replace('_', ' ')} is wrong`, {
        fields: [{ path: opts.field, message: 'is wrong' }],
      });
    }
    return user;
  }

  /** Deletes the account and everything it owns, in one transaction, after checking the password. */
  async deleteAccount(principal: Principal, password: string, ip: string | null): Promise<void> {
    authorize(principal, 'users.delete-self');
    const user = await this.confirmPassword(principal, password, {
      action: 'user.delete',
      field: 'password',
      ip,
    });
    // The actor is gone with the account, so the event has none. The last admin may leave too (a single-user
    // instance must be able to delete its account); `skillport admin create` makes a new one.
    await this.removeUser(user.id, { actorId: null, action: 'user.delete', ip }, { keepAnAdmin: false });
  }

  /** Deletes another user's account and everything it owns (admin); never oneself, never the last admin. */
  async adminDeleteUser(admin: Principal, userId: string, ip: string | null): Promise<void> {
    authorize(admin, 'users.delete');
    if (userId === admin.userId) {
      throw conflict('Administrators cannot delete themselves here; use DELETE /api/v1/users/me');
    }
    await this.removeUser(
      userId,
      { actorId: admin.userId, action: 'admin.user.delete', ip },
      { keepAnAdmin: true },
    );
  }

  /** The one deletion path: cascade, deletion hooks (blob clean-up) and the audit event in one transaction. */
  private async removeUser(
    userId: string,
    audit: { actorId: string | null; action: string; ip: string | null },
    opts: { keepAnAdmin: boolean },
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (opts.keepAnAdmin) await this.assertAdminRemains(tx, userId);
      await tx.delete(tables.users).where(eq(tables.users.id, userId));
      for (const hook of this.deletionHooks) await hook(tx, userId);
      await recordAudit(tx, { ...audit, target: `user:${userId}`, result: 'success' });
    });
    await this.apiTokens.invalidateUser(userId);
  }

  async listUsers(
    actor: Principal,
    query: { q?: string; cursor?: string; limit: number },
  ): Promise<Page<UserView>> {
    authorize(actor, 'users.list');
    const after = decodeCursor(query.cursor, timeIdCursor);
    const u = tables.users;
    const where: SQL[] = [];
    if (query.q) {
      const pattern = `%${query.q.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
      where.push(or(ilike(u.email, pattern), ilike(u.username, pattern))!);
    }
    if (after) where.push(afterTimeId(u.createdAt, u.id, after, 'asc'));
    const rows = await this.db
      .select({ ...getTableColumns(u), cursorAt: cursorTime(u.createdAt) })
      .from(u)
      .where(where.length ? and(...where) : undefined)
      .orderBy(asc(u.createdAt), asc(u.id))
      .limit(query.limit + 1);
    return toPage(rows, query.limit, toUserView, (r) => [r.cursorAt, r.id]);
  }

  async adminUpdateUser(
    admin: Principal,
    userId: string,
    input: { disabled?: boolean; is_admin?: boolean },
    ip: string | null,
  ): Promise<UserView> {
    authorize(admin, 'users.update');
    if (userId === admin.userId && (input.disabled === true || input.is_admin === false)) {
      throw conflict('Administrators cannot disable or demote themselves');
    }
    const set: Partial<typeof tables.users.$inferInsert> = { updatedAt: new Date() };
    if (input.disabled !== undefined) set.disabledAt = input.disabled ? new Date() : null;
    if (input.is_admin !== undefined) set.isAdmin = input.is_admin;
    const row = await this.db.transaction(async (tx) => {
      if (input.disabled === true || input.is_admin === false) await this.assertAdminRemains(tx, userId);
      const [updated] = await tx.update(tables.users).set(set).where(eq(tables.users.id, userId)).returning();
      if (!updated) throw notFound('User not found');
      if (input.disabled) await this.revokeSessions(tx, userId);
      await recordAudit(tx, {
        actorId: admin.userId,
        action: 'admin.user.update',
        target: `user:${userId}`,
        result: 'success',
        ip,
        details: input,
      });
      return updated;
    });
    await this.apiTokens.invalidateUser(userId);
    return toUserView(row);
  }

  /** Starts a console session: a new refresh-token family, whose id the access tokens carry. */
  private async issueTokens(user: UserRow): Promise<AuthResult> {
    const sessionId = randomUUID();
    const refreshToken = await this.insertRefreshToken(this.db, user.id, sessionId);
    return this.authResult(user, refreshToken, sessionId);
  }

  private async authResult(user: UserRow, refreshToken: string, sessionId: string): Promise<AuthResult> {
    return {
      user: toUserView(user),
      access_token: await this.accessTokens.sign(user.id, sessionId),
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: this.accessTokens.ttlSeconds,
    };
  }

  private async insertRefreshToken(exec: Database | Transaction, userId: string, familyId: string) {
    const token = `rt_${randomHex(32)}`;
    await exec.insert(tables.refreshTokens).values({
      userId,
      familyId,
      tokenHash: sha256Hex(token),
      expiresAt: new Date(Date.now() + this.options.refreshTokenTtlDays * 86_400_000),
    });
    return token;
  }

  /** Ends one session (logout, or a refresh token presented twice). */
  private async revokeFamily(familyId: string, userId: string, ip: string | null, reason: string) {
    await this.db.transaction(async (tx) => {
      await this.lockUser(tx, userId);
      await this.revokeSessions(tx, userId, familyId);
      await recordAudit(tx, {
        actorId: userId,
        action: reason === 'logout' ? 'auth.logout' : 'auth.refresh_reuse',
        target: `user:${userId}`,
        result: reason === 'logout' ? 'success' : 'failure',
        ip,
      });
    });
    await this.sessionsEnded(userId);
  }

  /**
   * Locks the user's row for the rest of the transaction. Every transaction that ends sessions takes it before
   * revoking, and rotation takes it before issuing, so the two never interleave.
   */
  private async lockUser(tx: Transaction, userId: string): Promise<UserRow | undefined> {
    const [user] = await tx.select().from(tables.users).where(eq(tables.users.id, userId)).for('update');
    return user;
  }

  /** Revokes the refresh tokens of one session, or of all the user's sessions; the caller holds `lockUser`. */
  private async revokeSessions(tx: Transaction, userId: string, familyId?: string): Promise<void> {
    const rt = tables.refreshTokens;
    await tx
      .update(rt)
      .set({ revokedAt: new Date(), updatedAt: new Date() })
      .where(
        and(eq(rt.userId, userId), familyId ? eq(rt.familyId, familyId) : undefined, isNull(rt.revokedAt)),
      );
  }

  /** Tells every instance (bridged `credentials-changed`): open streams re-check, cached principals go. */
  private async sessionsEnded(userId: string): Promise<void> {
    await this.apiTokens.invalidateUser(userId);
  }

  /**
   * Locks the target user (404 when missing) and refuses to go on when the change would leave no enabled
   * administrator. Serialised across transactions, so two admins cannot each remove the other at the same time.
   */
  private async assertAdminRemains(tx: Transaction, userId: string): Promise<void> {
    await tx.execute(sql`select pg_advisory_xact_lock(${ADMINS_LOCK_KEY})`);
    const target = await this.lockUser(tx, userId);
    if (!target) throw notFound('User not found');
    if (!target.isAdmin || target.disabledAt) return;
    const u = tables.users;
    const [{ others }] = (await tx
      .select({ others: sql<number>`count(*)::int` })
      .from(u)
      .where(and(eq(u.isAdmin, true), isNull(u.disabledAt), ne(u.id, userId)))) as [{ others: number }];
    if (others === 0) {
      throw conflict('This is the last administrator; make another user an administrator first');
    }
  }

  private async limit(key: string, limit: number): Promise<void> {
    const { allowed, retryAfter } = await this.rateLimiter.consume(
      key,
      limit,
      this.options.rateLimit.windowSeconds,
    );
    if (!allowed) throw tooManyRequests('Too many attempts; try again later', retryAfter);
  }
}

function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

function assertPassword(password: string, context: { email: string; username: string }, field = 'password') {
  const problems = passwordProblems(password, context);
  if (problems.length) {
    throw new InvalidInputError('validation_error', `Password ${problems.join('; ')}`, {
      fields: problems.map((message) => ({ path: field, message })),
    });
  }
}

function mapUniqueError(err: unknown): unknown {
  if (!isUniqueViolation(err)) return err;
  const field = violatedConstraint(err)?.includes('email') ? 'email' : 'username';
  return conflict(`That ${field} is already taken`, {
    fields: [{ path: field, message: 'is already taken' }],
  });
}
