// Markdown-lite → DOM. Untrusted text only ever becomes text nodes; the renderer builds elements itself, so
// there is no HTML parsing and nothing to sanitise. Raw HTML in the source is shown as text.
//
// Blocks: ATX headings, paragraphs (single newlines are line breaks), fenced code (``` or ~~~, with a language
// label and a Copy button), indented code, block quotes, ordered/unordered/task lists (nested by indentation),
// GFM tables, horizontal rules. Inline: `code`, **strong**, *em*/_em_, ~~strike~~, [links](https://…),
// bare URLs, ![images](…) (shown as links; nothing is loaded), backslash escapes.

import { copyText, h } from './dom.js';

const SAFE_SCHEMES = /^(https?:|mailto:)/i;
const MAX_DEPTH = 12;

export function renderMarkdown(source, { depth = 0 } = {}) {
  const root = h('div', { class: 'md' });
  const text = String(source ?? '').replace(/\r\n?/g, '\n').replace(/\t/g, '    ');
  renderBlocks(text.split('\n'), root, depth);
  return root;
}

// ------------------------------------------------------------------------------------------------- blocks

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)?.*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
const HR = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const BULLET = /^( *)([-*+])\s+(.*)$/;
const ORDERED = /^( *)(\d{1,9})[.)]\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

function isBlank(line) {
  return !line || !line.trim();
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || HR.test(line) || QUOTE.test(line)
    || BULLET.test(line) || ORDERED.test(line);
}

function renderBlocks(lines, parent, depth) {
  if (depth > MAX_DEPTH) {
    parent.append(h('p', {}, lines.join('\n')));
    return;
  }
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) { i += 1; continue; }

    const fence = line.match(FENCE);
    if (fence) {
      const marker = fence[1];
      const body = [];
      i += 1;
      while (i < lines.length && !new RegExp(`^ {0,3}${marker[0]}{${marker.length},}\\s*$`).test(lines[i])) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // closing fence (or end of input)
      parent.append(codeBlock(body.join('\n'), fence[2] || ''));
      continue;
    }

    const heading = line.match(HEADING);
    if (heading) {
      const level = Math.min(6, heading[1].length + 2); // h3…h6 inside messages: they sit under page headings
      parent.append(h(`h${Math.min(level, 6)}`, { class: `md-h md-h${heading[1].length}` }, inline(heading[2] || '')));
      i += 1;
      continue;
    }

    if (HR.test(line)) {
      parent.append(h('hr'));
      i += 1;
      continue;
    }

    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && !isBlank(lines[i])) {
        const m = lines[i].match(QUOTE);
        body.push(m ? m[1] : lines[i]);
        i += 1;
      }
      const quote = h('blockquote');
      renderBlocks(body, quote, depth + 1);
      parent.append(quote);
      continue;
    }

    if (BULLET.test(line) || ORDERED.test(line)) {
      i = renderList(lines, i, parent, depth);
      continue;
    }

    if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      i = renderTable(lines, i, parent);
      continue;
    }

    if (/^ {4,}\S/.test(line)) {
      const body = [];
      while (i < lines.length && (/^ {4}/.test(lines[i]) || isBlank(lines[i]))) {
        body.push(lines[i].slice(4));
        i += 1;
      }
      while (body.length && isBlank(body[body.length - 1])) body.pop();
      parent.append(codeBlock(body.join('\n'), ''));
      continue;
    }

    const para = [];
    while (i < lines.length && !isBlank(lines[i]) && (para.length === 0 || !startsBlock(lines[i]))) {
      para.push(lines[i].trim());
      i += 1;
    }
    const p = h('p');
    para.forEach((text, idx) => {
      if (idx) p.append(h('br'));
      p.append(...inline(text));
    });
    parent.append(p);
  }
}

