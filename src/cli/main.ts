import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { rotateSecrets } from '../shared/secret-rotation.js';
import { SecretBox } from '../shared/secrets.js';
import { config as loadDotenv } from 'dotenv';
import { ConfigError, loadConfig, parseEnv, type Config } from '../config/index.js';
import { DataDirLockedError, openDatabase } from '../db/index.js';
import { startServer } from '../server/start.js';
import { loggableError } from '../http/errors.js';
import { createContext, VERSION, type AppContext } from '../server/context.js';
import { exportSkills, importSkillFolders } from '../skills/index.js';
import { runStdioCommand } from '../mcp/index.js';
import { commandTools } from '../tools/index.js';
import { createCommandSandbox } from '../server/command-sandbox.js';
import { addOperationsCommands } from './operations.js';

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

function buildCli(): Command {
  const program = new Command('skillport')
    .description('Skillport: a self-hosted, multi-user home for Agent Skills, served over MCP')
    .version(VERSION)
    .showHelpAfterError();

  addServerCommands(program);
  addAdminCommands(program);
  // `skillport --help` documents every command and flag, not only the command names.
  program.addHelpText('after', () => commandReference(program));
  addSkillsCommands(program);
  addSecretsCommands(program);
  addOperationsCommands(program, VERSION);
  return program;
}

/** serve, migrate, stdio: running Skillport. */
function addServerCommands(program: Command): void {
  program
    .command('serve')
    .description('start the HTTP server (REST API, MCP endpoints, web console); migrates the database first')
    .option('-p, --port <port>', 'port to listen on (env PORT, default 8123)')
    .option('--host <host>', 'interface to bind (env HOST, default 127.0.0.1)')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (flags) => {
      const server = await startServer(configFrom(flags));
      console.log(
        `Skillport ${VERSION} listening on ${server.url} (console: ${server.url}/, MCP: ${server.url}/mcp)`,
      );
      const shutdown = async (signal: string) => {
        server.ctx.logger.info({ signal }, 'shutting down');
        await server.stop();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
      // A promise nobody awaited that failed (a database driver, a client gone mid-request) must not stop the
      // server for every user: it is logged. An uncaught exception still ends the process (state unknown).
      process.on('unhandledRejection', (reason) =>
        server.ctx.logger.error({ err: loggableError(reason) }, 'unhandled promise rejection'),
      );
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

  program
    .command('stdio')
    .description(
      'serve the skills of a local folder over MCP stdio: single user, no accounts, no database (logs on stderr)',
    )
    .requiredOption(
      '--skills-dir <dir>',
      'folder searched recursively for skill folders (with a SKILL.md); changes are picked up live',
    )
    .action(async (flags: { skillsDir: string }) => {
      const env = parseEnv();
      await runStdioCommand({
        skillsDir: flags.skillsDir,
        version: VERSION,
        // run_shell_command with the same sandbox and COMMAND_* settings as the server (not for COMMANDS_ENABLED=false).
        tools: async (logger) => {
          if (!env.COMMANDS_ENABLED) return { providers: [], close: async () => undefined };
          const sandbox = await createCommandSandbox(env, logger, []);
          return {
            providers: [
              (views) =>
                commandTools(views, {
                  sandbox,
                  maxTimeoutSeconds: env.COMMAND_TIMEOUT,
                  enabled: async () => true,
                }),
            ],
            close: () => sandbox.close(),
          };
        },
      });
    });
}

/** admin create. */
function addAdminCommands(program: Command): void {
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
      await withContext(flags, async (ctx) => {
        const generated = !flags.passwordStdin;
        const password = generated ? randomBytes(18).toString('base64url') : readFileSync(0, 'utf8').trim();
        const user = await ctx.accounts.createUser(
          { email: flags.email, username: flags.username, password },
          { isAdmin: true, actorId: null, ip: null, publicSignup: false },
        );
        console.log(`Created administrator ${user.username} <${user.email}> (${user.id}).`);
        if (generated) console.log(`Password (shown once): ${password}`);
      });
    });
}

