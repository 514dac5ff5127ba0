import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { rotateSecrets } from '../shared/secret-rotation.js';
import { SecretBox } from '../shared/secrets.js';
import { config as loadDotenv } from 'dotenv';
import type { Config } from '../config/index.js';
import type { AppContext } from '../server/context.js';
import { VERSION } from '../shared/version.js';
import { DataDirLockedError } from '../db/dir-lock.js';
import { addOperationsCommands } from './operations.js';

// Everything heavy (the server, the database and PGlite, the MCP SDK, the sandbox) is imported by the command that
// needs it, so `--version`, `--help` and `stdio` do not pay for the rest (issue 11: 1.3 s before, see bench/cli).

/** Flags override the matching environment variables. */
async function configFrom(flags: {
  port?: string;
  host?: string;
  dataDir?: string;
  databaseUrl?: string;
  workers?: string;
}): Promise<Config> {
  const { loadConfig } = await import('../config/index.js');
  const env = { ...process.env };
  if (flags.workers !== undefined) env.WORKERS = flags.workers;
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
    .option(
      '--workers <n>',
      'processes sharing the port (env WORKERS, default 1; more than 1 needs DATABASE_URL and REDIS_URL)',
    )
    .action(async (flags) => {
      const { serve } = await import('../server/serve.js');
      const config = await configFrom(flags);
      const url = await serve(config);
      const workers = config.WORKERS > 1 ? ` with ${config.WORKERS} workers` : '';
      if (url)
        console.log(`Skillport ${VERSION} listening on ${url}${workers} (console: ${url}/, MCP: ${url}/mcp)`);
    });

  program
    .command('migrate')
    .description('apply pending database migrations and exit')
    .addOption(dataDirOption())
    .addOption(databaseOption())
    .action(async (flags) => {
      const config = await configFrom(flags);
      const { openDatabase } = await import('../db/index.js');
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
    .option(
      '--only-skills <names>',
      'serve only these skills (comma-separated), as an API key restricted to them: others answer like missing ones',
      (value: string) =>
        value
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean),
    )
    .action(async (flags: { skillsDir: string; onlySkills?: string[] }) => {
      const [{ parseEnv }, { runStdioCommand }] = await Promise.all([
        import('../config/index.js'),
        import('../mcp/stdio.js'),
      ]);
      const env = parseEnv();
      await runStdioCommand({
        skillsDir: flags.skillsDir,
        ...(flags.onlySkills ? { onlySkills: flags.onlySkills } : {}),
        version: VERSION,
        // run_shell_command with the same sandbox and COMMAND_* settings as the server (not for COMMANDS_ENABLED=false).
        tools: async (logger) => {
          if (!env.COMMANDS_ENABLED) return { providers: [], close: async () => undefined };
          const [{ createCommandSandbox }, { commandTools }] = await Promise.all([
            import('../server/command-sandbox.js'),
            import('../tools/index.js'),
          ]);
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
        const { importSkillFolders } = await import('../skills/index.js');
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
        const { exportSkills } = await import('../skills/index.js');
        const written = await exportSkills(ctx.skills, principal, path.resolve(dir), {
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
        const report = await rotateSecrets(ctx.secretHolders, new SecretBox(oldKey), ctx.secrets);
        for (const r of report) console.log(`${r.name}: ${r.resealed} secrets re-sealed`);
      });
    });
}

/** Opens the services for a one-off command and always closes them. */
async function withContext(
  flags: Record<string, string>,
  fn: (ctx: AppContext) => Promise<void>,
): Promise<void> {
  const { createContext } = await import('../server/context.js');
  const ctx = await createContext(await configFrom({ ...flags, port: '0' }));
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
    const { ConfigError } = await import('../config/index.js');
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
