import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'skillport-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const KEY = 'k'.repeat(40);

function configError(env: Record<string, string>): string {
  try {
    loadConfig({ DATA_DIR: dir, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('defaults', () => {
  it('fills in every default', () => {
    const c = loadConfig({ DATA_DIR: dir, SECRET_KEY: KEY });
    expect(c).toMatchObject({
      PORT: 8123,
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      DATABASE_POOL_SIZE: 10,
      CORS_ORIGINS: [],
      ALLOWED_HOSTS: [],
      LOG_LEVEL: 'info',
      SIGNUP: 'open',
      ACCESS_TOKEN_TTL_SECONDS: 900,
      REFRESH_TOKEN_TTL_DAYS: 30,
      AUTH_RATE_LIMIT_PER_IP: 20,
      AUTH_RATE_LIMIT_PER_ACCOUNT: 10,
      AUTH_RATE_LIMIT_WINDOW_SECONDS: 60,
      MAX_JSON_BODY_BYTES: 1024 * 1024,
      TRUST_PROXY: false,
      COMMAND_ALLOWED_PROGRAMS: ['python', 'python3', 'node', 'bash', 'sh'],
      COMMANDS_ENABLED: true,
      embeddedDbDir: path.join(dir, 'db'),
    });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.METRICS_TOKEN).toBeUndefined();
    expect(c.SECRET_KEY).toBe(KEY);
  });

  it('resolves DATA_DIR to an absolute path and treats empty values as unset', () => {
    const c = loadConfig({
      DATA_DIR: path.relative(process.cwd(), dir),
      SECRET_KEY: KEY,
      PORT: '',
      SIGNUP: '',
    });
    expect(c.DATA_DIR).toBe(dir);
    expect(c.PORT).toBe(8123);
    expect(c.SIGNUP).toBe('open');
  });

  it('reads numbers, booleans and enums', () => {
    const c = loadConfig({
      DATA_DIR: dir,
      SECRET_KEY: KEY,
      PORT: '0',
      TRUST_PROXY: 'yes',
      COMMANDS_ENABLED: '0',
      SIGNUP: 'closed',
      LOG_LEVEL: 'silent',
      AUTH_RATE_LIMIT_PER_ACCOUNT: '3',
    });
    expect(c).toMatchObject({
      PORT: 0,
      TRUST_PROXY: true,
      COMMANDS_ENABLED: false,
      SIGNUP: 'closed',
      LOG_LEVEL: 'silent',
      AUTH_RATE_LIMIT_PER_ACCOUNT: 3,
    });
  });
});

describe('lists', () => {
  it('split on commas, trim, and drop empty entries', () => {
    const c = loadConfig({
      DATA_DIR: dir,
      SECRET_KEY: KEY,
      CORS_ORIGINS: ' https://a.example.com , https://b.example.com,, ',
      ALLOWED_HOSTS: 'skills.example.com',
      COMMAND_ALLOWED_PROGRAMS: 'python3,,node',
    });
    expect(c.CORS_ORIGINS).toEqual(['https://a.example.com', 'https://b.example.com']);
    expect(c.ALLOWED_HOSTS).toEqual(['skills.example.com']);
    expect(c.COMMAND_ALLOWED_PROGRAMS).toEqual(['python3', 'node']);
  });
});

describe('validation', () => {
  it('names every bad variable in one message', () => {
    const message = configError({
      PORT: 'abc',
      SECRET_KEY: 'too-short',
      LOG_LEVEL: 'loud',
      SIGNUP: 'maybe',
      DATABASE_URL: 'mysql://db/skills',
      TRUST_PROXY: 'perhaps',
      METRICS_TOKEN: 'short',
      PUBLIC_URL: 'not a url',
    });
    expect(message).toMatch(/^Invalid configuration:/);
    expect(message).toMatch(/PORT: must be a whole number from 0 to 65535/);
    expect(message).toMatch(/SECRET_KEY: must be at least 32 characters/);
    expect(message).toMatch(/DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
    for (const name of ['LOG_LEVEL', 'SIGNUP', 'TRUST_PROXY', 'METRICS_TOKEN', 'PUBLIC_URL']) {
      expect(message).toMatch(new RegExp(`^  ${name}: `, 'm'));
    }
    // The offending values (possibly secrets) are not echoed.
    expect(message).not.toContain('too-short');
  });

  it('refuses numbers out of range or not whole', () => {
    expect(configError({ PORT: '65536' })).toMatch(/PORT/);
    expect(configError({ PORT: '80.5' })).toMatch(/PORT/);
    expect(configError({ AUTH_RATE_LIMIT_PER_IP: '0' })).toMatch(
      /AUTH_RATE_LIMIT_PER_IP: must be a whole number from 1/,
    );
    expect(configError({ MAX_JSON_BODY_BYTES: '10' })).toMatch(/MAX_JSON_BODY_BYTES/);
  });

  it('requires SECRET_KEY with DATABASE_URL', () => {
    expect(configError({ DATABASE_URL: 'postgres://localhost/skillport' })).toMatch(
      /SECRET_KEY: required when DATABASE_URL is set/,
    );
    const c = loadConfig({
      DATA_DIR: dir,
      DATABASE_URL: 'postgresql://localhost/skillport',
      SECRET_KEY: KEY,
    });
    expect(c.DATABASE_URL).toBe('postgresql://localhost/skillport');
    expect(existsSync(path.join(dir, 'secret_key'))).toBe(false);
  });
});

describe('the generated secret key', () => {
  it('is created once in DATA_DIR with mode 0600 and reused', () => {
    const nested = path.join(dir, 'not', 'yet', 'there');
    const first = loadConfig({ DATA_DIR: nested });
    const file = path.join(nested, 'secret_key');
    expect(first.SECRET_KEY.length).toBeGreaterThanOrEqual(32);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.SECRET_KEY);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadConfig({ DATA_DIR: nested }).SECRET_KEY).toBe(first.SECRET_KEY);
    const other = mkdtempSync(path.join(tmpdir(), 'skillport-config-'));
    try {
      expect(loadConfig({ DATA_DIR: other }).SECRET_KEY).not.toBe(first.SECRET_KEY);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('is not written when SECRET_KEY is given, and a short key file is refused', () => {
    loadConfig({ DATA_DIR: dir, SECRET_KEY: KEY });
    expect(existsSync(path.join(dir, 'secret_key'))).toBe(false);
    writeFileSync(path.join(dir, 'secret_key'), 'short\n', { mode: 0o600 });
    expect(configError({})).toMatch(/secret_key: key shorter than 32 characters/);
  });
});
