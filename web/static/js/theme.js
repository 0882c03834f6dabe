// Which colour scheme the app is in, and the code-highlighting stylesheet that goes with it.
//
// The app's theme is whatever `color-scheme` the root element computes to (app.css sets it). base.html links
// both highlight.js themes; exactly one is enabled, and it follows the app when the system setting or the
// root's attributes change.

const LIGHT = 'hljs-light';
const DARK = 'hljs-dark';
let following = false;

/** 'light' or 'dark': the scheme the page is drawn in now. */
export function currentTheme() {
  const scheme = getComputedStyle(document.documentElement).colorScheme || '';
  return /\blight\b/.test(scheme) && !/\bdark\b/.test(scheme) ? 'light' : 'dark';
}

function apply() {
  const theme = currentTheme();
  const light = document.getElementById(LIGHT);
  const dark = document.getElementById(DARK);
  if (light) light.disabled = theme !== 'light';
  if (dark) dark.disabled = theme !== 'dark';
  document.documentElement.dataset.codeTheme = theme;
}

/** Start following the theme (idempotent; cheap to call from every renderer). */
export function followTheme() {
  if (following) return;
  following = true;
  apply();
  window.matchMedia('(prefers-color-scheme: light)').addEventListener('change', apply);
  new MutationObserver(apply).observe(document.documentElement, { attributes: true, attributeFilter: ['class', 'style', 'data-theme'] });
}