/** skills import / export, from the server's shell. */
function addSkillsCommands(program: Command): void {
  const skills = program.command('skills').description("manage a user's skills from the server's shell");
  skills
    .command('import')
    .description(
      'import every skill folder under DIR (recursively; .git and node_modules skipped) for a user',
    )
    .argument('<dir>', 'folder to search for skill folders (folders with a SKILL.md)')
    .requiredOption('--user <email>', 'the account that will own the skills')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (dir: string, flags) => {
      await withContext(flags, async (ctx) => {
        const principal = await ctx.accounts.principalByEmail(flags.user);
        const reports = await importSkillFolders(ctx.skills, principal, path.resolve(dir), ctx.archiveLimits);
        if (!reports.length) console.log(`No skill folders (with a SKILL.md) under ${dir}.`);
        for (const r of reports) {
          const where = path.relative(process.cwd(), r.folder) || '.';
          if (r.status === 'failed') console.log(`failed     ${where}: ${r.error}`);
          else {
            const version = r.version ? ` v${r.version}` : '';
            const warnings = r.warnings?.length
              ? ` (${r.warnings.length} warnings: ${r.warnings.join('; ')})`
              : '';
            console.log(`${r.status.padEnd(10)} ${r.name}${version} from ${where}${warnings}`);
          }
        }
        const failed = reports.filter((r) => r.status === 'failed').length;
        console.log(`${reports.length - failed} imported or unchanged, ${failed} failed.`);
        if (failed) process.exitCode = 1;
      });
    });
  skills
    .command('export')
    .description("write the current version of each of a user's own skills to DIR/<name>/")
    .argument('<dir>', 'destination folder')
    .requiredOption('--user <email>', 'the account whose skills are exported')
    .option('--overwrite', 'write into skill folders that already exist')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (dir: string, flags) => {
      await withContext(flags, async (ctx) => {
        const principal = await ctx.accounts.principalByEmail(flags.user);
        const written = await exportSkills(ctx.skills, principal.userId, path.resolve(dir), {
          overwrite: Boolean(flags.overwrite),
        });
        for (const w of written) console.log(`exported   ${w.name} v${w.version} (${w.files} files)`);
        console.log(`${written.length} skills written to ${dir}.`);
      });
    });
}

/** secrets rotate: re-seal every kept secret under the current SECRET_KEY. */
function addSecretsCommands(program: Command): void {
  const secrets = program.command('secrets').description('secrets kept at rest (sealed under SECRET_KEY)');
  secrets
    .command('rotate')
    .description(
      "after changing SECRET_KEY: re-seal every kept secret (upstream MCP servers' env and header values, …) that is still sealed under the old key",
    )
    .option(
      '--old-key <key>',
      'the previous SECRET_KEY (visible to other local users in the process list: prefer --old-key-stdin)',
    )
    .option('--old-key-stdin', 'read the previous SECRET_KEY from standard input')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (flags) => {
      const oldKey: string = flags.oldKeyStdin ? readFileSync(0, 'utf8').trim() : (flags.oldKey ?? '');
      if (oldKey.length < 32)
        throw new Error('Give the previous SECRET_KEY with --old-key or --old-key-stdin');
      await withContext(flags, async (ctx) => {
        const report = await rotateSecrets(ctx.secretHolders, new SecretBox(oldKey), ctx.secretBox);
        for (const r of report) console.log(`${r.name}: ${r.resealed} secrets re-sealed`);
      });
    });
}

/** Opens the services for a one-off command and always closes them. */
async function withContext(
  flags: Record<string, string>,
  fn: (ctx: AppContext) => Promise<void>,
): Promise<void> {
  const ctx = await createContext(configFrom({ ...flags, port: '0' }));
  try {
    await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** Every leaf command with its usage, description and options, for the top-level help. */
function commandReference(program: Command): string {
  const help = program.createHelp();
  const lines = ['', 'Commands and their options:'];
  const walk = (cmd: Command, path: string) => {
    for (const sub of cmd.commands) {
      const name = `${path} ${sub.name()}`;
      if (sub.commands.length) {
        walk(sub, name);
        continue;
      }
      lines.push('', `  ${name} ${sub.usage()}`, `    ${sub.description()}`);
      for (const option of help.visibleOptions(sub)) {
        if (option.long === '--help') continue;
        lines.push(`    ${help.optionTerm(option).padEnd(26)} ${help.optionDescription(option)}`);
      }
    }
  };
  walk(program, program.name());
  lines.push(
    '',
    'Environment variables (PORT, DATA_DIR, DATABASE_URL, SECRET_KEY, …) are listed in README.md.',
  );
  return lines.join('\n');
}

/** What to do instead when the embedded database belongs to a running server, per command. */
function lockedAdvice(command: string): string {
  const stopFirst = 'Stop that server (Ctrl-C or SIGTERM), run this command, then start the server again';
  if (command === 'serve') return 'Stop it first, or give this server a --data-dir of its own.';
  if (command === 'import') {
    return (
      `${stopFirst}; or upload each skill through the running server: ` +
      `curl -H "authorization: Bearer $TOKEN" -F file=@skill.zip http://HOST:PORT/api/v1/skills.`
    );
  }
  if (command === 'export') {
    return `${stopFirst}; or download each skill through the running server: GET /api/v1/skills/NAME/versions/N/content (a zip).`;
  }
  return `${stopFirst}.`;
}

export async function main(argv: string[]): Promise<void> {
  if (existsSync('.env')) loadDotenv({ path: '.env', quiet: true });
  const cli = buildCli();
  let command = '';
  cli.hook('preAction', (_root, action) => void (command = action.name()));
  try {
    await cli.parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    if (err instanceof DataDirLockedError) {
      console.error(`skillport: ${err.message}\n${lockedAdvice(command)}`);
      process.exit(1);
    }
    const message = err instanceof Error ? err.message : String(err);
    const details = (err as { details?: unknown }).details;
    console.error(`skillport: ${message}${details ? `\n${JSON.stringify(details, null, 2)}` : ''}`);
    process.exit(1);
  }
}

// Run directly (`tsx src/cli/main.ts …`) as well as through bin/skillport.js.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main(process.argv);
}
