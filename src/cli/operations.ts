import path from 'node:path';
import { type Command, Option } from 'commander';
import { parseEnv, s3Settings, ConfigError, type Env } from '../config/index.js';
import type { DatabaseHandle } from '../db/index.js';
import type { S3BlobStore } from '../skills/index.js';

/**
 * Operations commands: `backup`, `restore`, `blobs migrate`, `blobs gc`. They open the database directly (no
 * server). On the embedded database they need the server stopped: PGlite's data dir belongs to one process.
 */
interface Flags {
  dataDir?: string;
  databaseUrl?: string;
}

const dataDirOption = () =>
  new Option('--data-dir <dir>', 'data folder: embedded database, generated secret key (env DATA_DIR)');
const databaseOption = () =>
  new Option('--database-url <url>', 'PostgreSQL URL; omit for the embedded database (env DATABASE_URL)');

function envFrom(flags: Flags): Env & { dataDir: string } {
  const env = { ...process.env };
  if (flags.dataDir !== undefined) env.DATA_DIR = flags.dataDir;
  if (flags.databaseUrl !== undefined) env.DATABASE_URL = flags.databaseUrl;
  const parsed = parseEnv(env);
  return { ...parsed, dataDir: path.resolve(parsed.DATA_DIR) };
}

async function withDatabase<T>(
  env: Env & { dataDir: string },
  migrate: boolean,
  fn: (db: DatabaseHandle, s3: S3BlobStore | null) => Promise<T>,
): Promise<T> {
  const [{ openDatabase }, { S3BlobStore }] = await Promise.all([
    import('../db/index.js'),
    import('../skills/index.js'),
  ]);
  const db = await openDatabase({
    url: env.DATABASE_URL,
    embeddedDir: path.join(env.dataDir, 'db'),
    poolSize: 2,
    migrate,
  });
  try {
    const settings = s3Settings(env);
    const s3 = settings ? await S3BlobStore.open(db.db, settings) : null;
    await s3?.check();
    const result = await fn(db, s3);
    await s3?.settled();
    return result;
  } finally {
    await db.close();
  }
}

/** The embedded set-up's generated key travels with the backup (a configured SECRET_KEY is the operator's). */
const secretKeyFile = (env: Env & { dataDir: string }) =>
  env.DATABASE_URL || env.SECRET_KEY ? undefined : path.join(env.dataDir, 'secret_key');

export function addOperationsCommands(program: Command, version: string): void {
  addBackupCommands(program, version);
  addBlobsCommands(program);
}

/** `backup` and `restore`. */
function addBackupCommands(program: Command, version: string): void {
  program
    .command('backup')
    .description(
      'write one consistent archive (database, every blob, manifest with checksums) and prune old ones; ' +
        'with the embedded database, stop the server first',
    )
    .option('--out <dir>', 'folder for the archives (default DATA_DIR/backups)')
    .option('--keep-days <days>', 'delete archives in that folder older than this many days', '7')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (flags: Flags & { out?: string; keepDays: string }) => {
      const keepDays = Number(flags.keepDays);
      if (!Number.isInteger(keepDays) || keepDays < 1)
        throw new ConfigError('--keep-days: a whole number ≥ 1');
      const env = envFrom(flags);
      const { createBackup, pruneBackups } = await import('../backup/index.js');
      const outDir = path.resolve(flags.out ?? path.join(env.dataDir, 'backups'));
      const { file, manifest } = await withDatabase(env, false, (database, s3) =>
        createBackup({
          database,
          databaseUrl: env.DATABASE_URL,
          s3,
          outDir,
          secretKeyFile: secretKeyFile(env),
          version,
        }),
      );
      const { users = 0, skills = 0, skill_versions: versions = 0, blobs = 0 } = manifest.counts;
      console.log(
        `Wrote ${file}: ${users} users, ${skills} skills, ${versions} versions, ${blobs} blobs (${manifest.schema.migration}).`,
      );
      for (const name of await pruneBackups(outDir, keepDays, new Date(), [path.basename(file)])) {
        console.log(`Deleted ${name} (older than ${keepDays} days).`);
      }
    });

  program
    .command('restore')
    .description(
      'verify an archive, then restore it into an empty database (embedded: the data dir; or DATABASE_URL); ' +
        'blobs go to the configured BLOB_STORE',
    )
    .argument('<archive>', 'a skillport-backup-*.zip file')
    .option('--force', 'replace the contents of a database that is not empty')
    .option('--check', 'only verify the archive (checksums, manifest) and print its summary')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (archive: string, flags: Flags & { force?: boolean; check?: boolean }) => {
      const file = path.resolve(archive);
      const { restoreBackup, verifyBackup } = await import('../backup/index.js');
      if (flags.check) {
        const manifest = await verifyBackup(file);
        console.log(`${file} is intact: taken ${manifest.created_at}, schema ${manifest.schema.migration}.`);
        console.log(JSON.stringify(manifest.counts));
        return;
      }
      const env = envFrom(flags);
      const manifest = await withDatabase(env, true, (database, s3) =>
        restoreBackup({ file, database, s3, force: flags.force, secretKeyFile: secretKeyFile(env) }),
      );
      console.log(`Restored the backup of ${manifest.created_at} (${JSON.stringify(manifest.counts)}).`);
    });
}

/** `blobs migrate` and `blobs gc`. */
function addBlobsCommands(program: Command): void {
  const blobs = program.command('blobs').description('where file contents live (BLOB_STORE)');
  blobs
    .command('migrate')
    .description(
      'move file contents to the bucket (--to s3) or back into the database (--to db); resumable, and safe while ' +
        'servers run (they need BLOB_STORE=s3 until a move back has finished)',
    )
    .addOption(new Option('--to <store>', 'destination').choices(['s3', 'db']).makeOptionMandatory())
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (flags: Flags & { to: 's3' | 'db' }) => {
      const env = envFrom(flags);
      const { migrateBlobs } = await import('../skills/index.js');
      await withDatabase({ ...env, BLOB_STORE: 's3' }, false, async (database, s3) => {
        const report = await migrateBlobs(database.db, s3!, flags.to, (r) =>
          console.log(`… ${r.moved} blobs (${r.bytes} bytes) moved`),
        );
        console.log(
          `Moved ${report.moved} blobs (${report.bytes} bytes) to ${flags.to === 's3' ? 'the bucket' : 'the database'}.`,
        );
      });
    });
  blobs
    .command('gc')
    .description(
      'delete blobs no version references and, with BLOB_STORE=s3, objects in the bucket no row needs',
    )
    .option('--grace-minutes <minutes>', 'leave objects younger than this alone', '60')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (flags: Flags & { graceMinutes: string }) => {
      const env = envFrom(flags);
      const { DatabaseBlobStore } = await import('../skills/index.js');
      await withDatabase(env, false, async (database, s3) => {
        const store = s3 ?? new DatabaseBlobStore();
        const rows = await database.db.transaction((tx) => store.collectGarbage(tx));
        if (!s3) return console.log(`Deleted ${rows} unreferenced blobs.`);
        await s3.settled();
        const swept = await s3.sweep(Number(flags.graceMinutes) * 60_000);
        console.log(
          `Deleted ${rows} unreferenced blob rows and ${swept.deleted} of ${swept.checked} objects.`,
        );
      });
    });
}
