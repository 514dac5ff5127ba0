import { createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import busboy from 'busboy';
import {
  badRequest,
  payloadTooLarge,
  UnavailableError,
  UnsupportedMediaTypeError,
} from '../shared/errors.js';
import { readSkillArchive, type ArchiveLimits, type SkillFiles } from './package/index.js';

const ZIP_TYPES = [
  'application/zip',
  'application/x-zip-compressed',
  'application/octet-stream',
  'application/x-skill',
];

export interface UploadOptions {
  /** The parent of every upload's temp dir, owned by this server (created 0700). */
  dir: string;
  limits: ArchiveLimits;
  /** Uploads unpacked and stored at the same time; each holds up to `limits.maxUnpackedBytes` in memory. */
  concurrency: number;
  /** Further uploads allowed to wait (while their body arrives, or for a turn); beyond that: 503. */
  queue: number;
}

/** Seconds a client turned away by a full upload queue is asked to wait. */
export const UPLOAD_RETRY_AFTER_SECONDS = 5;
/** A temp dir this old is a leftover whoever made it (another host, or a reused pid); no upload lasts a day. */
export const STALE_UPLOAD_DIR_MS = 24 * 60 * 60 * 1000;

/**
 * The upload path: streams a request body to a private temp file, then unpacks it and hands the files to the
 * caller's `store` under a concurrency gate, so that memory and database work stay bounded however many
 * uploads arrive at once (bench/README.md, "Uploads under load").
 */
export class Uploads {
  private readonly gate: AdmissionGate;

  private constructor(private readonly opts: UploadOptions) {
    this.gate = new AdmissionGate(opts.concurrency, opts.queue);
  }

  /** Creates the temp-dir parent and removes what killed processes left in it. */
  static async open(opts: UploadOptions): Promise<Uploads> {
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    await sweepStaleUploadDirs(opts.dir);
    return new Uploads(opts);
  }

  /** Receives, unpacks and stores one archive; the temp dir is removed whatever happens. */
  async ingest<T>(req: Request, store: (pkg: SkillFiles) => Promise<T>): Promise<T> {
    const ticket = this.gate.admit();
    if (!ticket) {
      throw new UnavailableError(
        'server_busy',
        `Too many uploads are in progress; retry in ${UPLOAD_RETRY_AFTER_SECONDS} seconds`,
        { retry_after: UPLOAD_RETRY_AFTER_SECONDS },
      );
    }
    try {
      const upload = await receiveArchive(req, this.opts.limits.maxArchiveBytes, this.opts.dir);
      try {
        return await ticket.run(async () => store(await readSkillArchive(upload.file, this.opts.limits)));
      } finally {
        await upload.cleanup();
      }
    } finally {
      ticket.leave();
    }
  }
}

/**
 * At most `slots` tasks run at once and at most `slots + queue` are admitted (running, receiving or waiting);
 * admission is decided up front so that a refused client is told before it sends its body.
 */
class AdmissionGate {
  private admitted = 0;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly slots: number,
    private readonly queue: number,
  ) {}

  admit(): { run<T>(task: () => Promise<T>): Promise<T>; leave(): void } | null {
    if (this.admitted >= this.slots + this.queue) return null;
    this.admitted++;
    let left = false;
    return {
      run: (task) => this.run(task),
      leave: () => {
        if (!left) this.admitted--;
        left = true;
      },
    };
  }

  private async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter (running stays the same), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

// ---- temp dirs ------------------------------------------------------------------------------------------------

const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '_');
/** `<pid>@<host>.<random>`: who made a temp dir, so that a later start can tell whether its maker is gone. */
const DIR_NAME = /^(\d+)@(.+)\.[A-Za-z0-9]{6}$/;
/** Temp dirs of uploads in progress in this process (names), which a sweep must never take. */
const inProgress = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes upload temp dirs whose process is gone: made on this host by a pid that no longer runs (or by this
 * very pid but not by this process, i.e. an earlier run killed before its pid was reused), or older than
 * STALE_UPLOAD_DIR_MS whoever made them (another host sharing the folder, whose pids mean nothing here).
 * Dirs of live processes, including other instances sharing the folder, are left alone. Returns the removed names.
 */
export async function sweepStaleUploadDirs(dir: string, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir)) {
    const full = path.join(dir, name);
    const stat = await lstat(full).catch(() => null);
    if (!stat) continue;
    const owner = DIR_NAME.exec(name);
    const ownerPid = owner ? Number(owner[1]) : NaN;
    if (inProgress.has(name)) continue;
    const deadHere = owner?.[2] === HOST && (ownerPid === process.pid || !isAlive(ownerPid));
    if (deadHere || now - stat.mtimeMs > STALE_UPLOAD_DIR_MS) {
      await rm(full, { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

// ---- receiving ------------------------------------------------------------------------------------------------

/**
 * Streams an uploaded archive (raw zip body, or the `file` field of multipart form data) to a private temp file
 * under `parent`, stopping as soon as it passes `maxBytes`. The archive is never held in memory. The caller
 * must call `cleanup`.
 */
async function receiveArchive(
  req: Request,
  maxBytes: number,
  parent: string,
): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const contentType = (req.headers.get('content-type') ?? '').toLowerCase();
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) throw tooLarge(maxBytes);
  if (!req.body)
    throw badRequest('The request has no body; send the zip as application/zip or multipart field "file"');
  const dir = await mkdtemp(path.join(parent, `${process.pid}@${HOST}.`));
  const file = path.join(dir, 'archive.zip');
  inProgress.add(path.basename(dir));
  const cleanup = async () => {
    await rm(dir, { recursive: true, force: true });
    inProgress.delete(path.basename(dir));
  };
  try {
    const body = Readable.fromWeb(req.body as unknown as WebReadableStream<Uint8Array>);
    if (contentType.startsWith('multipart/form-data')) {
      await receiveMultipart(body, req.headers.get('content-type')!, file, maxBytes);
    } else if (ZIP_TYPES.some((t) => contentType.startsWith(t))) {
      await pipeline(body, capped(maxBytes), createWriteStream(file, { mode: 0o600 }));
    } else {
      throw new UnsupportedMediaTypeError(
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
