import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';

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
      if (payload.type !== 'access' || typeof payload.sub !== 'string' || !payload.jti) return null;
      return payload.sub;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return null;
      throw err;
    }
  }
}
