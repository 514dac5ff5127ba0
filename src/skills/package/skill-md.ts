/**
 * Parsing and validating SKILL.md (Agent Skills spec): YAML frontmatter between `---` lines at byte 0,
 * then the markdown body. Hard errors make the upload fail (422 `invalid_skill`); softer problems are
 * returned as warnings, as lenient hosts are expected to do.
 */
import { isAlias, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { type AppError, PayloadTooLargeError, UnprocessableError } from '../../shared/errors.js';
import { describeTextProblem, findTextProblem, findUnsafeText, printablePath } from '../../shared/text.js';

export interface ParsedSkill {
  /** NFKC-normalised. */
  name: string;
  description: string;
  license?: string;
  compatibility?: string;
  metadata: Record<string, string>;
  /** The experimental `allowed-tools` field, space-separated. Informational only. */
  allowedTools?: string;
  /** The raw parsed frontmatter map. */
  frontmatter: Record<string, unknown>;
  body: string;
  warnings: string[];
}

export const MAX_NAME_LENGTH = 64;
export const MAX_DESCRIPTION_LENGTH = 1024;
export const MAX_COMPATIBILITY_LENGTH = 500;
/**
 * Bounds on the frontmatter, far above what a real skill needs (a spec-conformant one is well under 2 KiB with
 * a handful of keys) and low enough that parsing costs a few milliseconds at most: YAML work runs on the event
 * loop, so an unbounded block would stall every other request.
 */
export const FRONTMATTER_LIMITS = Object.freeze({
  /** Bytes (UTF-8) between the `---` lines. */
  maxBytes: 64 * 1024,
  /** Mapping keys and list items, at every depth. */
  maxNodes: 2000,
  /** Nesting of mappings and lists. */
  maxDepth: 16,
  /** Alias (`*x`) uses; each may expand its anchor once. */
  maxAliases: 100,
});
export const KNOWN_FRONTMATTER_KEYS: readonly string[] = Object.freeze([
  'name',
  'description',
  'license',
  'compatibility',
  'metadata',
  'allowed-tools',
]);

const OPENING = /^---[ \t]*\r?(?:\n|$)/;
const CLOSING = /^---[ \t]*\r?(?:\n|$)/m;
/** `<tag>`, `</tag>`, `<tag attr>`, `<br/>`, `<!-- -->`, `<?xml ?>`, `<![CDATA[`. */
const XML_TAG = /<\/?[A-Za-z][^<>]*>|<[!?][^<>]*>/;

const codePoints = (s: string): number => [...s].length;

function invalidSkill(errors: string[]): AppError {
  return new UnprocessableError('invalid_skill', `SKILL.md is invalid: ${errors.join('; ')}`, { errors });
}

/** Decode bytes as UTF-8, refusing invalid sequences (a leading BOM is dropped). */
export function decodeUtf8Strict(buf: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new UnprocessableError('invalid_skill', 'SKILL.md is not valid UTF-8', {
      errors: ['SKILL.md is not valid UTF-8'],
    });
  }
}

export function normalizeSkillName(name: string): string {
  return name.trim().normalize('NFKC');
}

/**
 * The spec's name rules, as the reference validator applies them: NFKC-normalise, then 1–64 characters,
 * lowercase, letters (any script) / digits / `-` only, no leading/trailing `-`, no `--`.
 * Returns the list of problems (empty when valid).
 */
export function validateSkillName(rawName: string): string[] {
  const name = normalizeSkillName(rawName);
  if (name === '') return ['name must not be empty'];
  const errors: string[] = [];
  const length = codePoints(name);
  if (length > MAX_NAME_LENGTH)
    errors.push(`name must be at most ${MAX_NAME_LENGTH} characters (got ${length})`);
  if (XML_TAG.test(name)) errors.push('name must not contain XML tags');
  if (name !== name.toLowerCase()) errors.push(`name ${JSON.stringify(name)} must be lowercase`);
  if (!/^[\p{L}\p{N}-]+$/u.test(name)) {
    errors.push(`name ${JSON.stringify(name)} may only contain lowercase letters, digits and hyphens`);
  }
  if (name.startsWith('-') || name.endsWith('-')) errors.push('name must not start or end with a hyphen');
  if (name.includes('--')) errors.push('name must not contain consecutive hyphens');
  return errors;
}

