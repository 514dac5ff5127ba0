import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { z } from 'zod';

const UUID = z.uuid();
/** Verified tokens kept (their claims until they expire), so that a console request does not pay the HMAC again. */
const VERIFIED_MAX_ENTRIES = 10_000;

/** What a valid access token says: whose it is and which console session (refresh-token family) it belongs to. */
export interface AccessClaims {
  userId: string;
  sessionId: string;
}

/**
 * Short-lived JWT access tokens (HS256). Each carries its session id (`sid`); revocation is handled by checking
 * the user and the session on every request (`AccountsService.sessionPrincipal`).
 */
export class AccessTokens {
  private readonly key: Uint8Array;
  /**
   * Tokens whose signature was checked, with their claims and expiry. Only valid tokens get in (an entry needs
   * our signature), and a token's verdict cannot change before its expiry: revocation is the session's, checked
   * after this (`Authenticator`).
   */
  private readonly verified = new Map<string, { claims: AccessClaims; expiresAt: number }>();

  constructor(
    secretKey: string,
    readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secretKey);
  }

  sign(userId: string, sessionId: string): Promise<string> {
    return new SignJWT({ type: 'access', sid: sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .setJti(randomUUID())
      .sign(this.key);
  }

  /** Returns the claims, or null for anything that is not a valid, unexpired access token of a session. */
  async verify(token: string): Promise<AccessClaims | null> {
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.expiresAt > Date.now()) return hit.claims;
      this.verified.delete(token);
    }
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] });
      if (payload.type !== 'access' || !payload.jti) return null;
      // Only a user id can be a subject; anything else (even validly signed) must not reach a uuid query.
      const subject = UUID.safeParse(payload.sub);
      // Tokens signed before sessions had ids are refused: the console refreshes and gets one that has it.
      const session = UUID.safeParse(payload.sid);
      if (!subject.success || !session.success) return null;
      const claims = { userId: subject.data, sessionId: session.data };
      if (typeof payload.exp === 'number') {
        if (this.verified.size >= VERIFIED_MAX_ENTRIES) this.verified.clear();
        this.verified.set(token, { claims, expiresAt: payload.exp * 1000 });
      }
      return claims;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return null;
      throw err;
    }
  }
}
