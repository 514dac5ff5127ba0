import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { z } from 'zod';

const USER_ID = z.uuid();

/** Short-lived JWT access tokens (HS256). Revocation is handled by checking the user on every request. */
export class AccessTokens {
  private readonly key: Uint8Array;

  constructor(
    secretKey: string,
    readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secretKey);
  }

  sign(userId: string): Promise<string> {
    return new SignJWT({ type: 'access' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .setJti(randomUUID())
      .sign(this.key);
  }

  /** Returns the user id, or null for anything that is not a valid, unexpired access token. */
  async verify(token: string): Promise<string | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] });
      if (payload.type !== 'access' || !payload.jti) return null;
      // Only a user id can be a subject; anything else (even validly signed) must not reach a uuid query.
      const subject = USER_ID.safeParse(payload.sub);
      return subject.success ? subject.data : null;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return null;
      throw err;
    }
  }
}
