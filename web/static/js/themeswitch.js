// The theme switch in the top bar (every page, base.html): system → light → dark → system, also on "t".

import { registerShortcut } from './keys.js';
import { THEME_CHOICES, chooseTheme, currentTheme, followTheme, themeChoice } from './theme.js';

const ICON = { system: '◐', light: '☀', dark: '☾' };
const SAID = { system: 'follows the system', light: 'light', dark: 'dark' };

function label(button) {
  const chosen = themeChoice();
  button.textContent = ICON[chosen];
  const now = chosen === 'system' ? ` (${currentTheme()} now)` : '';
  button.setAttribute('aria-label', `Theme: ${SAID[chosen]}${now}. Change the theme`);
  button.title = `Theme: ${SAID[chosen]}${now} — click or press t to change`;
  button.dataset.choice = chosen;
}

function next() {
  const at = THEME_CHOICES.indexOf(themeChoice());
  chooseTheme(THEME_CHOICES[(at + 1) % THEME_CHOICES.length]);
}

const button = document.getElementById('theme-btn');
if (button) {
  followTheme(); // code blocks follow, whichever page this is
  label(button);
  button.addEventListener('click', next);
  new MutationObserver(() => label(button)).observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme', 'data-theme-choice'] });
  registerShortcut('t', 'Change the theme (system, light, dark)', next);
}
