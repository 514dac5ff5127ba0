import type { Duplex, Readable } from 'node:stream';
import type { CappedCapture } from './output.js';
import type { ProcessExit, SpawnedProcess } from './spawner.js';
import type { SandboxConfig, SandboxLimits, SecurityLevel } from './types.js';

/**
 * What the parts of one sandbox share (setup.ts, request.ts, slots.ts, command-line.ts, launch.ts, watchdog.ts,
 * results.ts): its config, level and limits, whether it is closing, and where its warnings go. Built by
 * createSandbox.
 */
export interface SandboxContext {
  readonly config: SandboxConfig;
  readonly level: SecurityLevel;
  readonly limits: SandboxLimits;
  /** Set by close(): no run starts after it, and no spare launcher is started for one. */
  closed: boolean;
  readonly warn: (message: string, details?: unknown) => void;
}

export type Exit = ProcessExit;

/** A spawned run: its process tree, its pipes, and what the launcher and bwrap reported about it. */
export interface Launched {
  child: SpawnedProcess;
  startedAt: number;
  /** The spawned process' group (it is the group leader). */
  pgid: number;
  /** With the reaper: its pid (= pgid); otherwise -1. */
  reaperPid: number;
  useReaper: boolean;
  /** With the reaper: the command's own pid (and process group), once reported; 0 before. */
  mainPid: number;
  /** A kill asked for before the command's pid was known: done when it arrives. */
  killRequested: boolean;
  /** Strict: host pid of the sandbox's pid 1, once bwrap reported it; 0 before. */
  nsInitPid: number;
  sandboxMountNs: Promise<string | null>;
  /** The command's end: the launcher's status line, the runner's report, or the process exit. */
  mainExited: Promise<Exit>;
  /** The spawned process' own exit (the reaper's, when there is one). */
  processExited: Promise<Exit>;
  resolveMain(e: Exit): void;
  statusFd: Readable | null;
  infoFd: Readable | null;
  infoClosed: Promise<void>;
  runnerFd: Duplex | null;
  runner: { readonly exitCode: number | null; readonly noSpace: boolean };
  streamsClosed: Promise<unknown>;
  stdout: CappedCapture;
  stderr: CappedCapture;
  /** Kills the command and all it started; the reaper stays to reap them (then exits by itself). */
  kill(): void;
  /** Kills every process of the run except the reaper; resolves to how many were found. */
  sweep(): Promise<number>;
}
