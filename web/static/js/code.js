// Code and diffs → DOM, highlighted by the vendored highlight.js (its output escapes the text it is given).
import hljs from '../vendor/highlight.js-11.12.0/highlight.min.js';
import { h } from './dom.js';
import { plural } from './format.js';

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

/** A task's diff (`GET /api/tasks/<id>/diff`) → DOM: the totals and merge state, one line per file with its line
 *  counts, then each file's part of the unified diff, highlighted. */
export function diffView(diff) {
  const merge = diff.merge && diff.merge.state ? ` · ${diff.merge.state.replace('_', ' ')}` : '';
  if (!diff.started) return [h('p', { class: 'muted', text: 'Not started: its branch has no commits yet.' })];
  return [
    h('header', { class: 'files-file-head' }, h('strong', { text: `Changes against main: ${plural(diff.files.length, 'file')}` }),
      h('span', { class: 'muted', text: ` +${diff.added} −${diff.deleted}${merge}` })),
    h('ul', { class: 'files-stats' }, diff.files.map((f) => h('li', { class: 'mono', text: `${f.path} (${f.status}${f.binary ? ', binary' : `, +${f.added} −${f.deleted}`})` }))),
    splitDiff(diff.diff).map(([name, text]) => h('details', { class: 'files-diff', open: true },
      h('summary', { class: 'mono', text: name }), codeBlock(text, 'diff'))),
  ];
}

/** A unified diff cut into one piece per file (`diff --git a/x b/x` starts each), named by its path. */
function splitDiff(text) {
  const pieces = String(text || '').split(/^(?=diff --git )/m).filter((p) => p.trim());
  return pieces.map((piece) => {
    const match = /^diff --git a\/(.*?) b\/(.*)$/m.exec(piece);
    return [match ? match[2] : 'diff', piece.replace(/\n$/, '')];
  });
}
