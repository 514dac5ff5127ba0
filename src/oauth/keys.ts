import { createECDH, hkdfSync } from 'node:crypto';

const derive = (secretKey: string, purpose: string, bytes: number): Buffer =>
  Buffer.from(hkdfSync('sha256', secretKey, 'skillport oauth', purpose, bytes) as ArrayBuffer);

/**
 * The authorization server's keys, derived from SECRET_KEY so that every instance holds the same ones without
 * storing or exchanging them: the cookie signing key, and a P-256 key for the ID tokens the library signs
 * (access tokens are opaque and looked up, so no key ever signs them). Changing SECRET_KEY changes both, which
 * ends pending logins and outstanding ID tokens, as it ends console sessions.
 */
export function oauthKeys(secretKey: string) {
  const ecdh = createECDH('prime256v1');
  // 32 HKDF bytes are a valid P-256 scalar except with probability ~2^-32; setPrivateKey rejects the others.
  ecdh.setPrivateKey(derive(secretKey, 'id token signing key (P-256)', 32));
  const publicKey = ecdh.getPublicKey(); // 0x04 ‖ x ‖ y
  const signingKey = {
    kty: 'EC',
    crv: 'P-256',
    alg: 'ES256',
    use: 'sig',
    kid: derive(secretKey, 'id token key id', 8).toString('hex'),
    d: ecdh.getPrivateKey().toString('base64url'),
    x: publicKey.subarray(1, 33).toString('base64url'),
    y: publicKey.subarray(33, 65).toString('base64url'),
  };
  return { cookieKeys: [derive(secretKey, 'cookie signing key', 32).toString('base64url')], signingKey };
}
