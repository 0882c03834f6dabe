// The team page's side panels (the team map on the left, the work tabs on the right): each folds to a strip
// and is resized by the splitter on its inner edge — with the pointer, or from the keyboard (arrows, Home and
// End; Enter folds). Widths and folds are remembered in this browser. The chat between them keeps at least
// CHAT_MIN pixels; below 1280 px the team map starts folded so the chat has room.

const KEY = 'gamma-panels';
const STRIP = 40; // a folded panel's width (app.css draws the strip)
const CHAT_MIN = 420;
const MIN = { left: 200, right: 300 };
const MAX = { left: 480, right: 900 };
const STEP = 24;
const NARROW = window.matchMedia('(max-width: 1279px)');
const WIDE = window.matchMedia('(min-width: 1600px)');

/** The default width of a side: what fits beside a comfortable chat at this window's width. */
function defaultWidth(side) {
  if (WIDE.matches) return side === 'left' ? 320 : 460;
  if (NARROW.matches) return side === 'left' ? 240 : 380;
  return side === 'left' ? 284 : 392;
}

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || '{}');
    return saved && typeof saved === 'object' ? saved : {};
  } catch {
    return {};
  }
}

function save(state) {
  try { localStorage.setItem(KEY, JSON.stringify(state)); } catch { /* private mode: for this page only */ }
}

/**
 * Make the side panels of `body` (.team-body) foldable and resizable. `columns` maps 'left' and 'right' to the
 * column elements; each gets a fold button appended to `heads[side]`.
 */
export function installPanels(body, columns, heads) {
  const state = { left: {}, right: {}, ...load() };
  const widthOf = (side) => {
    const wanted = Number(state[side].width) || defaultWidth(side);
    const other = (s) => (isFolded(s) ? STRIP : Number(state[s].width) || defaultWidth(s));
    const room = body.clientWidth - CHAT_MIN - other(side === 'left' ? 'right' : 'left');
    return Math.round(Math.max(MIN[side], Math.min(MAX[side], wanted, room)));
  };
  // A choice the user made wins; otherwise the map folds on a narrow window and the work panel never does.
  const isFolded = (side) => (typeof state[side].folded === 'boolean' ? state[side].folded : side === 'left' && NARROW.matches);

  const splitters = {};
  const toggles = {};
  const apply = () => {
    for (const side of ['left', 'right']) {
      const folded = isFolded(side);
      const width = widthOf(side);
      body.style.setProperty(`--${side}-col`, `${folded ? STRIP : width}px`);
      body.style.setProperty(`--${side}-open`, `${width}px`); // the width it has unfolded (the agent panel's)
      columns[side].dataset.folded = String(folded);
      toggles[side].setAttribute('aria-expanded', String(!folded));
      const sep = splitters[side];
      sep.hidden = folded;
      sep.setAttribute('aria-valuenow', String(width));
      sep.setAttribute('aria-valuemax', String(Math.max(MIN[side], Math.min(MAX[side], body.clientWidth - CHAT_MIN - STRIP))));
    }
  };
  const setWidth = (side, width) => {
    state[side] = { ...state[side], width: Math.round(width) };
    apply();
    state[side].width = widthOf(side); // keep what was applied, not what was asked
  };
  const setFolded = (side, folded) => {
    state[side] = { ...state[side], folded };
    apply();
    save(state);
  };

  for (const side of ['left', 'right']) {
    const name = side === 'left' ? 'the team panel' : 'the work panel';
    const toggle = document.createElement('button');
    toggle.type = 'button';
    toggle.className = `btn btn-ghost btn-icon panel-fold panel-fold-${side}`;
    toggle.id = `fold-${side}`;
    toggle.setAttribute('aria-controls', columns[side].id);
    toggle.setAttribute('aria-label', `Fold or unfold ${name}`);
    toggle.title = `Fold or unfold ${name}`;
    toggle.addEventListener('click', () => setFolded(side, !isFolded(side)));
    toggle.dataset.label = side === 'left' ? 'Team' : 'Work';
    if (side === 'left') heads[side].append(toggle); else heads[side].prepend(toggle); // on the inner edge
    toggles[side] = toggle;

    const sep = document.createElement('div');
    sep.className = `splitter splitter-${side}`;
    sep.id = `splitter-${side}`;
    sep.tabIndex = 0;
    sep.setAttribute('role', 'separator');
    sep.setAttribute('aria-orientation', 'vertical');
    sep.setAttribute('aria-controls', columns[side].id);
    sep.setAttribute('aria-label', `Resize ${name}`);
    sep.setAttribute('aria-valuemin', String(MIN[side]));
    sep.title = 'Drag to resize; arrows from the keyboard, Enter folds';
    columns[side].append(sep);
    splitters[side] = sep;

    sep.addEventListener('pointerdown', (ev) => {
      ev.preventDefault();
      sep.setPointerCapture(ev.pointerId);
      body.dataset.resizing = side;
      const box = body.getBoundingClientRect();
      const move = (e) => setWidth(side, side === 'left' ? e.clientX - box.left : box.right - e.clientX);
      const end = () => {
        sep.removeEventListener('pointermove', move);
        delete body.dataset.resizing;
        save(state);
      };
      sep.addEventListener('pointermove', move);
      sep.addEventListener('pointerup', end, { once: true });
      sep.addEventListener('pointercancel', end, { once: true });
    });
    sep.addEventListener('keydown', (ev) => {
      // The arrows move the splitter itself: right widens the left panel and narrows the right one.
      const grow = side === 'left' ? 1 : -1;
      const now = widthOf(side);
      const widths = { ArrowRight: now + STEP * grow, ArrowLeft: now - STEP * grow, Home: MIN[side], End: MAX[side] };
      if (ev.key === 'Enter') { ev.preventDefault(); setFolded(side, true); toggles[side].focus(); return; }
      if (!(ev.key in widths)) return;
      ev.preventDefault();
      setWidth(side, widths[ev.key]);
      save(state);
    });
  }

  apply();
  // The window changed: keep the chat its room (the stored widths stay; what is applied is clamped).
  window.addEventListener('resize', apply);
  NARROW.addEventListener('change', apply);
  WIDE.addEventListener('change', apply);
  return { apply, isFolded, setFolded };
}
