/**
 * Domain errors carry a kind, not a transport: each edge maps the kind. Here the OpenAI edge's mapper, read by the
 * official `openai` SDK from a real HTTP server: the SDK must see our message, type, param and code, and must not
 * retry what cannot heal (a conflict) while retrying what can (a rate limit, honouring Retry-After).
 */
import { createServer, type Server } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toOpenAiError } from '../../src/http/openai-errors.js';
import {
  AppError,
  conflict,
  forbidden,
  InvalidInputError,
  notFound,
  tooManyRequests,
  unavailable,
} from '../../src/shared/errors.js';

let server: Server;
let baseURL: string;
const hits: string[] = [];
/** What the next request to each path throws, as a service would. */
const failures: Record<string, () => unknown> = {
  '/v1/conflict/chat/completions': () => conflict('An assistant with that name exists'),
  '/v1/limited/chat/completions': () => tooManyRequests('Slow down', 1),
  '/v1/invalid/chat/completions': () =>
    new InvalidInputError('validation_error', 'Invalid request: model is required', {
      fields: [{ path: 'model', message: 'is required' }],
    }),
  '/v1/crash/chat/completions': () => new Error('secret internal detail'),
};

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url!);
    const mapped = toOpenAiError(failures[req.url!]?.() ?? notFound());
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-should-retry', String(mapped.shouldRetry));
    if (mapped.retryAfterSeconds) res.setHeader('retry-after', String(mapped.retryAfterSeconds));
    res.statusCode = mapped.status;
    res.end(JSON.stringify(mapped.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const client = (path: string) =>
  new OpenAI({ apiKey: 'sk-test', baseURL: `${baseURL}/${path}`, maxRetries: 2 });
const complete = (path: string) =>
  client(path).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
const countHits = (path: string) => hits.filter((h) => h.startsWith(`/v1/${path}/`)).length;

describe('domain errors', () => {
  it('know their kind and derive the status from it; the legacy status-first form still works', () => {
    expect(forbidden()).toMatchObject({ kind: 'forbidden', status: 403, code: 'forbidden' });
    expect(notFound('gone')).toBeInstanceOf(AppError);
    expect(new AppError(503, 'busy', 'Busy')).toMatchObject({ kind: 'unavailable', status: 503 });
    expect(unavailable('sandbox_unavailable', 'No sandbox', 2).retryAfterSeconds).toBe(2);
  });
});

describe('the OpenAI error mapper, read by the official SDK', () => {
  it('a conflict: 409 with our message and code, and no retry', async () => {
    const err = await complete('conflict').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.ConflictError);
    expect(err).toMatchObject({
      status: 409,
      error: {
        message: 'An assistant with that name exists',
        type: 'invalid_request_error',
        code: 'conflict',
      },
    });
    expect(countHits('conflict')).toBe(1);
  });

  it('invalid input names the field as param; an unknown error says nothing of itself and is not retried', async () => {
    const invalid = await complete('invalid').catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(OpenAI.BadRequestError);
    expect(invalid).toMatchObject({ error: { param: 'model', code: 'validation_error' } });
    const crash = await complete('crash').catch((e: unknown) => e);
    expect(crash).toBeInstanceOf(OpenAI.InternalServerError);
    expect(JSON.stringify((crash as { error: unknown }).error)).not.toContain('secret');
    expect(countHits('crash')).toBe(1);
  });

  it('a rate limit is retried (after Retry-After) up to the client limit', async () => {
    const err = await complete('limited').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err).toMatchObject({ error: { type: 'rate_limit_error', code: 'rate_limited' } });
    expect(countHits('limited')).toBe(3);
  });
});
