import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import busboy from 'busboy';
import { AppError, badRequest, payloadTooLarge } from '../shared/errors.js';

const ZIP_TYPES = [
  'application/zip',
  'application/x-zip-compressed',
  'application/octet-stream',
  'application/x-skill',
];

/**
 * Streams an uploaded archive (raw zip body, or the `file` field of multipart form data) to a private temp file,
 * stopping as soon as it passes `maxBytes`. The archive is never held in memory. The caller must call `cleanup`.
 */
export async function receiveArchive(
  req: Request,
  maxBytes: number,
): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const contentType = (req.headers.get('content-type') ?? '').toLowerCase();
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) throw tooLarge(maxBytes);
  if (!req.body)
    throw badRequest('The request has no body; send the zip as application/zip or multipart field "file"');
  const dir = await mkdtemp(path.join(tmpdir(), 'skillport-upload-'));
  const file = path.join(dir, 'archive.zip');
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const body = Readable.fromWeb(req.body as unknown as WebReadableStream<Uint8Array>);
    if (contentType.startsWith('multipart/form-data')) {
      await receiveMultipart(body, req.headers.get('content-type')!, file, maxBytes);
    } else if (ZIP_TYPES.some((t) => contentType.startsWith(t))) {
      await pipeline(body, capped(maxBytes), createWriteStream(file, { mode: 0o600 }));
    } else {
      throw new AppError(
        415,
        'unsupported_media_type',
        'Send the archive as application/zip or multipart/form-data',
      );
    }
    return { file, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function receiveMultipart(
  body: Readable,
  contentType: string,
  file: string,
  maxBytes: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        limits: { files: 1, fields: 10, fileSize: maxBytes + 1 },
      });
    } catch {
      reject(badRequest('Malformed multipart/form-data body'));
      return;
    }
    let received: Promise<void> | null = null;
    parser.on('file', (field, stream) => {
      if (field !== 'file' || received) {
        stream.resume();
        return;
      }
      received = pipeline(stream, capped(maxBytes), createWriteStream(file, { mode: 0o600 }));
      received.catch(reject);
    });
    parser.on('error', () => reject(badRequest('Malformed multipart/form-data body')));
    parser.on('close', () => {
      if (!received) reject(badRequest('The multipart body has no "file" field'));
      else received.then(resolve, reject);
    });
    body.on('error', reject);
    body.pipe(parser);
  });
}

function capped(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > maxBytes) cb(tooLarge(maxBytes));
      else cb(null, chunk);
    },
  });
}

const tooLarge = (maxBytes: number) =>
  payloadTooLarge(`The archive is larger than ${Math.round(maxBytes / 1024 / 1024)} MiB`, {
    limit_bytes: maxBytes,
  });
