import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Load balancers' health checks often speak HTTP/1.0 without a Host header; they must get an answer, not a 400. */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

function rawRequest(text: string): Promise<string> {
  const { port } = new URL(t.baseUrl);
  return new Promise((resolve, reject) => {
    // Written, not ended: a client that half-closes first may be hung up on before the answer.
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (d) => (out += d));
    socket.on('close', () => resolve(out)); // HTTP/1.0: the server closes after answering
    socket.on('error', reject);
  });
}

describe('a request without a Host header', () => {
  it.each(['/health', '/ready'])('GET %s over HTTP/1.0 answers 200', async (path) => {
    const response = await rawRequest(`GET ${path} HTTP/1.0\r\n\r\n`);
    expect(response.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  });
});
