/**
 * Generated hostile inputs: from a JSON Schema (an OpenAPI request body, an MCP tool's input schema), a value
 * the schema accepts, and every variant of it with one string poisoned by text no store can hold.
 */

/** A NUL and both kinds of lone UTF-16 surrogate. */
export const POISONS: Record<string, string> = {
  nul: '\u0000',
  'lone high surrogate': '\ud800',
  'lone low surrogate': '\udfff',
};

/** Each poison as it can travel in a URL: NUL percent-encoded; a surrogate as its (invalid) UTF-8 bytes. */
export const URL_POISONS: Record<string, string> = {
  nul: '%00',
  'lone high surrogate': '%ED%A0%80',
  'lone low surrogate': '%ED%BF%BF',
};

export type JsonSchema = {
  type?: string | string[];
  format?: string;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  default?: unknown;
};

function sampleString(schema: JsonSchema, name: string): string {
  if (schema.format === 'email' || /email/.test(name)) return 'sample@example.com';
  if (schema.format === 'uuid') return '00000000-0000-4000-8000-000000000000';
  if (schema.format === 'date-time') return '2099-01-01T00:00:00Z';
  if (schema.pattern) return 'sampleuser';
  return 'sample';
}

/** A value `schema` accepts (best effort: enough for every other field of a request to pass). */
export function sampleOf(schema: JsonSchema, name = ''): unknown {
  const branch = schema.anyOf?.[0] ?? schema.oneOf?.[0];
  if (branch) return sampleOf(branch, name);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum?.length) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'string':
      return sampleString(schema, name);
    case 'integer':
    case 'number':
      return Math.max(1, schema.minimum ?? 1);
    case 'boolean':
      return false;
    case 'array':
      return schema.items ? [sampleOf(schema.items, name)] : [];
    case 'object':
    default:
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, s]) => [k, sampleOf(s, k)]));
  }
}

/** Puts the poison inside an otherwise valid-looking string. */
export const poisoned = (valid: string, poison: string): string =>
  valid.slice(0, 1) + poison + valid.slice(1);

/**
 * Every variant of the schema's sample with exactly one string leaf poisoned, named by its dotted path. A schema
 * without any string leaf yields none.
 */
export function poisonedVariants(
  schema: JsonSchema,
  poison: string,
): Array<{ field: string; value: unknown }> {
  const sample = sampleOf(schema);
  const out: Array<{ field: string; value: unknown }> = [];
  const visit = (value: unknown, path: string[]) => {
    if (typeof value === 'string') {
      out.push({ field: path.join('.'), value: replaceAt(sample, path, poisoned(value, poison)) });
    } else if (Array.isArray(value)) value.forEach((v, i) => visit(v, [...path, String(i)]));
    else if (value && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) visit(v, [...path, k]);
  };
  visit(sample, []);
  return out;
}

function replaceAt(root: unknown, path: string[], leaf: unknown): unknown {
  if (!path.length) return leaf;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(root)) return root.map((v, i) => (String(i) === head ? replaceAt(v, rest, leaf) : v));
  const obj = root as Record<string, unknown>;
  return { ...obj, [head]: replaceAt(obj[head], rest, leaf) };
}

/** Cursors that decode to keys no listing may accept: wrong ids, NUL, surrogates, huge numbers, garbage. */
export const HOSTILE_CURSORS: Record<string, string> = Object.fromEntries(
  Object.entries({
    'name cursor with a non-UUID id': { n: 'demo', i: 'not-a-uuid' },
    'name cursor with a NUL': { n: 'de\u0000mo', i: '00000000-0000-4000-8000-000000000000' },
    'name cursor with a lone surrogate': { n: '\ud800', i: '00000000-0000-4000-8000-000000000000' },
    'time cursor with a non-UUID id': ['2020-01-01T00:00:00.000000Z', 'x'],
    'time cursor with a NUL id': ['2020-01-01T00:00:00.000000Z', '\u0000'],
    'time cursor with a NUL time': ['2020-01-01T00:00:00\u0000', '00000000-0000-4000-8000-000000000000'],
    'an offset beyond every page': { o: 1e20 },
    'a negative offset': { o: -1 },
    'a number beyond any id': 1e300,
    'a bare NUL string': '\u0000',
  }).map(([label, key]) => [label, Buffer.from(JSON.stringify(key)).toString('base64url')]),
);
HOSTILE_CURSORS['not base64 JSON at all'] = '%%%not-a-cursor';
