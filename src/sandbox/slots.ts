import { RateLimitedError } from '../shared/errors.js';
import type { SandboxContext } from './context.js';

/** A run's place among the running ones: its user (per-user concurrency) and the uid it runs as. */
export interface Slot {
  userId: string;
  uid: number | null;
  gid: number | null;
  /** True when no other concurrent run can have this uid (a pool uid). */
  dedicatedUid: boolean;
}

/** The concurrency limits (per user, over the server), and the pool of uids a run can have to itself. */
export interface RunSlots {
  /** Takes a slot for a run of this user, or throws `sandbox_busy` (429); synchronous. */
  acquire(userId: string): Slot;
  release(slot: Slot): void;
  /** Runs `fn` once every call queued before it has settled (whitelist runs that may not overlap). */
  oneAtATime<T>(fn: () => Promise<T>): Promise<T>;
}

export function createRunSlots(ctx: SandboxContext): RunSlots {
  const { config, level } = ctx;
  let globalActive = 0;
  const perUser = new Map<string, number>();
  const freeUids = config.uidPool ? [...config.uidPool] : null;

  // Whitelist runs have no pid namespace: without hidepid they would see each other's command lines in /proc.
  let whitelistTail: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = whitelistTail.then(fn, fn);
    whitelistTail = next.catch(() => undefined);
    return next;
  };

  function acquire(userId: string): Slot {
    const mine = perUser.get(userId) ?? 0;
    if (globalActive >= config.globalConcurrency || mine >= config.perUserConcurrency) {
      throw new RateLimitedError(
        'sandbox_busy',
        mine >= config.perUserConcurrency
          ? `Too many scripts running for this user (limit ${config.perUserConcurrency}); try again later`
          : `Too many scripts running on this server (limit ${config.globalConcurrency}); try again later`,
        { perUserLimit: config.perUserConcurrency, globalLimit: config.globalConcurrency },
      );
    }
    let uid: number | null = config.runAsUid;
    let gid: number | null = config.runAsGid;
    let dedicatedUid = false;
    if (freeUids && level !== 'disabled') {
      const u = freeUids.shift();
      if (u === undefined) throw new RateLimitedError('sandbox_busy', 'No free sandbox uid; try again later');
      uid = u;
      gid = u;
      dedicatedUid = true;
    }
    if (level === 'disabled') {
      uid = null;
      gid = null;
    }
    globalActive++;
    perUser.set(userId, mine + 1);
    return { userId, uid, gid, dedicatedUid };
  }

  function release(slot: Slot): void {
    globalActive--;
    const n = (perUser.get(slot.userId) ?? 1) - 1;
    if (n <= 0) perUser.delete(slot.userId);
    else perUser.set(slot.userId, n);
    if (slot.dedicatedUid && slot.uid !== null && freeUids) freeUids.push(slot.uid);
  }

  return { acquire, release, oneAtATime };
}
