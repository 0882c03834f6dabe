// The theme, decided before the first paint: a classic script in <head> (base.html), so the page is never
// drawn in the wrong colours first. It puts the theme to draw in on <html data-theme="light|dark"> — the
// user's choice (localStorage `gamma-theme`: light, dark or system) or, for "system", what the system asks
// for, followed live. app.css draws from that attribute; js/theme.js changes the choice.
(() => {
  const KEY = 'gamma-theme';
  const system = window.matchMedia('(prefers-color-scheme: light)');
  const stored = () => {
    try {
      const value = localStorage.getItem(KEY);
      return value === 'light' || value === 'dark' ? value : 'system';
    } catch {
      return 'system'; // storage refused (private mode): follow the system
    }
  };
  let chosen = stored();
  const apply = () => {
    const root = document.documentElement;
    root.dataset.themeChoice = chosen;
    root.dataset.theme = chosen === 'system' ? (system.matches ? 'light' : 'dark') : chosen;
  };
  apply();
  system.addEventListener('change', apply);
  // js/theme.js: the choice changed in this tab (it is in the event, in case storage refused to keep it) ...
  document.addEventListener('gamma-theme', (ev) => { chosen = ev.detail; apply(); });
  // ... or in another tab.
  window.addEventListener('storage', (ev) => { if (ev.key === KEY) { chosen = stored(); apply(); } });
})();