export function isValidSkillName(name: string): boolean {
  return validateSkillName(name).length === 0;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map);
}

function scalarToString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value instanceof Date) return value.toISOString();
  return undefined;
}

interface Split {
  yaml: string;
  body: string;
}

function splitFrontmatter(text: string): Split | string {
  const open = OPENING.exec(text);
  if (!open) return 'SKILL.md must start with a YAML frontmatter block between "---" lines';
  const rest = text.slice(open[0].length);
  // Look for the closing line only as far as the frontmatter may reach (a UTF-16 unit is at least one UTF-8
  // byte), so that a huge SKILL.md without one is refused without scanning it all.
  const close = CLOSING.exec(rest.slice(0, FRONTMATTER_LIMITS.maxBytes + 8));
  if (!close) {
    if (rest.length > FRONTMATTER_LIMITS.maxBytes)
      throw frontmatterLimit('bytes', FRONTMATTER_LIMITS.maxBytes, 'bytes');
    return 'the frontmatter block is not closed by a "---" line';
  }
  return { yaml: rest.slice(0, close.index), body: rest.slice(close.index + close[0].length) };
}

function frontmatterLimit(what: string, limit: number, unit: string): AppError {
  const message = `SKILL.md frontmatter has more than ${limit} ${unit} (${what})`;
  return new PayloadTooLargeError('payload_too_large', message, { limit, limit_name: `frontmatter_${what}` });
}

/**
 * Counts nodes and nesting, and refuses duplicate keys, in one pass over the parsed tree. The YAML library's own
 * `uniqueKeys` check compares every key with every earlier one, which is quadratic in the number of keys.
 */
function checkTree(root: Node | null): string | null {
  let nodes = 0;
  let aliases = 0;
  const stack: Array<{ node: unknown; depth: number }> = [{ node: root, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (isAlias(node)) {
      if (++aliases > FRONTMATTER_LIMITS.maxAliases)
        throw frontmatterLimit('aliases', FRONTMATTER_LIMITS.maxAliases, 'aliases');
      continue;
    }
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth + 1 > FRONTMATTER_LIMITS.maxDepth)
      throw frontmatterLimit('depth', FRONTMATTER_LIMITS.maxDepth, 'levels of nesting');
    nodes += node.items.length;
    if (nodes > FRONTMATTER_LIMITS.maxNodes)
      throw frontmatterLimit('nodes', FRONTMATTER_LIMITS.maxNodes, 'keys and list items');
    if (isSeq(node)) {
      for (const item of node.items) stack.push({ node: item, depth: depth + 1 });
      continue;
    }
    const keys = new Set<string>();
    for (const pair of node.items) {
      const key: unknown = pair.key;
      if (isAlias(key) || isMap(key) || isSeq(key)) return 'frontmatter keys must be plain strings';
      const value: unknown = isScalar(key) ? key.value : key;
      // Typed, like the library's own check: `1:` and `"1":` are different keys.
      const id = `${typeof value}:${String(value)}`;
      if (keys.has(id))
        return `frontmatter is not valid YAML: the key ${JSON.stringify(String(value))} appears twice`;
      keys.add(id);
      stack.push({ node: pair.value, depth: depth + 1 });
    }
  }
  return null;
}

