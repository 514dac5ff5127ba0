import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted model turn: text, tool calls, an error status, or a response that never comes. */
export interface ScriptedTurn {
  content?: string;
  /** Arguments given as a string are sent as they are (OpenAI's format only): a model writing invalid JSON. */
  tool_calls?: Array<{ name: string; arguments: Record<string, unknown> | string }>;
  /** Answer with this HTTP status and an error body instead. */
  status?: number;
  /** Wait this long before answering (ms). */
  delayMs?: number;
  /** Stream the content in pieces of this many characters (default 4). */
  chunkSize?: number;
  /** Wait this long between streamed content pieces (ms), as a model producing tokens over time does. */
  chunkGapMs?: number;
  usage?: { prompt: number; completion: number };
  /** Check the request before answering (assertion errors fail the test through `errors`). */
  expect?: (body: any) => void;
  /** Build the answer from the request (e.g. a final answer quoting the tool results it was sent). */
  respond?: (body: any) => ScriptedTurn;
}

export interface RecordedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
  /** Set when the client went away before the answer was complete. */
  aborted: boolean;
}

/**
 * A model provider the tests run locally on 127.0.0.1, speaking OpenAI's chat-completions wire format (and
 * Anthropic's Messages API at `/v1/messages`), scripted turn by turn. Every request is recorded.
 */
export class ScriptedLlm {
  readonly requests: RecordedRequest[] = [];
  readonly errors: unknown[] = [];
  private readonly turns: ScriptedTurn[] = [];
  /** Answers every request once the script is used up (benchmarks). */
  fallback: ScriptedTurn | null = null;
  private readonly server = createServer((req, res) => void this.handle(req, res));
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  script(...turns: ScriptedTurn[]): void {
    this.turns.push(...turns);
  }

  /** Drops the turns not yet used (after a test that ends a turn early). */
  clear(): void {
    this.turns.length = 0;
  }

  get remaining(): number {
    return this.turns.length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const record: RecordedRequest = {
      path: req.url ?? '',
      headers: req.headers,
      body: text ? JSON.parse(text) : null,
      aborted: false,
    };
    this.requests.push(record);
    res.on('close', () => (record.aborted = !res.writableFinished));
    if (req.method === 'GET' && req.url === '/v1/models') {
      return json(res, 200, {
        object: 'list',
        data: [{ id: 'scripted-1', object: 'model', created: 0, owned_by: 'test' }],
      });
    }
    const scripted = this.turns.shift() ?? this.fallback ?? undefined;
    let turn = scripted;
    try {
      if (scripted?.respond) turn = { ...scripted, ...scripted.respond(record.body) };
    } catch (err) {
      this.errors.push(err);
      return json(res, 500, { error: { message: 'scripted turn failed', type: 'server_error' } });
    }
    if (!turn) return json(res, 500, { error: { message: 'no scripted turn left', type: 'server_error' } });
    try {
      turn.expect?.(record.body);
    } catch (err) {
      this.errors.push(err);
    }
    if (turn.delayMs) await new Promise((r) => setTimeout(r, turn.delayMs));
    if (res.destroyed) return;
    if (turn.status)
      return json(res, turn.status, { error: { message: `scripted ${turn.status}`, type: 'server_error' } });
    if (req.url === '/v1/messages') return anthropic(res, turn, record.body);
    return openAi(res, turn, record.body);
  }
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

let callCounter = 0;
const callsOf = (turn: ScriptedTurn) =>
  (turn.tool_calls ?? []).map((c) => ({
    id: `call_${++callCounter}`,
    name: c.name,
    arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
  }));
const usageOf = (turn: ScriptedTurn) => turn.usage ?? { prompt: 10, completion: 5 };
const pieces = (text: string, size: number) => text.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];
/** The pieces of a turn's text, the next one only after `chunkGapMs` (none before the first). */
async function* paced(turn: ScriptedTurn, text: string): AsyncGenerator<string> {
  let first = true;
  for (const piece of pieces(text, turn.chunkSize ?? 4)) {
    if (!first && turn.chunkGapMs) await new Promise((r) => setTimeout(r, turn.chunkGapMs));
    first = false;
    yield piece;
  }
}

async function openAi(res: ServerResponse, turn: ScriptedTurn, body: any): Promise<void> {
  const calls = callsOf(turn);
  const u = usageOf(turn);
  const usage = {
    prompt_tokens: u.prompt,
    completion_tokens: u.completion,
    total_tokens: u.prompt + u.completion,
  };
  const finish = calls.length ? 'tool_calls' : 'stop';
  const base = { id: 'chatcmpl-scripted', created: 1, model: body.model };
  if (!body.stream) {
    const tool_calls = calls.map((c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }));
    return json(res, 200, {
      ...base,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: turn.content ?? null,
            ...(calls.length ? { tool_calls } : {}),
          },
          finish_reason: finish,
        },
      ],
      usage,
    });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (choices: unknown[], extra: object = {}) =>
    res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`);
  send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  for await (const piece of paced(turn, turn.content ?? '')) {
    if (res.destroyed) return; // the client went away between two pieces
    send([{ index: 0, delta: { content: piece }, finish_reason: null }]);
  }
  calls.forEach((c, index) =>
    send([
      {
        index: 0,
        delta: {
          tool_calls: [
            { index, id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } },
          ],
        },
        finish_reason: null,
      },
    ]),
  );
  send([{ index: 0, delta: {}, finish_reason: finish }]);
  if (body.stream_options?.include_usage) send([], { usage });
  res.end('data: [DONE]\n\n');
}

async function anthropic(res: ServerResponse, turn: ScriptedTurn, body: any): Promise<void> {
  const calls = callsOf(turn);
  const u = usageOf(turn);
  const content: any[] = [
    ...(turn.content ? [{ type: 'text', text: turn.content }] : []),
    ...calls.map((c) => ({
      type: 'tool_use',
      id: c.id.replace('call', 'toolu'),
      name: c.name,
      input: JSON.parse(c.arguments),
    })),
  ];
  const stop = calls.length ? 'tool_use' : 'end_turn';
  const message = {
    id: 'msg_scripted',
    type: 'message',
    role: 'assistant',
    model: body.model,
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: { input_tokens: u.prompt, output_tokens: u.completion },
  };
  if (!body.stream) return json(res, 200, message);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (event: string, data: object) =>
    res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
  send('message_start', {
    message: {
      ...message,
      content: [],
      stop_reason: null,
      usage: { input_tokens: u.prompt, output_tokens: 0 },
    },
  });
  for (const [index, block] of content.entries()) {
    if (block.type === 'text') {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      for await (const piece of paced(turn, block.text as string)) {
        if (res.destroyed) return; // the client went away between two pieces
        send('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
      }
    } else {
      send('content_block_start', {
        index,
        content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
      });
      send('content_block_delta', {
        index,
        delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) },
      });
    }
    send('content_block_stop', { index });
  }
  send('message_delta', {
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: u.completion },
  });
  send('message_stop', {});
  res.end();
}