function renderList(lines, start, parent, depth) {
  const first = lines[start].match(BULLET) || lines[start].match(ORDERED);
  const ordered = !lines[start].match(BULLET);
  const indent = first[1].length;
  const list = h(ordered ? 'ol' : 'ul');
  if (ordered && first[2] !== '1') list.setAttribute('start', String(parseInt(first[2], 10)));
  let i = start;
  let item = null;
  let body = [];
  const flush = () => {
    if (!item) return;
    renderListItem(body, item, depth);
    list.append(item);
  };
  while (i < lines.length) {
    const line = lines[i];
    const m = ordered ? line.match(ORDERED) : line.match(BULLET);
    if (m && m[1].length === indent) {
      flush();
      item = h('li');
      body = [m[3]];
      i += 1;
      continue;
    }
    if (isBlank(line)) {
      // A blank line continues the list only if the next line is indented or is another item.
      const next = lines[i + 1];
      if (next !== undefined && (/^\s{2,}\S/.test(next) || (ordered ? ORDERED : BULLET).test(next))) {
        body.push('');
        i += 1;
        continue;
      }
      break;
    }
    const leading = line.match(/^ */)[0].length;
    if (leading > indent) {
      body.push(line.slice(Math.min(leading, indent + 2)));
      i += 1;
      continue;
    }
    if (!startsBlock(line) && body.length && !isBlank(body[body.length - 1])) {
      body.push(line.trim()); // lazy continuation of the item's paragraph
      i += 1;
      continue;
    }
    break;
  }
  flush();
  parent.append(list);
  return i;
}

function renderListItem(body, item, depth) {
  let first = body[0] || '';
  const task = first.match(/^\[([ xX])\]\s+(.*)$/);
  if (task) {
    item.classList.add('md-task');
    item.append(h('input', { type: 'checkbox', disabled: true, checked: task[1] !== ' ', 'aria-label': task[1] !== ' ' ? 'done' : 'not done' }), ' ');
    first = task[2];
  }
  const rest = body.slice(1);
  const simple = rest.every((l) => !isBlank(l) && !startsBlock(l.trimStart()));
  if (simple) {
    [first, ...rest].forEach((text, idx) => {
      if (idx) item.append(h('br'));
      item.append(...inline(text.trim()));
    });
    return;
  }
  // The first line's paragraph stays inline; anything after it (nested lists, code) is rendered as blocks.
  let j = 0;
  const lead = [first];
  while (j < rest.length && !isBlank(rest[j]) && !startsBlock(rest[j].trimStart())) {
    lead.push(rest[j].trim());
    j += 1;
  }
  lead.forEach((text, idx) => {
    if (idx) item.append(h('br'));
    item.append(...inline(text));
  });
  renderBlocks(rest.slice(j), item, depth + 1);
}

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells = [];
  let cur = '';
  for (let k = 0; k < s.length; k += 1) {
    if (s[k] === '\\' && s[k + 1] === '|') { cur += '|'; k += 1; continue; }
    if (s[k] === '|') { cells.push(cur.trim()); cur = ''; continue; }
    cur += s[k];
  }
  cells.push(cur.trim());
  return cells;
}

function renderTable(lines, start, parent) {
  const header = splitRow(lines[start]);
  const aligns = splitRow(lines[start + 1]).map((c) => {
    const left = c.startsWith(':');
    const right = c.endsWith(':');
    if (left && right) return 'center';
    if (right) return 'right';
    return left ? 'left' : null;
  });
  const thead = h('thead', {}, h('tr', {}, header.map((c, k) => h('th', { class: aligns[k] ? `al-${aligns[k]}` : null, scope: 'col' }, inline(c)))));
  const tbody = h('tbody');
  let i = start + 2;
  while (i < lines.length && !isBlank(lines[i]) && lines[i].includes('|')) {
    const cells = splitRow(lines[i]);
    tbody.append(h('tr', {}, header.map((_, k) => h('td', { class: aligns[k] ? `al-${aligns[k]}` : null }, inline(cells[k] || '')))));
    i += 1;
  }
  parent.append(h('div', { class: 'md-table' }, h('table', {}, thead, tbody)));
  return i;
}

