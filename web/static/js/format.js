// Formatting of times, money, tokens and names. Pure functions, no DOM.

export function toDate(value) {
  if (!value) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function timeAgo(value, now = Date.now()) {
  const d = toDate(value);
  if (!d) return '';
  const s = Math.max(0, Math.round((now - d.getTime()) / 1000));
  if (s < 10) return 'just now';
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ago`;
  const days = Math.floor(h / 24);
  if (days < 30) return `${days}d ago`;
  return d.toLocaleDateString();
}

/** "1:05", "12:03", "1:02:03" from milliseconds. */
export function clock(ms) {
  const total = Math.max(0, Math.floor((ms || 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function elapsedSince(value, now = Date.now()) {
  const d = toDate(value);
  return d ? clock(now - d.getTime()) : '';
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function timeOfDay(value) {
  const d = toDate(value);
  if (!d) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
}

export function dateTime(value) {
  const d = toDate(value);
  if (!d) return '';
  return d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium', hourCycle: 'h23' });
}

export function money(value) {
  const n = Number(value);
  if (value === null || value === undefined || Number.isNaN(n)) return '';
  if (n === 0) return '$0';
  if (n < 0.01) return `$${n.toFixed(4)}`;
  if (n < 100) return `$${n.toFixed(2)}`;
  return `$${Math.round(n).toLocaleString()}`;
}

export function tokens(value) {
  const n = Number(value);
  if (!n) return '0';
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** "engineering/backend-architect" → "Backend Architect" (when the role's own name is not known). */
export function roleLabel(roleId, roleName) {
  if (roleName) return roleName;
  if (!roleId) return '';
  const slug = String(roleId).split('/').pop();
  return slug.split(/[-_]/).filter(Boolean).map((w) => (
    ['ai', 'ml', 'qa', 'ui', 'ux', 'api', 'seo', 'it', 'sre'].includes(w) ? w.toUpperCase() : w[0].toUpperCase() + w.slice(1)
  )).join(' ');
}

const PALETTE = ['#7aa2ff', '#4fd1c5', '#f6ad55', '#f687b3', '#b794f4', '#68d391', '#fc8181', '#63b3ed'];

/** A stable colour per agent id. */
export function agentColor(id) {
  let hash = 0;
  for (const ch of String(id || '')) hash = ((hash << 5) - hash + ch.charCodeAt(0)) | 0;
  return PALETTE[Math.abs(hash) % PALETTE.length];
}

export function truncate(text, max) {
  const s = String(text ?? '');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function firstLine(text) {
  return String(text ?? '').split('\n').find((l) => l.trim()) || '';
}

/** A short readable preview of any JSON value. */
export function preview(value, max = 120) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return truncate(value.replace(/\s+/g, ' ').trim(), max);
  try {
    return truncate(JSON.stringify(value), max);
  } catch {
    return '';
  }
}

export function pretty(value) {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** The text of a tool result's `content`, which may be a string or a list of content blocks. */
export function contentText(content) {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((block) => {
      if (typeof block === 'string') return block;
      if (block && block.type === 'text') return block.text || '';
      if (block && block.type === 'image') return '[image]';
      return pretty(block);
    }).join('\n');
  }
  return pretty(content);
}
