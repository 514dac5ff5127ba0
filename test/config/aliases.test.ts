import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'skillport-aliases-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the deployment guide's variable names", () => {
  it('MAX_DB_CONNECTIONS sets the pool size and SKILL_STORAGE_PATH the data dir', () => {
    const c = loadConfig({ SKILL_STORAGE_PATH: dir, MAX_DB_CONNECTIONS: '25' });
    expect(c.DATABASE_POOL_SIZE).toBe(25);
    expect(c.DATA_DIR).toBe(dir);
  });

  it('are validated like the names they stand for', () => {
    expect(() => loadConfig({ DATA_DIR: dir, MAX_DB_CONNECTIONS: '0' })).toThrow(
      /DATABASE_POOL_SIZE: must be a whole number from 1 to 200/,
    );
  });

  it('agreeing with our own name is fine; disagreeing is an error naming both', () => {
    expect(
      loadConfig({ DATA_DIR: dir, DATABASE_POOL_SIZE: '7', MAX_DB_CONNECTIONS: '7' }).DATABASE_POOL_SIZE,
    ).toBe(7);
    expect(() => loadConfig({ DATA_DIR: dir, DATABASE_POOL_SIZE: '7', MAX_DB_CONNECTIONS: '8' })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ DATA_DIR: dir, DATABASE_POOL_SIZE: '7', MAX_DB_CONNECTIONS: '8' })).toThrow(
      'MAX_DB_CONNECTIONS: another name for DATABASE_POOL_SIZE; set one of the two',
    );
  });
});
