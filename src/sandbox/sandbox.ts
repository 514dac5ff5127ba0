import { UnavailableError } from '../shared/errors.js';
import type { CgroupRun } from './cgroup.js';
import { MiB, commandLine } from './command-line.js';
import type { SandboxContext } from './context.js';
import { createLauncher, type Launcher } from './launch.js';
import { createRequestCheck, type CheckedRequest } from './request.js';
import { collectStrictRun, results } from './results.js';
import { createSetup, validateConfig, type Prepared } from './setup.js';
import { createRunSlots, type Slot } from './slots.js';
import { SpawnHelper } from './spawner.js';
import type { LimitHit, RunRequest, RunResult, Sandbox, SandboxConfig, SecurityLevel } from './types.js';
import { endRun, watchLimits } from './watchdog.js';
import { prepareWorkdir, removeWorkdir } from './workdir.js';

/**
 * The sandbox: checks each request (request.ts) and takes its run slot (slots.ts), prepares the run's work dir
 * and cgroup, starts it (command-line.ts, launch.ts), watches it (watchdog.ts) and collects its result
 * (results.ts). The parts share the sandbox's context (context.ts); the one-time preparation is setup.ts.
 */
export function createSandbox(config: SandboxConfig): Sandbox {
  validateConfig(config);
  const limits = { ...config.limits };
  const level: SecurityLevel = config.level;
  const warn = (message: string, details?: unknown) => config.onWarning?.(message, details);
  const ctx: SandboxContext = { config, level, limits, closed: false, warn };
  const slots = createRunSlots(ctx);
  const setup = createSetup(ctx);
  const checkRequest = createRequestCheck(ctx);
  const launcher = createLauncher(ctx);
  const active = new Set<{ kill: () => void; done: Promise<unknown> }>();

  // Runs are spawned from a small helper process, never from the server's own (large) one: see spawner.ts.
  let helper: Promise<SpawnHelper> | null = null;
  const spawnHelper = (): Promise<SpawnHelper> => {
    const current = (helper ??= SpawnHelper.start());
    return current.then(
      (h) => {
        if (h.alive) return h;
        if (helper === current) helper = null; // it died: this run starts a new one
        return spawnHelper();
      },
      (err: Error) => {
        if (helper === current) helper = null;
        throw new UnavailableError('sandbox_unavailable', `Sandbox cannot start: ${err.message}`);
      },
    );
  };

  const execute = createExecute(ctx, launcher, spawnHelper);

  async function run(req: RunRequest): Promise<RunResult> {
    // Everything up to acquire() is synchronous, so refusals and 429s come back at once.
    if (ctx.closed) throw new UnavailableError('sandbox_closed', 'The sandbox is shutting down');
    const checked = checkRequest(req);
    const slot = slots.acquire(req.userId);
    let kill: () => void = () => undefined;
    const handle = { kill: () => kill(), done: Promise.resolve() as Promise<unknown> };
    const work = (async () => {
      const prep = await setup.prepare().catch((err: Error) => {
        throw new UnavailableError('sandbox_unavailable', `Sandbox cannot start: ${err.message}`);
      });
      const go = () =>
        execute(req.command, checked, slot, prep, (k) => {
          kill = k;
          if (req.signal?.aborted) k(); // given up on while the run was being prepared
        });
      return level === 'whitelist' && !prep.concurrentWhitelist ? slots.oneAtATime(go) : go();
    })();
    handle.done = work.catch(() => undefined);
    active.add(handle);
    const onAbort = () => handle.kill();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await work;
    } finally {
      req.signal?.removeEventListener('abort', onAbort);
      active.delete(handle);
      slots.release(slot);
    }
  }

  return {
    level,
    run,
    async close() {
      ctx.closed = true;
      for (const h of active) h.kill();
      await Promise.all([...active].map((h) => h.done));
      await (await helper?.catch(() => null))?.close();
      await setup.close();
    },
  };
}

/**
 * A run once it holds its slot: its work dir and cgroup prepared, started, watched until it ends, its result
 * collected, and what it left removed.
 */
function createExecute(ctx: SandboxContext, launcher: Launcher, spawnHelper: () => Promise<SpawnHelper>) {
  const { level, warn } = ctx;
  async function execute(
    command: string,
    { planned, timeoutMs, program, programArgs }: CheckedRequest,
    slot: Slot,
    prep: Prepared,
    setKill: (k: () => void) => void,
  ): Promise<RunResult> {
    let cg: CgroupRun | null = null;
    let dir: string | null = null;
    let ended = false;
    try {
      // Independent of each other: prepared together.
      const [work, runCg, spawner] = await Promise.allSettled([
        prepareWorkdir(prep.workRoot, planned, { uid: slot.uid, gid: slot.gid, tmpDir: level !== 'strict' }),
        runCgroup(ctx, prep),
        spawnHelper(),
      ]);
      cg = runCg.status === 'fulfilled' ? runCg.value : null;
      if (work.status === 'rejected') throw work.reason;
      dir = work.value.dir;
      const manifest = work.value.manifest;
      if (spawner.status === 'rejected') throw spawner.reason;
      const helper = spawner.value;
      const start = commandLine(ctx, {
        command,
        program,
        programArgs,
        timeoutMs,
        slot,
        prep,
        dir,
        cg,
      });
      const run = await launcher.launch(helper, start, dir, slot, prep, cg);
      setKill(run.kill);
      const hits = new Set<LimitHit>();
      const { exit, durationMs, timedOut } = await watchLimits(ctx, run, timeoutMs, dir, slot, hits);
      if (exit.error) {
        throw new UnavailableError('sandbox_unavailable', `Sandbox cannot start: ${exit.error.message}`);
      }
      const strictCollected = await collectStrictRun(ctx, run, manifest, hits);
      await endRun(ctx, run, exit, timedOut, cg);
      ended = true;
      return await results(ctx, {
        run,
        exit,
        durationMs,
        timedOut,
        hits,
        cg,
        dir,
        manifest,
        slot,
        strictCollected,
      });
    } finally {
      // endRun() made sure no process of the run is left; on any other way out, the cgroup's kill does.
      if (cg && !ended) await cg.killAll(2000).catch(() => undefined);
      if (cg) {
        await cg
          .remove()
          .catch((err: Error) => warn('sandbox: could not remove a run cgroup', { error: err.message }));
      }
      if (dir) {
        const runDir = dir;
        await removeWorkdir(runDir).catch((err: Error) =>
          warn('sandbox: could not remove a work dir', { dir: runDir, error: err.message }),
        );
      }
    }
  }

  return execute;
}

/** The run's own cgroup (memory and pids limits), when the host delegates one; the run goes on without. */
async function runCgroup(ctx: SandboxContext, prep: Prepared): Promise<CgroupRun | null> {
  if (!prep.cgroups) return null;
  return prep.cgroups
    .createRun({ memoryBytes: ctx.limits.maxMemoryMb * MiB, pids: ctx.limits.maxProcesses })
    .catch((err: Error) => {
      ctx.warn('sandbox: could not create a cgroup for the run', { error: err.message });
      return null;
    });
}
