import { and, eq, isNotNull, lt } from 'drizzle-orm';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { tables, type Database } from '../db/index.js';
import { sha256Hex } from '../shared/crypto.js';
import { SecretOpenError, type SecretBox } from '../shared/secrets.js';

const TABLE = 'oauth_records';
/** Payload fields that are secrets in their own right (the id is one too; it is only stored sealed). */
const SEALED_FIELDS = ['jti', 'client_secret'] as const;

/** The row key of one model instance: bearer values (token ids) are never stored as they are. */
export const recordKey = (model: string, id: string): string => sha256Hex(`${model}\0${id}`);

/**
 * oidc-provider's storage in our database (`oauth_records`), so that every instance sees the same codes,
 * tokens, grants, sessions and registered clients, on PGlite and PostgreSQL alike. One adapter instance per
 * model (the library's contract). Secrets in a payload are sealed with the `SecretBox`, bound to the row.
 */
export class DatabaseAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly db: Database,
    private readonly box: SecretBox,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const key = recordKey(this.model, id);
    const values = {
      model: this.model,
      payload: this.seal(key, payload),
      grantId: payload.grantId ?? null,
      uid: payload.uid ?? null,
      userCode: payload.userCode ?? null,
      expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
    };
    await this.db
      .insert(tables.oauthRecords)
      .values({ key, ...values })
      .onConflictDoUpdate({ target: tables.oauthRecords.key, set: values });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.findBy(eq(tables.oauthRecords.key, recordKey(this.model, id)));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.findBy(and(eq(tables.oauthRecords.model, this.model), eq(tables.oauthRecords.uid, uid)));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.findBy(
      and(eq(tables.oauthRecords.model, this.model), eq(tables.oauthRecords.userCode, userCode)),
    );
  }

  async consume(id: string): Promise<void> {
    await this.db
      .update(tables.oauthRecords)
      .set({ consumedAt: new Date() })
      .where(eq(tables.oauthRecords.key, recordKey(this.model, id)));
  }

  async destroy(id: string): Promise<void> {
    await this.db.delete(tables.oauthRecords).where(eq(tables.oauthRecords.key, recordKey(this.model, id)));
  }

  /** Every model's rows of the grant go, not only this model's: revoking a grant ends all of its tokens. */
  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.delete(tables.oauthRecords).where(eq(tables.oauthRecords.grantId, grantId));
  }

  private async findBy(where: ReturnType<typeof eq> | undefined): Promise<AdapterPayload | undefined> {
    const [row] = await this.db.select().from(tables.oauthRecords).where(where).limit(1);
    if (!row || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) return undefined;
    const payload = this.open(row.key, row.payload);
    if (!payload) return undefined;
    return row.consumedAt ? { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : payload;
  }

  private seal(key: string, payload: AdapterPayload): Record<string, unknown> {
    const sealed: Record<string, unknown> = { ...payload };
    for (const field of SEALED_FIELDS) {
      const value = sealed[field];
      if (typeof value === 'string') sealed[field] = this.box.seal(value, { table: TABLE, id: key, field });
    }
    return sealed;
  }

  /** A record sealed under another SECRET_KEY (or altered) reads as absent: its client signs in again. */
  private open(key: string, stored: Record<string, unknown>): AdapterPayload | undefined {
    const payload: Record<string, unknown> = { ...stored };
    try {
      for (const field of SEALED_FIELDS) {
        const value = payload[field];
        if (typeof value === 'string')
          payload[field] = this.box.open(value, { table: TABLE, id: key, field });
      }
    } catch (err) {
      if (err instanceof SecretOpenError) return undefined;
      throw err;
    }
    return payload as AdapterPayload;
  }
}

/** Deletes rows past their expiry (the library never asks for them again). */
export async function sweepExpiredRecords(db: Database): Promise<void> {
  await db
    .delete(tables.oauthRecords)
    .where(and(isNotNull(tables.oauthRecords.expiresAt), lt(tables.oauthRecords.expiresAt, new Date())));
}
