import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseEnv, s3Settings } from '../../src/config/index.js';
import { startTestServer } from '../helpers/server.js';

const SECRET = 'a-secret-access-key-that-must-not-appear';

describe('object storage settings', () => {
  it('defaults to the database store', () => {
    expect(s3Settings(parseEnv({}))).toBeNull();
  });

  it('lists every missing S3 variable, and rejects malformed ones', () => {
    const error = (() => {
      try {
        s3Settings(parseEnv({ BLOB_STORE: 's3', S3_SECRET_ACCESS_KEY: SECRET }));
      } catch (err) {
        return err as Error;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    for (const name of ['S3_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID'])
      expect(error!.message).toContain(name);
    expect(error!.message).not.toContain(SECRET);
    expect(() => parseEnv({ S3_ENDPOINT: 'ftp://example.com' })).toThrow(/S3_ENDPOINT/);
    expect(() => parseEnv({ S3_ENDPOINT: 'https://example.com/a/path' })).toThrow(/without a path/);
    expect(() => parseEnv({ S3_PREFIX: 'no-trailing-slash' })).toThrow(/S3_PREFIX/);
    expect(() => parseEnv({ BLOB_STORE: 'filesystem' })).toThrow(/BLOB_STORE/);
  });

  it('reads a complete configuration', () => {
    const settings = s3Settings(
      parseEnv({
        BLOB_STORE: 's3',
        S3_ENDPOINT: 'https://s3.eu-central-1.amazonaws.com',
        S3_BUCKET: 'skillport-blobs',
        S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
        S3_SECRET_ACCESS_KEY: SECRET,
        S3_PREFIX: 'prod/skillport/',
      }),
    );
    expect(settings).toEqual({
      endpoint: 'https://s3.eu-central-1.amazonaws.com',
      bucket: 'skillport-blobs',
      accessKeyId: 'AKIAEXAMPLE',
      secretAccessKey: SECRET,
      region: 'us-east-1',
      prefix: 'prod/skillport/',
    });
  });

  it('refuses to start when the bucket cannot be reached, without printing the secret', async () => {
    const env = {
      BLOB_STORE: 's3',
      S3_ENDPOINT: 'http://127.0.0.1:9',
      S3_BUCKET: 'missing-bucket',
      S3_ACCESS_KEY_ID: 'id',
      S3_SECRET_ACCESS_KEY: SECRET,
    };
    expect(() => loadConfig({ ...env, SECRET_KEY: 'x'.repeat(32), DATA_DIR: '/tmp/unused' })).not.toThrow();
    const failure = await startTestServer(env).then(
      async (t) => {
        await t.close();
        return null;
      },
      (err: Error) => err,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(String(failure?.stack)).not.toContain(SECRET);
  }, 90_000);
});
