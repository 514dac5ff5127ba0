/** Unit tests of the console's pure helpers (markdown sanitising, paths, field messages, in-browser zipping). */
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { humanizeFieldMessage } from '../../web/src/lib/fields.js';
import { renderMarkdown } from '../../web/src/lib/markdown.js';
import { resolveSkillPath } from '../../web/src/lib/paths.js';
import { prepareFiles, prepareFolderInput } from '../../web/src/lib/zip.js';

describe('renderMarkdown', () => {
  it('splits off the front matter and renders the body', () => {
    const { frontmatter, html } = renderMarkdown(
      '---\nname: pdf\ndescription: PDFs\n---\n# Title\n\nText *here*.\n',
    );
    expect(frontmatter).toBe('name: pdf\ndescription: PDFs');
    expect(html).toContain('<h1>Title</h1>');
    expect(html).toContain('<em>here</em>');
  });

  it('makes code blocks keyboard-scrollable regions with a name, their code escaped', () => {
    const { html } = renderMarkdown('```py"><b\nprint("<b>")\n```\n\n```\nplain\n```\n');
    expect(html).toContain(
      '<pre tabindex="0" role="region" aria-label="Code (py&quot;&gt;&lt;b)"><code class="language-py&quot;&gt;&lt;b">print(&quot;&lt;b&gt;&quot;)</code></pre>',
    );
    expect(html).toContain('<pre tabindex="0" role="region" aria-label="Code"><code>plain</code></pre>');
  });

  it('escapes raw HTML blocks and inline tags', () => {
    const { html } = renderMarkdown(
      '<script>alert(1)</script>\n\nHello <img src=x onerror=alert(1)> <b>bold</b>\n\n<iframe src="https://evil"></iframe>\n',
    );
    expect(html).not.toMatch(/<(script|img|iframe|b)[\s>]/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('drops dangerous link protocols and never loads images', () => {
    const { html } = renderMarkdown(
      '[a](javascript:alert(1)) [b](data:text/html,x) [c](https://example.com "t") [d](reference/x.md) ![pic](https://t.example/p.png)',
    );
    expect(html).not.toMatch(/javascript:|data:text/);
    expect(html).toContain('href="https://example.com"');
    expect(html).toContain('rel="noopener noreferrer nofollow"');
    expect(html).toContain('href="reference/x.md"');
    expect(html).not.toContain('<img');
    expect(html).toContain('[Image: pic]');
  });
});

describe('resolveSkillPath', () => {
  it('resolves links relative to the file, and / from the skill root', () => {
    expect(resolveSkillPath('SKILL.md', 'reference/api.md')).toBe('reference/api.md');
    expect(resolveSkillPath('reference/api.md', '../scripts/run.py#usage')).toBe('scripts/run.py');
    expect(resolveSkillPath('reference/api.md', './forms.md')).toBe('reference/forms.md');
    expect(resolveSkillPath('a/b/c.md', '/SKILL.md')).toBe('SKILL.md');
    expect(resolveSkillPath('SKILL.md', 'docs/my%20file.md')).toBe('docs/my file.md');
  });
});

describe('humanizeFieldMessage', () => {
  it('gives sentence fragments their field as subject', () => {
    expect(humanizeFieldMessage('username', 'is already taken')).toBe('Username is already taken');
    expect(humanizeFieldMessage('current_password', 'is wrong')).toBe('Current password is wrong');
    expect(humanizeFieldMessage('password', 'Too small: expected string to have >=10 characters')).toBe(
      'Too small: expected string to have >=10 characters',
    );
    expect(humanizeFieldMessage('email', 'invalid email address')).toBe('Invalid email address');
  });
});

describe('zipping a picked folder', () => {
  const file = (name: string, text: string) =>
    new File([text], name.split('/').pop()!, { type: 'text/plain' });

  it('keeps relative paths and skips system files', async () => {
    const skillMd = file('SKILL.md', '---\nname: demo\n---\n');
    Object.defineProperty(skillMd, 'webkitRelativePath', { value: 'demo/SKILL.md' });
    const script = file('run.py', 'print(1)');
    Object.defineProperty(script, 'webkitRelativePath', { value: 'demo/scripts/run.py' });
    const junk = file('.DS_Store', 'x');
    Object.defineProperty(junk, 'webkitRelativePath', { value: 'demo/.DS_Store' });

    const prepared = await prepareFolderInput([skillMd, script, junk]);
    expect(prepared).toMatchObject({
      kind: 'folder',
      label: 'demo/',
      fileCount: 2,
      skipped: ['demo/.DS_Store'],
    });
    const entries = unzipSync(new Uint8Array(await prepared.blob.arrayBuffer()));
    expect(Object.keys(entries).sort()).toEqual(['demo/SKILL.md', 'demo/scripts/run.py']);
    expect(new TextDecoder().decode(entries['demo/scripts/run.py'])).toBe('print(1)');
  });

  it('passes a single archive through untouched', async () => {
    const zip = new File([new Uint8Array([0x50, 0x4b, 3, 4])], 'demo.skill');
    const prepared = await prepareFiles([{ path: 'demo.skill', file: zip }]);
    expect(prepared.kind).toBe('archive');
    expect(prepared.blob).toBe(zip);
  });
});
