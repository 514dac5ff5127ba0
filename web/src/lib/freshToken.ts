/**
 * The plaintext of the token created in this tab, kept in memory only (never in storage or the URL) so the
 * "Connect a client" page can fill it into configs right after creation.
 */
let fresh: { name: string; token: string } | null = null;

export const freshToken = {
  get: () => fresh,
  set: (v: { name: string; token: string } | null) => {
    fresh = v;
  },
};
