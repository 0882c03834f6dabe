// One timer for the whole page: elements with data-since show an elapsed clock (every second), elements
// with data-ago a relative time (every 15 s).

import { elapsedSince, timeAgo } from './format.js';

let started = false;

export function refreshTimes(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll('[data-since]')) el.textContent = elapsedSince(el.dataset.since, now);
  for (const el of root.querySelectorAll('[data-ago]')) el.textContent = timeAgo(el.dataset.ago, now);
}

export function startTicker() {
  if (started) return;
  started = true;
  let n = 0;
  setInterval(() => {
    n += 1;
    const now = Date.now();
    for (const el of document.querySelectorAll('[data-since]')) el.textContent = elapsedSince(el.dataset.since, now);
    if (n % 15 === 0) for (const el of document.querySelectorAll('[data-ago]')) el.textContent = timeAgo(el.dataset.ago, now);
  }, 1000);
}
