// Toast notifications (bottom right). Errors stay until dismissed or 10 s; the rest leave after 5 s.

import { h } from './dom.js';

const ICONS = { error: '⚠', success: '✓', info: 'ℹ' };

export function toast(message, kind = 'info', { timeout } = {}) {
  const region = document.getElementById('toasts');
  if (!region) return;
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss notification', text: '✕' });
  const node = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'toast-icon', 'aria-hidden': 'true', text: ICONS[kind] || '' }),
    h('span', { class: 'toast-text', text: message }),
    close);
  const remove = () => {
    node.classList.add('leaving');
    setTimeout(() => node.remove(), 180);
  };
  close.addEventListener('click', remove);
  region.append(node);
  while (region.children.length > 5) region.firstElementChild.remove();
  setTimeout(remove, timeout ?? (kind === 'error' ? 10000 : 5000));
}

/** Show an error from the API client (or anything thrown) as a toast. */
export function toastError(err, prefix = '') {
  const text = (err && err.message) || String(err);
  toast(prefix ? `${prefix}: ${text}` : text, 'error');
}
