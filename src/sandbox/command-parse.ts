import { parse } from 'shell-quote';
import { type AppError, InvalidInputError } from '../shared/errors.js';
import { normalizeRelativePath } from './paths.js';

/**
 * Whitelist-mode command parsing. The command line is split into argv by shell-quote WITHOUT any shell ever seeing
 * it, and everything a shell would interpret is refused rather than ignored: operators (`;`, `|`, `&&`, `&`, `(`),
 * redirections, globs, comments, `$` expansions/substitutions, backticks, leading `VAR=value` assignments.
 * The peer product checked only the first word and then ran the whole string through `sh -c`; here the argv we
 * validate is exactly the argv we exec.
 */

const MAX_COMMAND_LENGTH = 8192;

/**
 * Never runnable in whitelist mode, even if an operator adds them to `allowedPrograms`: they run other programs
 * (defeating the allowlist), change privileges or talk to the network.
 */
export const BLOCKED_PROGRAMS: ReadonlySet<string> = new Set([
  'eval',
  'exec',
  'source',
  '.',
  'sudo',
  'su',
  'doas',
  'pkexec',
  'curl',
  'wget',
  'nc',
  'ncat',
  'netcat',
  'socat',
  'telnet',
  'ssh',
  'scp',
  'sftp',
  'ftp',
  'env',
  'xargs',
  'nohup',
  'setsid',
  'timeout',
  'nice',
  'stdbuf',
  'chroot',
  'unshare',
  'nsenter',
  'setpriv',
  'prlimit',
  'busybox',
]);

type InterpreterKind = 'python' | 'node' | 'shell';

function interpreterKind(program: string): InterpreterKind | null {
  if (/^python(3(\.\d+)?)?$/.test(program)) return 'python';
  if (program === 'node' || program === 'nodejs') return 'node';
  if (program === 'bash' || program === 'sh' || program === 'dash') return 'shell';
  return null;
}

/**
 * Interpreter options allowed before the script. Everything else is refused, in particular inline code:
 * `python -c`, `python -m` (runs any installed module, e.g. `pty`, `http.server`), `python -` (stdin),
 * `node -e/-p/--eval/--print`, `node -r/--require/--import/--loader` (preloads arbitrary code),
 * `node --inspect` (opens a debugger port), `bash -c/-s/-i`. Inline code is refused because it bypasses the
 * allowlist entirely: `bash -c "curl … | sh"` would make the program check meaningless (the peer's hole). In
 * whitelist mode an interpreter may only run a script file that is part of the skill or of the run's input.
 */
const SAFE_INTERPRETER_OPTIONS: Record<InterpreterKind, ReadonlySet<string>> = {
  python: new Set(['-u', '-B', '-E', '-I', '-O', '-OO', '-s', '-S', '-b', '-bb', '-q']),
  node: new Set([
    '--no-warnings',
    '--no-deprecation',
    '--enable-source-maps',
    '--trace-warnings',
    '--trace-uncaught',
  ]),
  shell: new Set(['-e', '-u', '-x', '-v', '-eu', '-ue', '-ex', '-xe', '-eux']),
};

const INLINE_CODE_OPTIONS: Record<InterpreterKind, ReadonlySet<string>> = {
  python: new Set(['-c', '-m', '-']),
  node: new Set([
    '-e',
    '-p',
    '-r',
    '-',
    '--eval',
    '--print',
    '--require',
    '--import',
    '--loader',
    '--experimental-loader',
  ]),
  shell: new Set(['-c', '-s', '-i', '-']),
};

/** Substrings refused anywhere in an argument (host paths the skill has no business naming). */
const SENSITIVE_SUBSTRINGS = [
  '/proc',
  '/sys/',
  '/etc/shadow',
  '/etc/gshadow',
  '/etc/sudoers',
  '/dev/tcp',
  '/dev/udp',
];

export interface ParsedCommand {
  /** Program as it will be looked up (`python` already mapped to `python3`). */
  program: string;
  /** Arguments after the program, exactly as they will be passed to execve. */
  args: string[];
  /** The script file (normalised, relative to the work dir) when the program is an interpreter. */
  script?: string;
}

export interface ParseOptions {
  allowedPrograms: readonly string[];
  /** Normalised relative paths of every file placed in the work dir (skill + input). */
  knownFiles: ReadonlySet<string>;
}

export type RefusalProblem =
  | 'empty'
  | 'too_long'
  | 'control_characters'
  | 'unbalanced_quotes'
  | 'backticks'
  | 'substitution'
  | 'operator'
  | 'redirection'
  | 'glob'
  | 'comment'
  | 'env_assignment'
  | 'program_path'
  | 'blocked_program'
  | 'program_not_allowed'
  | 'inline_code'
  | 'interpreter_option'
  | 'missing_script'
  | 'script_not_found'
  | 'absolute_path'
  | 'parent_path'
  | 'sensitive_path'
  | 'dangerous_command';

