// Which colour scheme the app is in, the user's choice of it, and the code-highlighting stylesheet that goes
// with it.
//
// theme-boot.js (run before the first paint) resolves the choice — light, dark or the system's — into
// <html data-theme>; app.css draws from it, so the theme is whatever `color-scheme` the root computes to.
// base.html links both highlight.js themes; exactly one is enabled, and it follows the app when the root's
// attributes change.

const LIGHT = 'hljs-light';
const DARK = 'hljs-dark';
let following = false;

const CHOICE_KEY = 'gamma-theme';
export const THEME_CHOICES = ['system', 'light', 'dark'];

/** What the user chose: 'system' (the default), 'light' or 'dark'. */
export function themeChoice() {
  const chosen = document.documentElement.dataset.themeChoice;
  return THEME_CHOICES.includes(chosen) ? chosen : 'system';
}

/** Keep `choice` (in this browser) and draw the page in it at once, in every open tab. */
export function chooseTheme(choice) {
  if (!THEME_CHOICES.includes(choice)) throw new Error(`unknown theme ${choice}`);
  try {
    if (choice === 'system') localStorage.removeItem(CHOICE_KEY); else localStorage.setItem(CHOICE_KEY, choice);
  } catch { /* storage refused: the choice lasts while the page is open */ }
  document.dispatchEvent(new CustomEvent('gamma-theme', { detail: choice })); // theme-boot.js applies it
}

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
  new MutationObserver(apply).observe(document.documentElement, { attributes: true, attributeFilter: ['class', 'style', 'data-theme'] });
}
