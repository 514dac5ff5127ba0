import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Embedder } from '../../src/search/index.js';
import { normalise } from '../../src/search/vectors.js';

/**
 * Scripted embeddings: each dimension is one "concept" (a set of words that mean the same thing here), so which
 * texts are close is known in advance — "paperwork" lands on the PDF skill although they share no word. One
 * small constant dimension keeps every vector non-zero, as a real model's are. Deterministic; not a language
 * model, and never presented as one.
 */
export const CONCEPTS: readonly string[][] = [
  ['pdf', 'pdfs', 'document', 'documents', 'paperwork', 'invoice', 'invoices', 'form', 'forms', 'scan'],
  ['spreadsheet', 'spreadsheets', 'excel', 'xlsx', 'csv', 'workbook', 'ledger'],
  ['git', 'github', 'repository', 'repo', 'commit', 'commits', 'pull', 'merge', 'branch', 'version-control'],
  ['image', 'images', 'photo', 'photos', 'picture', 'pictures', 'png', 'jpeg', 'thumbnail'],
  ['email', 'emails', 'mail', 'inbox', 'message', 'messages', 'newsletter'],
  ['database', 'sql', 'query', 'postgres', 'table', 'tables', 'schema'],
  ['weather', 'forecast', 'temperature', 'rain', 'climate'],
  ['translate', 'translation', 'language', 'languages', 'multilingual', 'localise'],
  ['calendar', 'meeting', 'meetings', 'schedule', 'appointment', 'agenda'],
  ['chart', 'charts', 'graph', 'plot', 'visualise', 'visualization', 'diagram'],
];

export function conceptVector(text: string, concepts: readonly string[][] = CONCEPTS): Float32Array {
  const v = new Array<number>(concepts.length + 1).fill(0);
  v[concepts.length] = 0.05;
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}-]+/gu) ?? []) {
    concepts.forEach((words, i) => {
      if (words.includes(word)) v[i]! += 1;
    });
  }
  return normalise(v);
}

/** The scripted embeddings in process (over `concepts`), with a record of what was embedded. */
export function scriptedEmbedder(
  model = 'scripted-1',
  concepts: readonly string[][] = CONCEPTS,
): Embedder & { texts: string[] } {
  const texts: string[] = [];
  return {
    model,
    texts,
    async embed(batch) {
      texts.push(...batch);
      return batch.map((t) => conceptVector(t, concepts));
    },
  };
}

export interface EmbeddingsServer {
  url: string;
  /** Every request: its model, how many inputs, and the Authorization header. */
  requests: Array<{ model: string; inputs: number; authorization: string | undefined }>;
  /** Answer the next `n` requests with a 500. */
  failNext(n: number): void;
  close(): Promise<void>;
}

/** The scripted embeddings behind a local OpenAI-compatible `POST /v1/embeddings` (the real wire format). */
export async function startEmbeddingsServer(): Promise<EmbeddingsServer> {
  const requests: EmbeddingsServer['requests'] = [];
  let failures = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        model: string;
        input: string[] | string;
      };
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      requests.push({ model: body.model, inputs: inputs.length, authorization: req.headers.authorization });
      if (failures > 0) {
        failures--;
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'scripted failure', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          model: body.model,
          data: inputs.map((text, index) => ({
            object: 'embedding',
            index,
            embedding: Array.from(conceptVector(text)),
          })),
          usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    failNext: (n) => {
      failures = n;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
