// Modal dialogs on the native <dialog> element: focus moves in, Tab is trapped, Esc or the backdrop closes,
// and focus returns to whatever opened it.

import { h } from './dom.js';

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), '
  + 'textarea:not([disabled]), [tabindex]:not([tabindex="-1"]), summary';

export function focusables(root) {
  return Array.from(root.querySelectorAll(FOCUSABLE)).filter((el) => el.offsetParent !== null || el === document.activeElement);
}

/** Keep Tab / Shift+Tab inside `root`. Returns a function that removes the trap. */
export function trapFocus(root) {
  const onKey = (ev) => {
    if (ev.key !== 'Tab') return;
    const items = focusables(root);
    if (!items.length) { ev.preventDefault(); return; }
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && (document.activeElement === first || !root.contains(document.activeElement))) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && (document.activeElement === last || !root.contains(document.activeElement))) {
      ev.preventDefault();
      first.focus();
    }
  };
  root.addEventListener('keydown', onKey);
  return () => root.removeEventListener('keydown', onKey);
}

/**
 * Open a modal. `build(close)` returns the body node. Options: title, description, wide, onClose, initialFocus
 * (a selector inside the dialog). Returns {dialog, close}.
 */
export function openDialog({ title, description = '', build, wide = false, onClose, initialFocus } = {}) {
  const opener = document.activeElement;
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const descId = description ? `${titleId}-desc` : null;
  const dialog = h('dialog', { class: ['dialog', wide && 'dialog-wide'], 'aria-labelledby': titleId, 'aria-describedby': descId });
  let closed = false;
  let untrap = () => {};
  const close = (result) => {
    if (closed) return;
    closed = true;
    untrap();
    dialog.close();
    dialog.remove();
    if (opener && typeof opener.focus === 'function' && document.contains(opener)) opener.focus();
    if (onClose) onClose(result);
  };
  const closeBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-icon dialog-x', 'aria-label': 'Close dialog', text: '✕' });
  closeBtn.addEventListener('click', () => close(null));
  dialog.append(
    h('div', { class: 'dialog-head' },
      h('div', {}, h('h2', { id: titleId, text: title }), description ? h('p', { id: descId, class: 'muted', text: description }) : null),
      closeBtn),
    h('div', { class: 'dialog-body' }, build(close)),
  );
  dialog.addEventListener('cancel', (ev) => { ev.preventDefault(); close(null); });
  dialog.addEventListener('mousedown', (ev) => {
    if (ev.target === dialog) close(null); // a click on the backdrop (outside the content box)
  });
  document.body.append(dialog);
  dialog.showModal();
  untrap = trapFocus(dialog);
  const target = (initialFocus && dialog.querySelector(initialFocus)) || focusables(dialog.querySelector('.dialog-body'))[0];
  if (target) target.focus();
  return { dialog, close };
}

/**
 * Ask for confirmation. `consequences` is a list of strings shown as bullets. Resolves true or false.
 */
export function confirmDialog({ title, message = '', consequences = [], confirmLabel = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    openDialog({
      title,
      onClose: (result) => resolve(result === true),
      initialFocus: '[data-cancel]',
      build: (close) => {
        const cancel = h('button', { type: 'button', class: 'btn', 'data-cancel': true, text: 'Cancel', onClick: () => close(false) });
        const ok = h('button', { type: 'button', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, 'data-confirm': true, text: confirmLabel, onClick: () => close(true) });
        return h('div', { class: 'confirm' },
          message ? h('p', { text: message }) : null,
          consequences.length ? h('ul', { class: 'consequences' }, consequences.map((c) => h('li', { text: c }))) : null,
          h('div', { class: 'dialog-actions' }, cancel, ok));
      },
    });
  });
}
