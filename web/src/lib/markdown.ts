import { Marked } from 'marked';

/**
 * Markdown rendering for skill files. Skills are user content (and shared skills other users' content), so
 * raw HTML is never passed through: HTML blocks and inline tags are escaped and shown as text, links only
 * keep safe protocols, and images are rendered as plain links (no remote fetches, no tracking pixels).
 */

export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function safeHref(href: string | null | undefined): string | null {
  if (!href) return null;
  const h = href.trim();
  if (/^(https?:|mailto:)/i.test(h)) return h;
  if (/^[a-z][a-z0-9+.-]*:/i.test(h)) return null; // javascript:, data:, vbscript:, …
  if (h.startsWith('//')) return null;
  return h; // relative link or #anchor
}

const md = new Marked({ gfm: true, breaks: false, async: false });
md.use({
  renderer: {
    // A code block scrolls sideways: focusable and named, so keyboard users can scroll it too.
    code({ text, lang }) {
      const language = lang?.trim().split(/\s+/)[0];
      const label = language ? `Code (${escapeHtml(language)})` : 'Code';
      const cls = language ? ` class="language-${escapeHtml(language)}"` : '';
      return `<pre tabindex="0" role="region" aria-label="${label}"><code${cls}>${escapeHtml(text)}</code></pre>\n`;
    },
    html(token) {
      // Raw HTML is shown, not interpreted.
      const escaped = escapeHtml(token.text);
      return 'block' in token && token.block ? `<p class="md-raw-html">${escaped.trim()}</p>\n` : escaped;
    },
    link({ href, title, tokens }) {
      const text = this.parser.parseInline(tokens);
      const safe = safeHref(href);
      if (!safe) return text;
      const t = title ? ` title="${escapeHtml(title)}"` : '';
      const external = /^https?:/i.test(safe) ? ' target="_blank" rel="noopener noreferrer nofollow"' : '';
      return `<a href="${escapeHtml(safe)}"${t}${external}>${text}</a>`;
    },
    image({ href, text }) {
      const safe = safeHref(href);
      const label = `Image: ${escapeHtml(text || href || '')}`;
      if (!safe || !/^https?:/i.test(safe)) return `<span class="md-image">[${label}]</span>`;
      return `<a class="md-image" href="${escapeHtml(safe)}" target="_blank" rel="noopener noreferrer nofollow">[${label}]</a>`;
    },
  },
});

export interface ParsedMarkdown {
  frontmatter: string | null;
  html: string;
}

export function renderMarkdown(source: string): ParsedMarkdown {
  let body = source.replace(/^\uFEFF/, '');
  let frontmatter: string | null = null;
  const m = /^---\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(body);
  if (m) {
    frontmatter = m[1] ?? '';
    body = body.slice(m[0].length);
  }
  return { frontmatter, html: md.parse(body) as string };
}