export function codeBlock(code, lang) {
  const language = String(lang || '').replace(/[^\w+#.-]/g, '').slice(0, 20);
  const copy = h('button', { type: 'button', class: 'btn btn-ghost btn-xs md-copy', text: 'Copy', 'aria-label': 'Copy code' });
  copy.addEventListener('click', async () => {
    const ok = await copyText(code);
    copy.textContent = ok ? 'Copied' : 'Failed';
    setTimeout(() => { copy.textContent = 'Copy'; }, 1400);
  });
  return h('div', { class: 'md-code' },
    h('div', { class: 'md-code-bar' }, h('span', { class: 'md-lang', text: language || 'text' }), copy),
    h('pre', { tabindex: '0' }, h('code', { class: language ? `lang-${language}` : null, text: code })));
}

// ------------------------------------------------------------------------------------------------- inline

const INLINE_RULES = [
  { name: 'escape', re: /\\([\\`*_{}[\]()#+\-.!|~>])/ },
  { name: 'code', re: /(`+)([\s\S]*?[^`])\1(?!`)/ },
  { name: 'image', re: /!\[([^\]]*)\]\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))+)>?(?:\s+"[^"]*")?\s*\)/ },
  { name: 'link', re: /\[((?:[^[\]]|\[[^\]]*\])+)\]\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))+)>?(?:\s+"[^"]*")?\s*\)/ },
  { name: 'url', re: /\bhttps?:\/\/[^\s<>()]+[^\s<>().,;:!?'"\]]/ },
  { name: 'strong', re: /(\*\*|__)(?=\S)([\s\S]*?\S)\1/ },
  { name: 'strike', re: /~~(?=\S)([\s\S]*?\S)~~/ },
  { name: 'em', re: /(\*|_)(?=[^\s*_])([\s\S]*?[^\s\\])\1(?![\w*])/ },
];

/** Inline Markdown → an array of nodes. */
export function inline(text, depth = 0) {
  const out = [];
  let rest = String(text ?? '');
  while (rest) {
    let best = null;
    for (const rule of INLINE_RULES) {
      const m = rule.re.exec(rest);
      if (m && (best === null || m.index < best.m.index)) best = { rule, m };
    }
    if (!best) { out.push(document.createTextNode(rest)); break; }
    const { rule, m } = best;
    // `_` inside words (snake_case) is not emphasis.
    if (rule.name === 'em' && m[1] === '_' && m.index > 0 && /\w/.test(rest[m.index - 1])) {
      out.push(document.createTextNode(rest.slice(0, m.index + 1)));
      rest = rest.slice(m.index + 1);
      continue;
    }
    if (m.index) out.push(document.createTextNode(rest.slice(0, m.index)));
    out.push(inlineNode(rule.name, m, depth));
    rest = rest.slice(m.index + m[0].length);
  }
  return out;
}

function inlineNode(name, m, depth) {
  const deeper = (s) => (depth < MAX_DEPTH ? inline(s, depth + 1) : [document.createTextNode(s)]);
  switch (name) {
    case 'escape': return document.createTextNode(m[1]);
    case 'code': return h('code', { text: m[2].replace(/^ (.*) $/, '$1') });
    case 'image': return safeLink(m[2], [`🖼 ${m[1] || 'image'}`]);
    case 'link': return safeLink(m[2], deeper(m[1]));
    case 'url': return safeLink(m[0], [m[0]]);
    case 'strong': return h('strong', {}, deeper(m[2]));
    case 'strike': return h('del', {}, deeper(m[1]));
    case 'em': return h('em', {}, deeper(m[2]));
    default: return document.createTextNode(m[0]);
  }
}

function safeLink(href, children) {
  const url = String(href).trim();
  if (!SAFE_SCHEMES.test(url)) {
    // Relative or dangerous (javascript:, data:) targets are not followed: show the text only.
    return h('span', { class: 'md-link-off', title: url }, children);
  }
  return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow' }, children);
}
