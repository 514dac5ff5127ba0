import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { COMMON_PASSWORDS } from './common-passwords.js';

/** OWASP's baseline argon2id parameters (19 MiB, 2 passes): ~7 ms a hash on the reference machine. */
/** `algorithm: 2` is Argon2id (the package's const enum cannot be imported under verbatimModuleSyntax). */
const ARGON_OPTIONS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

const PASSWORD_MIN_LENGTH = 10;
/** Long enough for pass-phrases, short enough that hashing cost stays bounded. */
export const PASSWORD_MAX_LENGTH = 256;

export function hashPassword(password: string): Promise<string> {
  return argonHash(password, ARGON_OPTIONS);
}

const BCRYPT_PREFIX = /^\$2[aby]\$/;

/**
 * Verifies argon2id hashes and legacy bcrypt hashes ($2a$/$2b$/$2y$) imported from the Python service.
 * `needsRehash` tells the caller to replace a legacy or weaker hash after a successful login.
 */
export async function verifyPassword(
  password: string,
  stored: string,
): Promise<{ ok: boolean; needsRehash: boolean }> {
  if (BCRYPT_PREFIX.test(stored)) {
    const ok = await bcrypt.compare(password, stored);
    return { ok, needsRehash: ok };
  }
  if (!stored.startsWith('$argon2')) return { ok: false, needsRehash: false };
  try {
    const ok = await argonVerify(stored, password);
    return {
      ok,
      needsRehash: ok && !stored.startsWith(`$argon2id$v=19$m=${ARGON_OPTIONS.memoryCost},t=2,p=1$`),
    };
  } catch {
    return { ok: false, needsRehash: false };
  }
}

let dummyHash: Promise<string> | undefined;
/**
 * Spends the same work as a real verification, so a login for an unknown account takes as long as one with a
 * wrong password and timing does not reveal which accounts exist.
 */
export async function burnVerification(password: string): Promise<void> {
  dummyHash ??= hashPassword('skillport-timing-equaliser');
  await argonVerify(await dummyHash, password).catch(() => false);
}

/** Returns the reasons a new password is refused (empty when it is acceptable). */
export function passwordProblems(
  password: string,
  context: { email?: string; username?: string } = {},
): string[] {
  const problems: string[] = [];
  if ([...password].length < PASSWORD_MIN_LENGTH)
    problems.push(`must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (password.length > PASSWORD_MAX_LENGTH)
    problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters`);
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) problems.push('is too common; choose a less guessable password');
  if (context.username && lower === context.username.toLowerCase())
    problems.push('must not equal the username');
  if (context.email && lower === context.email.toLowerCase()) problems.push('must not equal the email');
  return problems;
}
