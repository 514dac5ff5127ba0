import yazl from 'yazl';

export interface YazlEntry {
  path: string;
  data?: Buffer | string;
  mode?: number;
  dir?: boolean;
  compress?: boolean;
}

/** Build a zip with yazl (the ordinary, well-formed cases). */
export async function yazlZip(entries: readonly YazlEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.dir) zip.addEmptyDirectory(e.path);
    else {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
      zip.addBuffer(data, e.path, { mode: e.mode ?? 0o100644, compress: e.compress ?? true });
    }
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A minimal valid skill as zip entries, inside a top-level folder named after it. */
export function skillEntries(
  name: string,
  description = `The ${name} skill. Use it when testing.`,
  extra: YazlEntry[] = [],
  body = `# ${name}\n\nInstructions for ${name}.\n`,
): YazlEntry[] {
  const md = `---\nname: ${name}\ndescription: ${JSON.stringify(description)}\n---\n${body}`;
  return [{ path: `${name}/SKILL.md`, data: md }, ...extra.map((e) => ({ ...e, path: `${name}/${e.path}` }))];
}

export const skillZip = (name: string, description?: string, extra: YazlEntry[] = [], body?: string) =>
  yazlZip(skillEntries(name, description, extra, body));
