import { addressesOf, isPublicAddress } from '../shared/url-guard.js';

/**
 * The outbound fetch of Client ID Metadata Documents: refuses, before any packet is sent, a URL whose host is
 * or resolves to a private address. oidc-provider adds its own guard on the connected socket (which also
 * catches a name that resolves differently the second time), a 2.5 s time limit and a 5 KiB size limit.
 */
export const guardedFetch: typeof fetch = async (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const addresses = (await addressesOf(url.hostname)).map((a) => a.address);
  if (addresses.length === 0 || !addresses.every(isPublicAddress)) {
    throw new Error(`Refusing to fetch ${url.origin}: it is a private address`);
  }
  return fetch(input, init);
};
