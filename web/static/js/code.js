// Code and diffs → DOM, highlighted by the vendored highlight.js (its output escapes the text it is given).
import hljs from '../vendor/highlight.js-11.12.0/highlight.min.js';
import { h } from './dom.js';

const MAX_HIGHLIGHT_CHARS = 200_000; // past this the text is shown plain: highlighting would stall the page

/** The highlight.js language for a file name (`app.py` → python), or '' when it knows none. */
export function languageOf(name) {
  const base = String(name || '').split('/').pop().toLowerCase();
  if (base === 'makefile' || base === 'dockerfile') return base;
  const ext = base.includes('.') ? base.split('.').pop() : '';
  return ext && hljs.getLanguage(ext) ? ext : '';
}

/** `<pre><code>` with `text` highlighted as `language` (plain when unknown or very long). */
export function codeBlock(text, language) {
  const code = h('code', { class: `hljs${language ? ` language-${language}` : ''}` });
  if (language && hljs.getLanguage(language) && text.length <= MAX_HIGHLIGHT_CHARS) {
    code.innerHTML = hljs.highlight(text, { language, ignoreIllegals: true }).value;
  } else {
    code.textContent = text;
  }
  return h('pre', { class: 'code-view', tabindex: '0' }, code);
}
