import type { ModelMessage } from 'ai';
import { z } from 'zod';

const TextPart = z.object({ type: z.literal('text'), text: z.string() });
const ImagePart = z.object({
  type: z.literal('image_url'),
  image_url: z.object({ url: z.string().max(20_000_000) }),
});
const Content = z.union([
  z.string(),
  z.array(z.union([TextPart, ImagePart, z.looseObject({ type: z.string() })])),
]);
const ToolCall = z.object({
  id: z.string().min(1).max(200),
  type: z.literal('function').default('function'),
  function: z.object({ name: z.string().min(1).max(200), arguments: z.string().max(1_000_000) }),
});

const Message = z.discriminatedUnion('role', [
  z.object({ role: z.enum(['system', 'developer']), content: Content }),
  z.object({ role: z.literal('user'), content: Content }),
  z.object({
    role: z.literal('assistant'),
    content: Content.nullable().optional(),
    tool_calls: z.array(ToolCall).max(128).optional(),
  }),
  z.object({ role: z.literal('tool'), tool_call_id: z.string().min(1).max(200), content: Content }),
]);
export type ChatMessage = z.infer<typeof Message>;

const ClientTool = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64'),
    description: z.string().max(10_000).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** The fields of `POST /v1/chat/completions` we act on; unknown fields are ignored, as OpenAI clients expect. */
export const ChatRequest = z.looseObject({
  model: z.string().min(1).max(200),
  messages: z.array(Message).min(1).max(2_000),
  stream: z.boolean().nullable().optional(),
  stream_options: z
    .looseObject({ include_usage: z.boolean().optional(), x_skillport_tool_events: z.boolean().optional() })
    .nullable()
    .optional(),
  tools: z.array(ClientTool).max(128).nullable().optional(),
  tool_choice: z.unknown().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  max_tokens: z.number().int().min(1).nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(4)])
    .nullable()
    .optional(),
  seed: z.number().int().nullable().optional(),
  n: z.number().int().nullable().optional(),
  metadata: z.record(z.string(), z.string().max(512)).nullable().optional(),
});
export type ChatRequest = z.infer<typeof ChatRequest>;

const textOf = (content: z.infer<typeof Content> | null | undefined): string =>
  typeof content === 'string'
    ? content
    : (content ?? [])
        .filter((p): p is z.infer<typeof TextPart> => p.type === 'text')
        .map((p) => p.text)
        .join('');

function parseArguments(raw: string): unknown {
  try {
    return JSON.parse(raw || '{}');
  } catch {
    return raw; // the model wrote invalid JSON; keep it as the model wrote it
  }
}

/**
 * OpenAI chat messages as AI SDK model messages. `splice(firstToolCallId)` returns the stored hidden steps of a
 * mixed-mode turn (server tool calls and results, and the assistant message with the client's calls) that stand
 * in for the client's copy of that assistant message; null keeps the client's.
 */
export function toModelMessages(
  messages: readonly ChatMessage[],
  splice: (firstToolCallId: string) => ModelMessage[] | null,
): ModelMessage[] {
  const out: ModelMessage[] = [];
  const toolNames = new Map<string, string>();
  for (const m of messages) {
    switch (m.role) {
      case 'system':
      case 'developer':
        out.push({ role: 'system', content: textOf(m.content) });
        break;
      case 'user':
        out.push({ role: 'user', content: userContent(m.content) });
        break;
      case 'assistant': {
        for (const call of m.tool_calls ?? []) toolNames.set(call.id, call.function.name);
        const stored = m.tool_calls?.length ? splice(m.tool_calls[0]!.id) : null;
        if (stored) {
          out.push(...stored);
          break;
        }
        const text = textOf(m.content);
        out.push({
          role: 'assistant',
          content: [
            ...(text ? [{ type: 'text' as const, text }] : []),
            ...(m.tool_calls ?? []).map((call) => ({
              type: 'tool-call' as const,
              toolCallId: call.id,
              toolName: call.function.name,
              input: parseArguments(call.function.arguments),
            })),
          ],
        });
        break;
      }
      case 'tool':
        out.push({
          role: 'tool',
          content: [
            {
              type: 'tool-result',
              toolCallId: m.tool_call_id,
              toolName: toolNames.get(m.tool_call_id) ?? 'unknown',
              output: { type: 'text', value: textOf(m.content) },
            },
          ],
        });
        break;
    }
  }
  return out;
}

type UserContent = Extract<ModelMessage, { role: 'user' }>['content'];
function userContent(content: z.infer<typeof Content>): UserContent {
  if (typeof content === 'string') return content;
  return content.flatMap((p): Exclude<UserContent, string> => {
    if (p.type === 'text') return [{ type: 'text' as const, text: (p as { text: string }).text }];
    if (p.type === 'image_url')
      return [{ type: 'image' as const, image: (p as z.infer<typeof ImagePart>).image_url.url }];
    return [];
  });
}