export function refuse(problem: RefusalProblem, message: string, token?: string): AppError {
  return new InvalidInputError('command_refused', `Command refused: ${message}`, {
    problem,
    ...(token === undefined ? {} : { token }),
  });
}

const REDIRECTIONS = new Set([
  '<',
  '>',
  '>>',
  '>&',
  '<&',
  '<>',
  '&>',
  '&>>',
  '>|',
  '<<',
  '<<-',
  '<<<',
  '>(',
  '<(',
]);

/** Walks the raw string like a POSIX shell tokenizer would, only to find quoting problems and live `$`/backticks. */
function prescan(command: string): void {
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      continue;
    }
    if (c === '\\') {
      i++; // escaped character (outside quotes or inside double quotes): literal
      continue;
    }
    if (c === '`') throw refuse('backticks', 'backtick command substitution is not allowed', '`');
    if (c === '$')
      throw refuse('substitution', 'variable expansion and $(…) substitution are not allowed', '$');
    if (quote === '"') {
      if (c === '"') quote = null;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
  }
  if (quote) throw refuse('unbalanced_quotes', 'unbalanced quotes');
}

const SUBSTITUTION = Symbol('substitution');
interface SubstitutionMarker {
  [SUBSTITUTION]: true;
  name: string;
}

function checkArgument(arg: string): void {
  const parts = arg.split(/[=,:]/);
  for (const part of parts) {
    if (part.startsWith('/')) {
      throw refuse(
        'absolute_path',
        `absolute path ${JSON.stringify(arg)} (only paths inside the work dir)`,
        arg,
      );
    }
    if (part.startsWith('~')) throw refuse('absolute_path', `home-relative path ${JSON.stringify(arg)}`, arg);
    if (part.split('/').includes('..')) throw refuse('parent_path', `'..' in ${JSON.stringify(arg)}`, arg);
  }
  for (const s of SENSITIVE_SUBSTRINGS) {
    if (arg.includes(s)) throw refuse('sensitive_path', `access to ${s} is not allowed`, arg);
  }
}

