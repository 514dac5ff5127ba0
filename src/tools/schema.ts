import { z } from 'zod';
import type { Tool } from './tool.js';

/**
 * Tool argument schemas are built once, and their JSON Schema is converted once: the MCP edge builds a server
 * instance per request, and the SDK converts the called tool's schema on every request (for its pre-dispatch
 * header checks) and every `tools/list`. Both are pure functions of the schema, so the result is kept on it.
 */
export function withCachedJsonSchema<T extends z.ZodType>(schema: T): T {
  type Converter = (options: { target: string }) => Record<string, unknown>;
  const standard = schema['~standard'] as unknown as {
    jsonSchema: { input: Converter; output: Converter };
  } & Record<string, unknown>;
  const memo = new Map<string, Record<string, unknown>>();
  const cached =
    (io: 'input' | 'output'): Converter =>
    (options) => {
      const key = `${io}\0${options.target}`;
      let json = memo.get(key);
      if (!json) {
        json = deepFreeze(standard.jsonSchema[io](options));
        memo.set(key, json);
      }
      return json;
    };
  (schema as { '~standard': unknown })['~standard'] = {
    ...standard,
    jsonSchema: { input: cached('input'), output: cached('output') },
  };
  return schema;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Schemas that stand for a JSON Schema given by someone else (an upstream MCP server's tool). */
const givenJsonSchemas = new WeakMap<z.ZodType, Record<string, unknown>>();

/**
 * Arguments described by a JSON Schema we did not write (an upstream MCP server's tool): accepts any object (the
 * upstream validates its own arguments) and lists exactly the given schema on every edge, unconverted.
 */
export function givenJsonSchema(json: Record<string, unknown>): z.ZodObject {
  const schema = z.looseObject({});
  const frozen = deepFreeze(structuredClone(json));
  const standard = schema['~standard'] as unknown as Record<string, unknown>;
  (schema as { '~standard': unknown })['~standard'] = {
    ...standard,
    jsonSchema: { input: () => frozen, output: () => frozen },
  };
  givenJsonSchemas.set(schema, frozen);
  return schema;
}

/** A tool as the OpenAI chat-completions API describes one. */
export interface OpenAiFunctionSpec {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

const openAiSpecs = new WeakMap<Tool, OpenAiFunctionSpec>();

/** The OpenAI function spec of a tool, from the same zod schema MCP lists (converted once per tool). */
export function openAiFunction(tool: Tool): OpenAiFunctionSpec {
  let spec = openAiSpecs.get(tool);
  if (!spec) {
    // The arguments a model must send are the schema's input side; `$schema` means nothing to the API.
    const { $schema: _dialect, ...parameters } =
      givenJsonSchemas.get(tool.inputSchema) ?? z.toJSONSchema(tool.inputSchema, { io: 'input' });
    spec = { type: 'function', function: { name: tool.name, description: tool.description, parameters } };
    openAiSpecs.set(tool, spec);
  }
  return spec;
}