function parseYaml(source: string): { value: unknown; warnings: string[] } | string {
  const bytes = Buffer.byteLength(source, 'utf8');
  if (bytes > FRONTMATTER_LIMITS.maxBytes)
    throw frontmatterLimit('bytes', FRONTMATTER_LIMITS.maxBytes, 'bytes');
  const hint =
    ' (values containing ": " or starting with special characters must be quoted or use a block scalar)';
  const doc = parseDocument(source, { prettyErrors: false, uniqueKeys: false });
  const first = doc.errors[0];
  if (first) return `frontmatter is not valid YAML: ${first.message.split('\n')[0]}${hint}`;
  const problem = checkTree(doc.contents);
  if (problem) return problem;
  try {
    return {
      value: doc.toJS({ maxAliasCount: FRONTMATTER_LIMITS.maxAliases }),
      warnings: doc.warnings.map((w) => `frontmatter YAML: ${w.message.split('\n')[0]}`),
    };
  } catch (err) {
    return `frontmatter is not valid YAML: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * Parse SKILL.md text. `folderName` is the skill's folder (for the name/folder check), or null if unknown.
 * Throws AppError 422 `invalid_skill` with `details.errors`; returns warnings for accepted problems.
 */
export function parseSkillMd(text: string, folderName: string | null): ParsedSkill {
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const split = splitFrontmatter(source);
  if (typeof split === 'string') throw invalidSkill([split]);
  const parsed = parseYaml(split.yaml);
  if (typeof parsed === 'string') throw invalidSkill([parsed]);
  const fm = parsed.value;
  if (!isMapping(fm)) {
    const what = fm === null || fm === undefined ? 'empty' : Array.isArray(fm) ? 'a list' : `a ${typeof fm}`;
    throw invalidSkill([`frontmatter must be a YAML mapping of fields (it is ${what})`]);
  }
  const unstorable = unstorableText(source, fm);
  if (unstorable) throw invalidSkill([unstorable]);

  const warnings: string[] = [...parsed.warnings];
  const { name, description } = requiredFields(fm, warnings);

  const result: ParsedSkill = {
    name,
    description,
    metadata: {},
    frontmatter: fm,
    body: split.body,
    warnings,
  };

  readOptionalFields(fm, result, warnings);

  const unknown = Object.keys(fm).filter((k) => !KNOWN_FRONTMATTER_KEYS.includes(k));
  for (const key of unknown) {
    warnings.push(`unknown frontmatter field ${JSON.stringify(key)} (not part of the Agent Skills spec)`);
  }

  if (folderName !== null) {
    const folder = folderName.normalize('NFKC');
    if (folder !== name) {
      warnings.push(`name ${JSON.stringify(name)} differs from the folder name ${JSON.stringify(folder)}`);
    }
  }

  const unlisted = mcpListingProblems(fm);
  if (unlisted.length > 0) {
    warnings.push(
      `${MCP_UNLISTED_WARNING}: the Skills-over-MCP extension refuses frontmatter that breaks the Agent Skills ` +
        `spec (${unlisted.join('; ')}). The MCP tools (load_skill_metadata, load_skill) still offer it; fix the ` +
        'frontmatter and upload a new version to have it listed.',
    );
  }

  return result;
}

/** `name` and `description`, both required: throws invalid_skill listing every problem with either. */
function requiredFields(
  fm: Record<string, unknown>,
  warnings: string[],
): { name: string; description: string } {
  const errors: string[] = [];

  // name
  let name = '';
  const rawName = fm.name;
  if (rawName === undefined || rawName === null) errors.push('name is required');
  else if (typeof rawName !== 'string') errors.push('name must be a string');
  else {
    name = normalizeSkillName(rawName);
    errors.push(...validateSkillName(rawName));
  }

  // description
  let description = '';
  const rawDescription = fm.description;
  if (rawDescription === undefined || rawDescription === null) errors.push('description is required');
  else if (typeof rawDescription !== 'string') errors.push('description must be a string');
  else {
    description = rawDescription.trim();
    if (description === '') errors.push('description must not be empty');
    else {
      if (XML_TAG.test(description)) errors.push('description must not contain XML tags');
      const length = codePoints(description);
      if (length > MAX_DESCRIPTION_LENGTH) {
        warnings.push(
          `description is ${length} characters; the spec allows at most ${MAX_DESCRIPTION_LENGTH}`,
        );
      }
    }
  }

  if (errors.length > 0) throw invalidSkill(errors);
  return { name, description };
}

/** license, compatibility, allowed-tools and metadata: accepted with a warning (converted or ignored) when off. */
function readOptionalFields(fm: Record<string, unknown>, result: ParsedSkill, warnings: string[]): void {
  // optional string fields
  const optionalString = (key: string): string | undefined => {
    const value = fm[key];
    if (value === undefined || value === null) return undefined;
    const str = scalarToString(value);
    if (str === undefined) {
      warnings.push(`${key} must be a string; ignored`);
      return undefined;
    }
    if (typeof value !== 'string') warnings.push(`${key} should be a string; converted`);
    return str.trim();
  };
  const license = optionalString('license');
  if (license !== undefined) result.license = license;
  const compatibility = optionalString('compatibility');
  if (compatibility !== undefined) {
    const length = codePoints(compatibility);
    if (length > MAX_COMPATIBILITY_LENGTH) {
      warnings.push(
        `compatibility is ${length} characters; the spec allows at most ${MAX_COMPATIBILITY_LENGTH}`,
      );
    }
    result.compatibility = compatibility;
  }

  // allowed-tools: a space-separated string; a YAML list is accepted and joined
  const tools = fm['allowed-tools'];
  if (Array.isArray(tools)) {
    const items = tools.map(scalarToString).filter((t): t is string => t !== undefined && t.trim() !== '');
    result.allowedTools = items.map((t) => t.trim()).join(' ');
    warnings.push('allowed-tools should be a space-separated string; the list was joined');
  } else if (tools !== undefined && tools !== null) {
    const str = scalarToString(tools);
    if (str === undefined) warnings.push('allowed-tools must be a string; ignored');
    else result.allowedTools = str.trim();
  }

  // metadata: string → string
  const metadata = fm.metadata;
  if (metadata !== undefined && metadata !== null) {
    if (!isMapping(metadata)) warnings.push('metadata must be a mapping of strings; ignored');
    else {
      const coerced: string[] = [];
      result.metadata = Object.fromEntries(
        Object.entries(metadata).map(([key, value]) => {
          if (typeof value === 'string') return [key, value];
          coerced.push(key);
          const str = scalarToString(value);
          return [key, str ?? (value === null ? '' : JSON.stringify(value))];
        }),
      );
      if (coerced.length > 0) {
        warnings.push(`metadata values must be strings; converted: ${coerced.join(', ')}`);
      }
    }
  }
}

/** The start of the upload warning for a skill that MCP `skills/list` leaves out (the console looks for it). */
export const MCP_UNLISTED_WARNING = "MCP clients' skills/list will not show this skill";

/**
 * The frontmatter rules the MCP SDK's Skills-over-MCP extension enforces on every entry before it lists it (its
 * `validateSkillEntry`, on the verbatim frontmatter); an entry breaking one is silently dropped from `skills/list`
 * and `skills/get` fails. Stricter than our upload rules, which accept such skills as lenient hosts should.
 */
export function mcpListingProblems(fm: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const { name, description, compatibility, metadata } = fm;
  if (typeof name === 'string' && !/^[\da-z]+(?:-[\da-z]+)*$/.test(name)) {
    problems.push(`name ${JSON.stringify(name)} is not ASCII lowercase letters, digits and single hyphens`);
  }
  if (typeof description === 'string' && codePoints(description) > MAX_DESCRIPTION_LENGTH) {
    problems.push(
      `description is ${codePoints(description)} characters, over the limit of ${MAX_DESCRIPTION_LENGTH}`,
    );
  }
  if (
    compatibility !== undefined &&
    (typeof compatibility !== 'string' ||
      compatibility === '' ||
      codePoints(compatibility) > MAX_COMPATIBILITY_LENGTH)
  ) {
    problems.push(`compatibility is not a string of 1 to ${MAX_COMPATIBILITY_LENGTH} characters`);
  }
  if (
    metadata !== undefined &&
    !(isMapping(metadata) && Object.values(metadata).every((v) => typeof v === 'string'))
  ) {
    problems.push('metadata is not a mapping of strings to strings');
  }
  return problems;
}

/**
 * Text that could not be stored or served: NUL anywhere in SKILL.md, NUL or lone surrogates that YAML escapes
 * (`"\0"`, `"\ud800"`) put in a field, and a field that contains itself through a recursive alias (`x: &x [*x]`).
 */
function unstorableText(source: string, fm: Record<string, unknown>): string | undefined {
  const bad = findTextProblem(source);
  if (bad) {
    const line = source.slice(0, bad.index).split('\n').length;
    return `SKILL.md ${describeTextProblem(bad.problem)} (line ${line})`;
  }
  const found = findUnsafeText(fm);
  if (!found) return undefined;
  const field = `frontmatter field ${printablePath(found.path)}`;
  return found.problem === 'circular'
    ? `${field} refers to itself (a recursive YAML alias)`
    : `${field} ${describeTextProblem(found.problem)}`;
}
