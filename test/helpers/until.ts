/**
 * Waits for a condition with a deadline (never a fixed sleep as synchronisation): polls `probe` until it returns
 * a truthy value (returned), throwing `timed out waiting for <what>` after `ms`. A probe that throws counts as
 * not yet.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `until` for a yes/no condition, with the short default deadline of events crossing instances (2 s). */
export const waitUntil = (condition: () => Promise<boolean>, timeoutMs = 2_000): Promise<void> =>
  until('the condition', async () => (await condition()) || undefined, timeoutMs).then(() => undefined);
