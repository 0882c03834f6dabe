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
  // `media` rather than `disabled`: a stylesheet whose media does not match is still downloaded, so a switch
  // applies at once instead of after a fetch.
  if (light) light.media = theme === 'light' ? 'all' : 'not all';
  if (dark) dark.media = theme === 'dark' ? 'all' : 'not all';
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
