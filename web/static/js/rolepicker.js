// Role picker: category tabs with counts, a search over name/description/vibe across all categories (tabs hide
// while searching), rows as radio buttons (arrow keys move the choice, as in any radio group).

import { api } from './api.js';
import { h, replace } from './dom.js';

let rolesCache = null;

export function loadRoles() {
  if (!rolesCache) {
    rolesCache = api.listRoles().then((body) => body.groups)
      .catch((err) => { rolesCache = null; throw err; });
  }
  return rolesCache;
}

/**
 * @param {object} opts  name: radio group name; defaultCategory: tab shown first; onSelect(role)
 * @returns {{el: HTMLElement, value: () => object|null, focus: () => void}}
 */
export function rolePicker({ name = 'role', defaultCategory = 'leadership', onSelect, label = 'Role' } = {}) {
  let groups = [];
  let active = defaultCategory;
  let selected = null;
  let query = '';
  const uid = Math.random().toString(36).slice(2, 8);

  const search = h('input', {
    type: 'search', class: 'input', id: `role-search-${uid}`, placeholder: 'Search roles by name, description or vibe…',
    autocomplete: 'off', 'aria-controls': `role-list-${uid}`,
  });
  const tabs = h('div', { class: 'role-tabs', role: 'tablist', 'aria-label': 'Role categories' });
  const list = h('div', { class: 'role-list', id: `role-list-${uid}`, role: 'radiogroup', 'aria-label': label });
  const status = h('p', { class: 'muted role-status', role: 'status', text: 'Loading roles…' });
  const el = h('div', { class: 'role-picker' },
    h('label', { class: 'sr-only', for: search.id, text: `Search ${label.toLowerCase()}s` }),
    search, tabs, status, list);

  const allRoles = () => {
    const seen = new Map();
    for (const g of groups) for (const r of g.roles) if (!seen.has(r.id)) seen.set(r.id, r);
    return [...seen.values()];
  };

  function matches(role, q) {
    const hay = `${role.name} ${role.description} ${role.vibe} ${role.id}`.toLowerCase();
    return q.split(/\s+/).filter(Boolean).every((word) => hay.includes(word));
  }

  function renderTabs() {
    tabs.hidden = Boolean(query);
    replace(tabs, groups.map((g) => {
      const isActive = g.id === active;
      const tab = h('button', {
        type: 'button', role: 'tab', class: 'role-tab', 'aria-selected': isActive ? 'true' : 'false',
        tabindex: isActive ? '0' : '-1', dataset: { category: g.id },
      }, g.name, ' ', h('span', { class: 'count', text: g.count ?? g.roles.length }));
      tab.addEventListener('click', () => { active = g.id; renderTabs(); renderList(); });
      return tab;
    }));
  }

  tabs.addEventListener('keydown', (ev) => {
    if (!['ArrowRight', 'ArrowLeft', 'Home', 'End'].includes(ev.key)) return;
    ev.preventDefault();
    const i = groups.findIndex((g) => g.id === active);
    let next = i;
    if (ev.key === 'ArrowRight') next = (i + 1) % groups.length;
    if (ev.key === 'ArrowLeft') next = (i - 1 + groups.length) % groups.length;
    if (ev.key === 'Home') next = 0;
    if (ev.key === 'End') next = groups.length - 1;
    active = groups[next].id;
    renderTabs();
    renderList();
    tabs.querySelector('[aria-selected="true"]').focus();
  });

  function renderList() {
    let roles;
    if (query) roles = allRoles().filter((r) => matches(r, query.toLowerCase()));
    else roles = (groups.find((g) => g.id === active) || groups[0] || { roles: [] }).roles;
    status.hidden = roles.length > 0;
    status.textContent = query ? `No role matches “${query}”.` : 'No roles in this category.';
    replace(list, roles.map((role) => {
      const input = h('input', { type: 'radio', name, value: role.id, class: 'sr-only', checked: selected && selected.id === role.id });
      input.addEventListener('change', () => {
        selected = role;
        list.querySelectorAll('.role-row').forEach((row) => row.classList.toggle('selected', row.contains(input)));
        if (onSelect) onSelect(role);
      });
      return h('label', { class: ['role-row', selected && selected.id === role.id && 'selected'], dataset: { roleId: role.id } },
        input,
        h('span', { class: 'role-emoji', 'aria-hidden': 'true', text: role.emoji || '🤖' }),
        h('span', { class: 'role-text' },
          h('span', { class: 'role-name', text: role.name }),
          h('span', { class: 'role-desc', text: role.description }),
          role.vibe ? h('span', { class: 'role-vibe', text: role.vibe }) : null));
    }));
  }

  search.addEventListener('input', () => {
    query = search.value.trim();
    renderTabs();
    renderList();
  });
  search.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown') {
      const first = list.querySelector('input:checked') || list.querySelector('input');
      if (first) { ev.preventDefault(); first.focus(); }
    }
  });

  loadRoles().then((loaded) => {
    groups = loaded.filter((g) => Array.isArray(g.roles) && g.roles.length);
    if (!groups.some((g) => g.id === active)) active = groups[0] ? groups[0].id : null;
    renderTabs();
    renderList();
  }).catch((err) => {
    status.hidden = false;
    status.textContent = `Could not load roles: ${err.message}`;
  });

  return {
    el,
    value: () => selected,
    focus: () => search.focus(),
  };
}
