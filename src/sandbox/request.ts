import { InvalidInputError, PayloadTooLargeError } from '../shared/errors.js';
import { parseWhitelistCommand, refuse } from './command-parse.js';
import { resolveProgram } from './command-line.js';
import type { SandboxContext } from './context.js';
import type { RunRequest } from './types.js';
import { planFiles } from './workdir.js';

const MAX_STRICT_COMMAND_LENGTH = 64 * 1024;
/** Skill files + input files written into one work dir. */
const MAX_FILES = 4096;

/** A request that passed the checks: its files as planned for the work dir, its timeout, its program (whitelist). */
export interface CheckedRequest {
  planned: ReturnType<typeof planFiles>;
  timeoutMs: number;
  program: string | null;
  programArgs: string[];
}

/**
 * Checks a run request before it takes a slot, synchronously: its shape, its files against the limits, its
 * timeout, and its command at this level (whitelist: a parsed command line of an allowed, installed program).
 */
export function createRequestCheck(ctx: SandboxContext): (req: RunRequest) => CheckedRequest {
  const { config, level, limits } = ctx;
  const allowed = [...config.allowedPrograms];
  const programPaths = new Map<string, string | null>();
  for (const p of allowed) {
    const name = p === 'python' ? 'python3' : p;
    programPaths.set(name, resolveProgram(name));
  }

  return (req) => {
    if (!req || typeof req.userId !== 'string' || req.userId === '') {
      throw new InvalidInputError('bad_request', 'userId is required');
    }
    if (typeof req.command !== 'string') throw new InvalidInputError('bad_request', 'command is required');
    if (!Array.isArray(req.files)) throw new InvalidInputError('bad_request', 'files must be an array');
    const inputFiles = req.inputFiles ?? [];
    if (!Array.isArray(inputFiles)) throw new InvalidInputError('bad_request', 'inputFiles must be an array');
    if (inputFiles.length > limits.maxInputFiles) {
      throw new PayloadTooLargeError('payload_too_large', `At most ${limits.maxInputFiles} input files`, {
        limit: limits.maxInputFiles,
      });
    }
    const inputBytes = inputFiles.reduce((n, f) => n + (Buffer.isBuffer(f?.data) ? f.data.length : 0), 0);
    if (inputBytes > limits.maxInputBytes) {
      throw new PayloadTooLargeError(
        'payload_too_large',
        `Input files exceed ${limits.maxInputBytes} bytes`,
        {
          limit: limits.maxInputBytes,
        },
      );
    }
    if (req.files.length + inputFiles.length > MAX_FILES) {
      throw new PayloadTooLargeError('payload_too_large', `At most ${MAX_FILES} files per run`, {
        limit: MAX_FILES,
      });
    }
    const planned = planFiles(req.files, inputFiles);
    const plannedBytes = planned.reduce((n, f) => n + f.data.length, 0);
    if (plannedBytes > limits.maxWorkdirBytes) {
      throw new PayloadTooLargeError(
        'payload_too_large',
        `Skill and input files exceed ${limits.maxWorkdirBytes} bytes`,
        {
          limit: limits.maxWorkdirBytes,
        },
      );
    }
    let timeoutMs = limits.timeoutMs;
    if (req.timeoutMs !== undefined) {
      if (!Number.isFinite(req.timeoutMs) || req.timeoutMs <= 0) {
        throw new InvalidInputError('bad_request', 'timeoutMs must be a positive number');
      }
      timeoutMs = Math.min(req.timeoutMs, limits.timeoutMs);
    }

    let program: string | null = null;
    let programArgs: string[] = [];
    if (level === 'whitelist') {
      const parsed = parseWhitelistCommand(req.command, {
        allowedPrograms: allowed,
        knownFiles: new Set(planned.map((f) => f.path)),
      });
      program = programPaths.get(parsed.program) ?? null;
      if (!program)
        throw refuse('program_not_allowed', `'${parsed.program}' is not installed`, parsed.program);
      programArgs = parsed.args;
    } else {
      if (req.command.trim() === '') throw refuse('empty', 'empty command');
      if (req.command.length > MAX_STRICT_COMMAND_LENGTH) throw refuse('too_long', 'command too long');
      if (req.command.includes('\0')) throw refuse('control_characters', 'NUL in command');
    }

    return { planned, timeoutMs, program, programArgs };
  };
}
