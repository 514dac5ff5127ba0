import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

export interface TestS3 {
  /** The folder s3rver keeps objects in: `<dir>/<bucket>/<key>._S3rver_object`. */
  dir: string;
  env: Record<string, string>;
  objectFile(key: string): string;
  close(): Promise<void>;
}

export const S3_SECRET = 'test-secret-that-must-never-be-logged';

/** An S3-compatible server (s3rver) on 127.0.0.1 and a random port, storing in a temporary folder. */
export async function startS3(bucket = 'skillport-blobs'): Promise<TestS3> {
  const dir = mkdtempSync(path.join(tmpdir(), 'skillport-s3-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    directory: dir,
    silent: true,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = (await server.run()) as { port: number };
  return {
    dir,
    env: {
      BLOB_STORE: 's3',
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_BUCKET: bucket,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: S3_SECRET,
      S3_PREFIX: 'blobs/',
    },
    objectFile: (key) => path.join(dir, bucket, `${key}._S3rver_object`),
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
