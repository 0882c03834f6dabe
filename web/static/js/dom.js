// Tiny DOM helpers. Every string becomes a text node or an attribute value: nothing here parses HTML.

/**
 * Create an element. `attrs` keys: `class`, `text`, `dataset` (object), `style` (object), `on<Event>` (listener),
 * boolean attributes (true sets, false/null/undefined omits) and everything else as an attribute.
 * Children may be nodes, strings, numbers, arrays or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') {
      for (const [prop, v] of Object.entries(value)) {
        if (prop.startsWith('--')) el.style.setProperty(prop, v);
        else el.style[prop] = v;
      }
    }
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * Replace all children of `el` as `replace` does; when the focus was on an element inside `el` that carries a
 * `data-focus-key`, the new element with the same key gets it back. A live redraw must not drop the user's
 * place (a keyboard user's focus would fall to the page's body).
 */
export function replaceKeepingFocus(el, ...children) {
  const active = document.activeElement;
  const holder = active && el.contains(active) && active.closest ? active.closest('[data-focus-key]') : null;
  const key = holder && el.contains(holder) ? holder.dataset.focusKey : null;
  replace(el, ...children);
  if (key === null) return el;
  const again = el.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
  if (again) again.focus();
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** Copy text to the clipboard; falls back to a hidden textarea where the async API is unavailable. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', { class: 'sr-only', 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    area.remove();
    return ok;
  }
}

/** A button that copies `getText()` and briefly confirms. */
export function copyButton(getText, label = 'Copy', extraClass = '') {
  const btn = h('button', { type: 'button', class: `btn btn-ghost btn-sm ${extraClass}`.trim(), text: label });
  btn.addEventListener('click', async (ev) => {
    ev.stopPropagation();
    const ok = await copyText(typeof getText === 'function' ? getText() : String(getText));
    btn.textContent = ok ? 'Copied' : 'Copy failed';
    setTimeout(() => { btn.textContent = label; }, 1400);
  });
  return btn;
}

/** Run `fn` at most once per `wait` ms, trailing. */
export function debounce(fn, wait) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(...args); }, wait);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** Coalesce calls: `fn` runs after `wait` ms of the first call, whatever arrives meanwhile. */
export function throttleTrailing(fn, wait) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; fn(); }, wait);
  };
}

/** True when the user is typing in a field (global shortcuts stay out of the way). */
export function isTyping(target = document.activeElement) {
  if (!target) return false;
  const tag = target.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || target.isContentEditable;
}
