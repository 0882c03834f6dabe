// Markdown → DOM with vendored libraries (see web/static/vendor/README.md): markdown-it parses, highlight.js
// colours fenced code, DOMPurify sanitises the HTML before it becomes nodes.
//
// What a message can do is deliberately small:
// - html:false — raw HTML in the source is escaped, so it is shown as text;
// - links open in a new tab with rel="noopener noreferrer nofollow"; only http(s): and mailto: targets are
//   followed: javascript:, data:, relative and other targets become plain text (span.md-link-off);
// - images load nothing: ![alt](url) becomes a link "🖼 alt" (or text when the URL is not safe);
// - headings shift down two levels (# → h3): they sit under the page's own headings;
// - task lists ([ ] / [x]) show disabled checkboxes; tables get alignment classes (no inline styles: the CSP
//   forbids them).
// Whatever markdown-it produces still goes through DOMPurify, and links are checked once more on the DOM.

import DOMPurify from '../vendor/dompurify-3.5.0/purify.es.mjs';
import hljs from '../vendor/highlight.js-11.12.0/highlight.min.js';
import MarkdownIt from '../vendor/markdown-it-15.0.3/markdown-it.esm.min.mjs';
import { copyText, h } from './dom.js';
import { followTheme } from './theme.js';

const SAFE_SCHEMES = /^(https?:|mailto:)/i;
// Highlighting is linear but not free; a huge paste is shown plain rather than freezing the tab.
const MAX_HIGHLIGHT_CHARS = 100_000;

const md = new MarkdownIt('default', {
  html: false,
  linkify: true,
  breaks: true, // agents write single newlines as line breaks
  typographer: false,
  maxNesting: 20,
});
// Bare "setup.py" or "user@host" are not links: only URLs with a scheme are linkified.
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false });
// Every target reaches the renderer; the core rule below decides what becomes a link (markdown-it's own check
// would leave "[bad](javascript:…)" as literal source text).
md.validateLink = () => true;

md.core.ruler.push('gamma_shape', (state) => {
  for (const token of state.tokens) {
    if (token.type === 'heading_open' || token.type === 'heading_close') {
      const level = Number(token.tag.slice(1));
      token.tag = `h${Math.min(6, level + 2)}`;
      if (token.type === 'heading_open') token.attrJoin('class', `md-h md-h${level}`);
    } else if (token.type === 'th_open' || token.type === 'td_open') {
      const style = token.attrGet('style') || '';
      const align = style.match(/text-align:\s*(left|right|center)/);
      token.attrs = (token.attrs || []).filter(([name]) => name !== 'style');
      if (align) token.attrJoin('class', `al-${align[1]}`);
    } else if (token.type === 'inline' && token.children) {
      disarmLinks(token.children);
    }
  }
});

/** Links whose target is not followed become spans (open and close tags alike). */
function disarmLinks(children) {
  const open = [];
  for (const token of children) {
    if (token.type === 'link_open') {
      const href = token.attrGet('href') || '';
      const safe = SAFE_SCHEMES.test(href.trim());
      open.push(safe);
      if (!safe) {
        token.tag = 'span';
        token.attrs = [['class', 'md-link-off'], ['title', href]];
      }
    } else if (token.type === 'link_close') {
      if (open.pop() === false) token.tag = 'span';
    }
  }
}

md.renderer.rules.image = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  const src = token.attrGet('src') || '';
  const label = md.utils.escapeHtml(`🖼 ${self.renderInlineAsText(token.children || [], options, env) || 'image'}`);
  if (!SAFE_SCHEMES.test(src.trim())) return `<span class="md-link-off" title="${md.utils.escapeHtml(src)}">${label}</span>`;
  return `<a href="${md.utils.escapeHtml(src)}">${label}</a>`;
};
md.renderer.rules.table_open = () => '<div class="md-table"><table>\n';
md.renderer.rules.table_close = () => '</table></div>\n';
md.renderer.rules.fence = (tokens, idx) => {
  const info = tokens[idx].info ? md.utils.unescapeAll(tokens[idx].info).trim() : '';
  return codeHtml(tokens[idx].content, info.split(/\s+/)[0]);
};
md.renderer.rules.code_block = (tokens, idx) => codeHtml(tokens[idx].content, '');

