import {
  hostHeaderValidationResponse,
  localhostAllowedHostnames,
  originValidationResponse,
} from '@modelcontextprotocol/server';
import type { MiddlewareHandler } from 'hono';
import type { Config } from '../config/index.js';
import { errorResponse } from './errors.js';
import type { AppEnv } from './types.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * DNS-rebinding protection: the Host header must name this server (ALLOWED_HOSTS, PUBLIC_URL, or localhost
 * when bound to loopback), and a browser Origin, when present, must be one we know. Returns the check, for the
 * answers served without Hono (the `/mcp` fast path); `dnsRebindingGuard` is its middleware form.
 */
export function hostAndOriginAllowed(config: Config): (request: Request) => boolean {
  const publicHost = config.PUBLIC_URL ? new URL(config.PUBLIC_URL).hostname : null;
  let hosts: string[] | null = null;
  if (config.ALLOWED_HOSTS.length) hosts = [...config.ALLOWED_HOSTS];
  else if (LOOPBACK.has(config.HOST)) hosts = localhostAllowedHostnames();
  if (hosts && publicHost) hosts.push(publicHost);
  const origins = [
    ...(hosts ?? localhostAllowedHostnames()),
    ...(publicHost ? [publicHost] : []),
    ...config.CORS_ORIGINS.map((o) => {
      try {
        return new URL(o).hostname;
      } catch {
        return o;
      }
    }),
  ];
  return (request) =>
    !(hosts && hostHeaderValidationResponse(request, hosts)) &&
    !(request.headers.get('origin') && originValidationResponse(request, origins));
}

/** 403 `forbidden_origin` unless `hostAndOriginAllowed`. */
export function dnsRebindingGuard(config: Config): MiddlewareHandler<AppEnv> {
  const allowed = hostAndOriginAllowed(config);
  return async (c, next) => {
    if (!allowed(c.req.raw)) return errorResponse(c, 403, 'forbidden_origin', 'Host or Origin not allowed');
    await next();
  };
}
