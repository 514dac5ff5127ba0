import type { SealedAt, SecretBox } from './secrets.js';

/** Re-seals one stored value: returns what to store instead (the same text when nothing needs to change). */
export type Reseal = (sealed: string, at: SealedAt) => string;

/**
 * A room that keeps sealed secrets (upstream servers' env and header values, model providers' keys) registers
 * one of these with the composition root, so that `skillport secrets rotate` re-seals every kept secret under the
 * current SECRET_KEY without knowing any room's tables.
 */
export interface SecretHolder {
  /** For the command's report, e.g. `mcp_servers`. */
  readonly name: string;
  /** Re-seals every value it keeps with `reseal`, in one transaction; returns how many values changed. */
  reseal(reseal: Reseal): Promise<number>;
}

/**
 * Values sealed under `current` stay as they are; values sealed under `previous` are opened with it and sealed
 * again under `current`. Anything else (another key, tampered) fails the rotation with the value's place named,
 * before anything of that holder is written.
 */
export function resealer(previous: SecretBox, current: SecretBox): Reseal {
  return (sealed, at) => (current.owns(sealed) ? sealed : current.seal(previous.open(sealed, at), at));
}

/** Re-seals every holder's secrets; returns the count per holder. */
export async function rotateSecrets(
  holders: readonly SecretHolder[],
  previous: SecretBox,
  current: SecretBox,
): Promise<Array<{ name: string; resealed: number }>> {
  const reseal = resealer(previous, current);
  const report: Array<{ name: string; resealed: number }> = [];
  for (const holder of holders) report.push({ name: holder.name, resealed: await holder.reseal(reseal) });
  return report;
}
