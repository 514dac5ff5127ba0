/**
 * The MCP client SDK is loaded when the first upstream server connects, not with the server: it is ≈0.5 MB of
 * JavaScript with a copy of the protocol core of its own, and most instances start with no upstream server
 * (issue 11's start-up time and memory). Its error classes carry brands (`instanceof` matches across copies), so
 * code that only classifies errors or frames messages uses the same classes from `@modelcontextprotocol/server`,
 * which the MCP endpoint loads anyway.
 */
import type * as ClientSdkModule from '@modelcontextprotocol/client';

type ClientSdk = typeof ClientSdkModule;

let sdk: ClientSdk | null = null;

export async function loadClientSdk(): Promise<ClientSdk> {
  return (sdk ??= await import('@modelcontextprotocol/client'));
}

/** The SDK, for code that runs only after a connection loaded it (transports are made in `open()`). */
export function clientSdk(): ClientSdk {
  if (!sdk) throw new Error('The MCP client SDK is used before it was loaded');
  return sdk;
}
