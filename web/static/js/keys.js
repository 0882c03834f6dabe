// Global keyboard shortcuts: single keys ("/", "?") and two-key sequences ("g d"). Ignored while typing,
// except Escape, which always reaches the handlers (innermost first: open dialogs handle it themselves).

import { h, isTyping } from './dom.js';
import { openDialog } from './dialog.js';

const shortcuts = []; // {keys: ['g','d'], label, run}
const escapeHandlers = []; // a stack: the last registered (innermost) runs first
let pending = null; // the first key of a sequence
let pendingTimer = null;

export function registerShortcut(combo, label, run) {
  shortcuts.push({ keys: combo.split(' '), combo, label, run });
}

/** Register an Escape handler; it returns true when it handled the key. Returns an unregister function. */
export function onEscape(handler) {
  escapeHandlers.push(handler);
  return () => {
    const i = escapeHandlers.indexOf(handler);
    if (i >= 0) escapeHandlers.splice(i, 1);
  };
}

function showHelp() {
  if (document.querySelector('dialog[open]')) return;
  openDialog({
    title: 'Keyboard shortcuts',
    build: () => h('dl', { class: 'shortcut-list' }, [
      ...shortcuts,
      { combo: 'Esc', label: 'Close the dialog or panel' },
      { combo: 'Enter', label: 'Send the chat message (Shift+Enter: new line)' },
    ].flatMap((s) => [
      h('dt', {}, s.combo.split(' ').map((k) => h('kbd', { text: k }))),
      h('dd', { text: s.label }),
    ])),
  });
}

function onKeyDown(ev) {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === 'Escape') {
    if (document.querySelector('dialog[open]')) return; // the dialog closes itself
    for (let i = escapeHandlers.length - 1; i >= 0; i -= 1) {
      if (escapeHandlers[i](ev)) { ev.preventDefault(); return; }
    }
    if (isTyping()) document.activeElement.blur();
    return;
  }
  if (isTyping() || document.querySelector('dialog[open]')) return;
  const key = ev.key;
  if (pending) {
    const seq = [pending, key];
    pending = null;
    clearTimeout(pendingTimer);
    const hit = shortcuts.find((s) => s.keys.length === 2 && s.keys[0] === seq[0] && s.keys[1] === seq[1]);
    if (hit) { ev.preventDefault(); hit.run(ev); }
    return;
  }
  if (shortcuts.some((s) => s.keys.length === 2 && s.keys[0] === key)) {
    pending = key;
    pendingTimer = setTimeout(() => { pending = null; }, 1200);
    return;
  }
  const single = shortcuts.find((s) => s.keys.length === 1 && s.keys[0] === key);
  if (single) { ev.preventDefault(); single.run(ev); }
}

let installed = false;

export function installShortcuts() {
  if (installed) return;
  installed = true;
  registerShortcut('g d', 'Go to the dashboard', () => { window.location.assign('/'); });
  registerShortcut('?', 'Show keyboard shortcuts', showHelp);
  document.addEventListener('keydown', onKeyDown);
  const btn = document.getElementById('shortcuts-btn');
  if (btn) btn.addEventListener('click', showHelp);
}
