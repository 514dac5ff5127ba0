import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { config as loadDotenv } from 'dotenv';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { openDatabase } from '../db/index.js';
import { startServer } from '../server/start.js';
import { createContext, VERSION } from '../server/context.js';

/** Flags override the matching environment variables. */
function configFrom(flags: { port?: string; host?: string; dataDir?: string; databaseUrl?: string }): Config {
  const env = { ...process.env };
  if (flags.port !== undefined) env.PORT = flags.port;
  if (flags.host !== undefined) env.HOST = flags.host;
  if (flags.dataDir !== undefined) env.DATA_DIR = flags.dataDir;
  if (flags.databaseUrl !== undefined) env.DATABASE_URL = flags.databaseUrl;
  return loadConfig(env);
}

const dataDirOption = () =>
  new Option('--data-dir <dir>', 'data folder: embedded database, generated secret key (env DATA_DIR)');
const databaseOption = () =>
  new Option('--database-url <url>', 'PostgreSQL URL; omit for the embedded database (env DATABASE_URL)');

export function buildCli(): Command {
  const program = new Command('skillport')
    .description('Skillport: a self-hosted, multi-user home for Agent Skills, served over MCP')
    .version(VERSION)
    .showHelpAfterError();

  program
    .command('serve')
    .description('start the HTTP server (REST API, MCP endpoints, web console); migrates the database first')
    .option('-p, --port <port>', 'port to listen on (env PORT, default 8123)')
    .option('--host <host>', 'interface to bind (env HOST, default 127.0.0.1)')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (flags) => {
      const server = await startServer(configFrom(flags));
      console.log(`Skillport ${VERSION} listening on ${server.url} (console: ${server.url}/, MCP: ${server.url}/mcp)`);
      const shutdown = async (signal: string) => {
        server.ctx.logger.info({ signal }, 'shutting down');
        await server.stop();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
    });

  program
    .command('migrate')
    .description('apply pending database migrations and exit')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (flags) => {
      const config = configFrom(flags);
      const db = await openDatabase({ url: config.DATABASE_URL, embeddedDir: config.embeddedDbDir });
      await db.close();
      console.log(`Database is up to date (${db.kind}).`);
    });

  const admin = program.command('admin').description('administration tasks');
  admin
    .command('create')
    .description('create an administrator account (works with SIGNUP=closed)')
    .requiredOption('--email <email>', 'email address')
    .requiredOption('--username <username>', 'username')
    .option('--password-stdin', 'read the password from standard input instead of generating one')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (flags) => {
      const ctx = await createContext(configFrom({ ...flags, port: '0' }));
      try {
        const generated = !flags.passwordStdin;
        const password = generated ? randomBytes(18).toString('base64url') : readFileSync(0, 'utf8').trim();
        const user = await ctx.accounts.createUser(
          { email: flags.email, username: flags.username, password },
          { isAdmin: true, actorId: null, ip: null, publicSignup: false },
        );
        console.log(`Created administrator ${user.username} <${user.email}> (${user.id}).`);
        if (generated) console.log(`Password (shown once): ${password}`);
      } finally {
        await ctx.close();
      }
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  if (existsSync('.env')) loadDotenv({ path: '.env', quiet: true });
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    const message = err instanceof Error ? err.message : String(err);
    const details = (err as { details?: unknown }).details;
    console.error(`skillport: ${message}${details ? `\n${JSON.stringify(details, null, 2)}` : ''}`);
    process.exit(1);
  }
}