function cleanLanguage(lang) {
  return String(lang || '').replace(/[^\w+#.-]/g, '').slice(0, 20).toLowerCase();
}

/** A code block as HTML: highlighted when highlight.js knows the language, escaped otherwise. The bar with
 *  the language label and the Copy button is added on the DOM (it needs a listener). */
function codeHtml(content, lang) {
  const code = content.replace(/\n$/, '');
  const language = cleanLanguage(lang);
  const known = language && hljs.getLanguage(language) && code.length <= MAX_HIGHLIGHT_CHARS;
  const body = known ? hljs.highlight(code, { language, ignoreIllegals: true }).value : md.utils.escapeHtml(code);
  const cls = `hljs${language ? ` language-${language}` : ''}`;
  return `<div class="md-code" data-lang="${md.utils.escapeHtml(language)}"><pre tabindex="0"><code class="${cls}">${body}</code></pre></div>\n`;
}

const PURIFY = {
  // markdown-it with html:false emits only these; anything else would be a bug and is dropped.
  ALLOWED_TAGS: ['a', 'blockquote', 'br', 'code', 'del', 'div', 'em', 'h3', 'h4', 'h5', 'h6', 'hr', 'li', 'ol',
    'p', 'pre', 's', 'span', 'strong', 'table', 'tbody', 'td', 'th', 'thead', 'tr', 'ul'],
  ALLOWED_ATTR: ['class', 'href', 'title', 'start', 'tabindex', 'data-lang'],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

function sanitized(html) {
  const fragment = DOMPurify.sanitize(html, PURIFY);
  finishLinks(fragment);
  return fragment;
}

function finishLinks(root) {
  for (const a of root.querySelectorAll('a')) {
    const href = (a.getAttribute('href') || '').trim();
    if (!SAFE_SCHEMES.test(href)) {
      a.replaceWith(h('span', { class: 'md-link-off', title: href }, ...a.childNodes));
      continue;
    }
    a.setAttribute('target', '_blank');
    a.setAttribute('rel', 'noopener noreferrer nofollow');
  }
}

function finishCode(root) {
  for (const block of root.querySelectorAll('.md-code')) {
    const code = block.querySelector('code');
    const text = code ? code.textContent : '';
    const copy = h('button', { type: 'button', class: 'btn btn-ghost btn-xs md-copy', text: 'Copy', 'aria-label': 'Copy code' });
    copy.addEventListener('click', async () => {
      const ok = await copyText(text);
      copy.textContent = ok ? 'Copied' : 'Failed';
      setTimeout(() => { copy.textContent = 'Copy'; }, 1400);
    });
    block.prepend(h('div', { class: 'md-code-bar' }, h('span', { class: 'md-lang', text: block.dataset.lang || 'text' }), copy));
  }
}

/** "[ ] x" / "[x] x" at the start of a list item → a disabled checkbox. */
function finishTasks(root) {
  for (const li of root.querySelectorAll('li')) {
    const holder = li.firstElementChild && li.firstElementChild.tagName === 'P' ? li.firstElementChild : li;
    const first = holder.firstChild;
    if (!first || first.nodeType !== Node.TEXT_NODE) continue;
    const m = first.nodeValue.match(/^\[([ xX])\]\s+/);
    if (!m) continue;
    const done = m[1] !== ' ';
    first.nodeValue = first.nodeValue.slice(m[0].length);
    li.classList.add('md-task');
    holder.prepend(h('input', { type: 'checkbox', disabled: true, checked: done, 'aria-label': done ? 'done' : 'not done' }), ' ');
  }
}

/** Markdown (untrusted) → a `div.md` element to insert. */
export function renderMarkdown(source) {
  followTheme();
  const root = h('div', { class: 'md' });
  const text = String(source ?? '');
  root.append(sanitized(md.render(text)));
  // markdown-it puts a newline after each block; between blocks it is only noise in textContent.
  for (const node of Array.from(root.childNodes)) {
    if (node.nodeType === Node.TEXT_NODE && !node.nodeValue.trim()) node.remove();
  }
  finishCode(root);
  finishTasks(root);
  return root;
}

/** One line of inline Markdown (a task title) → an array of nodes: no blocks, no code highlighting. */
export function inline(text) {
  return Array.from(sanitized(md.renderInline(String(text ?? ''))).childNodes);
}