export function parseWhitelistCommand(command: string, opts: ParseOptions): ParsedCommand {
  if (typeof command !== 'string' || command.trim() === '') throw refuse('empty', 'empty command');
  if (command.length > MAX_COMMAND_LENGTH)
    throw refuse('too_long', `longer than ${MAX_COMMAND_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(command)) {
    throw refuse('control_characters', 'control characters (newlines…) are not allowed');
  }
  prescan(command);

  let entries: ReturnType<typeof parse<SubstitutionMarker>>;
  try {
    // Any `$NAME` that survived the prescan (there should be none) becomes a marker object, never ''.
    entries = parse<SubstitutionMarker>(command, (name) => ({ [SUBSTITUTION]: true as const, name }));
  } catch (err) {
    throw refuse('substitution', (err as Error).message);
  }

  const words: string[] = [];
  for (const e of entries) {
    if (typeof e === 'string') {
      words.push(e);
      continue;
    }
    if (SUBSTITUTION in e) throw refuse('substitution', 'variable expansion is not allowed', `$${e.name}`);
    if ('comment' in e) throw refuse('comment', 'comments (#) are not allowed', '#');
    if (e.op === 'glob')
      throw refuse('glob', `glob pattern ${JSON.stringify(e.pattern)} is not allowed`, e.pattern);
    if (REDIRECTIONS.has(e.op)) throw refuse('redirection', `redirection '${e.op}' is not allowed`, e.op);
    throw refuse('operator', `shell operator '${e.op}' is not allowed`, e.op);
  }
  if (words.length === 0) throw refuse('empty', 'empty command');

  const [first, ...rest] = words as [string, ...string[]];
  if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(first)) {
    throw refuse('env_assignment', `environment assignment ${JSON.stringify(first)} is not allowed`, first);
  }
  if (first.includes('/')) {
    throw refuse('program_path', `program must be a bare name, not a path (${JSON.stringify(first)})`, first);
  }
  if (BLOCKED_PROGRAMS.has(first)) throw refuse('blocked_program', `'${first}' is blocked`, first);
  if (!opts.allowedPrograms.includes(first)) {
    throw refuse('program_not_allowed', `'${first}' is not an allowed program`, first);
  }
  const program = first === 'python' ? 'python3' : first;

  const kind = interpreterKind(program);
  if (!kind) {
    // An operator-added tool (e.g. `jq`): its arguments are still checked.
    if (
      program === 'rm' &&
      rest.some((a) => /^-[A-Za-z]*[rR]/.test(a)) &&
      rest.some((a) => a === '/' || a === '/*')
    ) {
      throw refuse('dangerous_command', 'rm -rf / is not allowed', 'rm');
    }
    for (const a of rest) checkArgument(a);
    return { program, args: rest };
  }

  let i = 0;
  while (i < rest.length && rest[i]!.startsWith('-')) {
    const opt = rest[i]!;
    const bare = opt.split('=')[0]!;
    const isInline =
      INLINE_CODE_OPTIONS[kind].has(bare) ||
      (kind === 'node' && bare.startsWith('--inspect')) ||
      (kind === 'python' && /^-[A-Za-z]*[cm]/.test(opt)) ||
      (kind === 'shell' && /^-[A-Za-z]*[cs]/.test(opt)) ||
      (kind === 'node' && /^-[A-Za-z]*[epr]$/.test(opt));
    if (isInline) {
      throw refuse(
        'inline_code',
        `inline code ('${program} ${opt} …') is not allowed in whitelist mode; run a script file of the skill`,
        opt,
      );
    }
    if (!SAFE_INTERPRETER_OPTIONS[kind].has(opt)) {
      throw refuse('interpreter_option', `option ${JSON.stringify(opt)} of ${program} is not allowed`, opt);
    }
    i++;
  }
  const rawScript = rest[i];
  if (rawScript === undefined) {
    throw refuse('missing_script', `${program} needs a script file of the skill as its first argument`);
  }
  checkArgument(rawScript);
  let script: string;
  try {
    script = normalizeRelativePath(rawScript, 'script');
  } catch {
    throw refuse('parent_path', `invalid script path ${JSON.stringify(rawScript)}`, rawScript);
  }
  if (!opts.knownFiles.has(script)) {
    throw refuse(
      'script_not_found',
      `script ${JSON.stringify(rawScript)} is not a file of the skill or input`,
      rawScript,
    );
  }
  const scriptArgs = rest.slice(i + 1);
  for (const a of scriptArgs) checkArgument(a);
  return { program, args: [...rest.slice(0, i), script, ...scriptArgs], script };
}

/**
 * Words a POSIX shell gives a meaning of its own as the first word of a command: keywords and builtins (a builtin
 * can behave unlike the program of the same name, e.g. dash's `echo` and /bin/echo, and `cd`/`exit` have none).
 */
const SHELL_FIRST_WORDS: ReadonlySet<string> = new Set(
  (
    '! { } case do done elif else esac fi for if in then until while time select function ' +
    '. : [ alias bg break builtin cd chdir command continue echo eval exec exit export false fc fg getopts hash ' +
    'jobs kill local printf pwd read readonly return set shift source test times trap true type typeset ' +
    'ulimit umask unalias unset wait'
  ).split(' '),
);
/** Characters that mean nothing to a POSIX shell outside quotes (no glob, tilde, comment, operator, expansion). */
const LITERAL_CHAR = /[A-Za-z0-9_./:=,+@%-]/;

/**
 * Strict mode: the argv a shell would run for `command`, when the line is one simple command whose words the shell
 * would pass through unchanged; null when it needs a shell (operators, redirections, expansions, globs, escapes,
 * assignments, keywords or builtins, anything unusual). Then `/bin/sh -c` runs it as before. Words may be
 * single-quoted (taken literally) or double-quoted without `$`, backquote, backslash (nothing is expanded there), so
 * `python3 -c "print(1)"` runs without an extra shell. Conservative by design: a null costs one shell, a wrong
 * argv would change what the command does.
 */
export function plainCommandArgv(command: string): string[] | null {
  const words: string[] = [];
  let i = 0;
  while (i < command.length) {
    if (command[i] === ' ' || command[i] === '\t') {
      i++;
      continue;
    }
    let word = '';
    let quoted = false;
    while (i < command.length && command[i] !== ' ' && command[i] !== '\t') {
      const c = command[i]!;
      if (c === "'" || c === '"') {
        const end = command.indexOf(c, i + 1);
        if (end < 0) return null;
        const inner = command.slice(i + 1, end);
        if (c === '"' && /[$`\\]/.test(inner)) return null;
        word += inner;
        quoted = true;
        i = end + 1;
      } else if (LITERAL_CHAR.test(c)) {
        word += c;
        i++;
      } else return null;
    }
    if (words.length === 0 && (quoted || word.includes('=') || SHELL_FIRST_WORDS.has(word))) return null;
    words.push(word);
  }
  return words.length > 0 ? words : null;
}
