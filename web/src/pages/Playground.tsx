import { useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { apiStream, errorMessage } from '../api/client';
import { PageHeader } from '../components/Layout';
import { Button, TextArea } from '../components/ui';
import { useDocumentTitle } from '../lib/hooks';

interface ToolStep {
  id: string;
  name: string;
  arguments: unknown;
  result?: string;
  is_error?: boolean;
  duration_ms?: number;
}

interface Turn {
  role: 'user' | 'assistant';
  content: string;
  steps: ToolStep[];
  error?: string;
}

/** Reads `data:` events of a server-sent event stream, one parsed JSON value each (stops at [DONE]). */
interface ChatChunk {
  error?: { message: string };
  choices?: Array<{ delta?: { content?: string } }>;
  skillport?: { tool_event?: ToolStep & { phase: 'start' | 'end' } };
}

async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ChatChunk> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ')) continue; // keep-alive comments
      const data = event.slice(6);
      if (data === '[DONE]') return;
      yield JSON.parse(data) as ChatChunk;
    }
  }
}

/** The chat playground: streams an assistant's answer and shows each server tool step as it runs. */
export function PlaygroundPage({ assistant }: { assistant: string }) {
  useDocumentTitle(`Chat with ${assistant}`);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState('');
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);

  const update = (fn: (t: Turn) => Turn) =>
    setTurns((all) => [...all.slice(0, -1), fn(all[all.length - 1]!)]);

  const send = async (e: FormEvent) => {
    e.preventDefault();
    if (!draft.trim() || busy) return;
    const history = [...turns, { role: 'user' as const, content: draft, steps: [] }];
    setTurns([...history, { role: 'assistant', content: '', steps: [] }]);
    setDraft('');
    setBusy(true);
    abort.current = new AbortController();
    try {
      const res = await apiStream(`${window.location.origin}/v1/chat/completions`, {
        body: {
          model: assistant,
          stream: true,
          stream_options: { x_skillport_tool_events: true },
          messages: history.filter((t) => !t.error).map((t) => ({ role: t.role, content: t.content })),
        },
        signal: abort.current.signal,
      });
      for await (const chunk of sseEvents(res.body!)) {
        if (chunk.error) throw new Error(chunk.error.message);
        const event = chunk.skillport?.tool_event;
        if (event?.phase === 'start')
          update((t) => ({
            ...t,
            steps: [...t.steps, { id: event.id, name: event.name, arguments: event.arguments }],
          }));
        else if (event?.phase === 'end')
          update((t) => ({ ...t, steps: t.steps.map((s) => (s.id === event.id ? { ...s, ...event } : s)) }));
        const text = chunk.choices?.[0]?.delta?.content;
        if (text) update((t) => ({ ...t, content: t.content + text }));
      }
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError'))
        update((t) => ({ ...t, error: errorMessage(err) }));
    } finally {
      setBusy(false);
      abort.current = null;
    }
  };

  return (
    <>
      <PageHeader title={`Chat with ${assistant}`} back={{ to: '/assistants', label: 'Assistants' }} />
      <ol className="chat" aria-live="polite">
        {turns.map((t, i) => (
          <li key={i} className={`chat-turn chat-${t.role}`}>
            <strong>{t.role === 'user' ? 'You' : assistant}</strong>
            {t.steps.map((s) => (
              <details key={s.id} className="tool-step">
                <summary>
                  {s.name} {s.duration_ms !== undefined ? `· ${s.duration_ms} ms` : '· running…'}
                  {s.is_error ? ' · error' : ''}
                </summary>
                <pre>{JSON.stringify(s.arguments, null, 2)}</pre>
                {s.result !== undefined && <pre>{s.result}</pre>}
              </details>
            ))}
            <p className="chat-text">{t.content}</p>
            {t.error && (
              <p className="error small" role="alert">
                {t.error}
              </p>
            )}
          </li>
        ))}
      </ol>
      <form onSubmit={(e) => void send(e)} aria-label="Send a message">
        <TextArea label="Message" rows={3} value={draft} onChange={(e) => setDraft(e.target.value)} />
        <Button type="submit" variant="primary" busy={busy}>
          Send
        </Button>{' '}
        {busy && <Button onClick={() => abort.current?.abort()}>Stop</Button>}
      </form>
    </>
  );
}
