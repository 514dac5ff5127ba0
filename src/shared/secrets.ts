import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Secrets we must keep (upstream servers' env and header values, model providers' API keys) are stored sealed:
 * AES-256-GCM under a key derived from `SECRET_KEY` with HKDF-SHA256, with additional authenticated data that
 * binds the ciphertext to where it lives (table, row id, field). A sealed value copied to another row or field
 * does not open; a changed byte does not open.
 *
 * Format (text, storable in any column): `v1.<key id>.<base64url(iv ‖ ciphertext ‖ tag)>`. The key id is the
 * first 8 hex digits of a SHA-256 of the derived key, so a value sealed under an older `SECRET_KEY` is recognised
 * (and re-sealed by `skillport secrets rotate`) instead of failing as tampered.
 */
export interface SealedAt {
  /** Table (or resource) name, e.g. `mcp_servers`. */
  table: string;
  /** The row's id. */
  id: string;
  /** The field, e.g. `env.GITHUB_TOKEN` or `api_key`. */
  field: string;
}

export class SecretOpenError extends Error {
  constructor(readonly reason: 'malformed' | 'other_key' | 'tampered') {
    super(
      reason === 'other_key'
        ? 'The secret was sealed with another SECRET_KEY (run `skillport secrets rotate --old-key …`)'
        : reason === 'malformed'
          ? 'The stored secret is not a sealed value'
          : 'The stored secret does not open (it was altered or moved)',
    );
    this.name = 'SecretOpenError';
  }
}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBox {
  private readonly key: Buffer;
  /** Identifies the derived key without revealing it. */
  readonly keyId: string;

  constructor(secretKey: string) {
    this.key = Buffer.from(
      hkdfSync('sha256', secretKey, 'skillport', 'skillport secrets at rest v1', 32) as ArrayBuffer,
    );
    this.keyId = Buffer.from(hkdfSync('sha256', this.key, 'skillport', 'key id', 4) as ArrayBuffer).toString(
      'hex',
    );
  }

  seal(plaintext: string, at: SealedAt): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(aad(at));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const packed = Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
    return `${VERSION}.${this.keyId}.${packed}`;
  }

  open(sealed: string, at: SealedAt): string {
    const [version, keyId, packed, extra] = sealed.split('.');
    if (version !== VERSION || !keyId || packed === undefined || extra !== undefined) {
      throw new SecretOpenError('malformed');
    }
    if (keyId !== this.keyId) throw new SecretOpenError('other_key');
    const raw = Buffer.from(packed, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretOpenError('malformed');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(aad(at));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SecretOpenError('tampered');
    }
  }

  /** Whether `sealed` was sealed under this box's key (false: another key, or not a sealed value). */
  owns(sealed: string): boolean {
    return sealed.startsWith(`${VERSION}.${this.keyId}.`);
  }
}

/** How a kept secret is shown after saving: never its value, only that one is set. */
export const MASKED_SECRET = '••••••••';

const aad = (at: SealedAt) => Buffer.from(JSON.stringify([at.table, at.id, at.field]), 'utf8');
