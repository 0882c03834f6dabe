// The Doctor page: what `GET /api/health` reports — database, migrations, the broker, workers online (host,
// threads, busy, sandbox), each host's agent CLIs (found, version, logged in), git and the disk — each problem
// with what to do about it.
import { api } from './api.js';
import { $, h, replace } from './dom.js';
import { plural, timeAgo } from './format.js';
import { installShortcuts } from './keys.js';

installShortcuts();
const conn = document.getElementById('conn');
if (conn) conn.hidden = true;

const GIB = 1024 ** 3;

/** One check: its state (ok | warn | fail), what it found, and what to do when it is not ok. */
function check(state, name, detail, todo = '') {
  return { state, name, detail, todo };
}

export function checksOf(report) {
  const found = [];
  const db = report.database || {};
  found.push(db.ok ? check('ok', 'Database', 'reachable')
    : check('fail', 'Database', db.error || 'not reachable', 'Start PostgreSQL (make up starts the embedded one) or fix DATABASE_URL, then check again.'));
  if (!db.ok) return found;
  const pending = (report.migrations || {}).pending || [];
  found.push(pending.length ? check('fail', 'Migrations', `pending: ${pending.join(', ')}`, 'Run `gamma db migrate` (or restart `make up`).')
    : check('ok', 'Migrations', 'current'));
  found.push(report.broker && report.broker.ok ? check('ok', 'Run queue', 'dramatiq.queue present')
    : check('fail', 'Run queue', 'the broker schema is missing', 'Run `gamma db migrate`.'));
  const workers = report.workers || {};
  found.push(workers.alive ? check('ok', 'Workers', `${plural(workers.alive, 'worker')}, ${plural(workers.threads, 'thread')}, ${workers.busy} busy`)
    : check('fail', 'Workers', 'no worker online: runs wait in the queue', 'Start one: `make up`, or `gamma worker` on any host that reaches the database.'));
  if ((workers.unsandboxed || []).length) {
    found.push(check('warn', 'Agent sandbox', `${plural(workers.unsandboxed.length, 'worker')} run agents without a sandbox`,
      'Install bubblewrap (Debian: apt install bubblewrap) on those hosts and restart their workers.'));
  }
  for (const cli of report.clis || []) {
    const where = `${cli.backend} on ${cli.host}`;
    if (!cli.found) {
      found.push(check('warn', `${where}: CLI`, cli.path_or_error || 'not found', `Install it (make setup ${cli.backend}) or set GAMMA_${cli.backend.toUpperCase()}_BIN.`));
      continue;
    }
    found.push(cli.version_tested ? check('ok', `${where}: version`, cli.version)
      : check('warn', `${where}: version`, cli.version_warning || `${cli.version || 'unknown'}: outside the tested range`, 'Install a tested version (make setup pins one).'));
    found.push(cli.logged_in ? check('ok', `${where}: login`, cli.auth || 'logged in')
      : check('warn', `${where}: login`, cli.auth || 'not logged in', `Log in once on that host: run \`${cli.backend}\` interactively.`));
  }
  const host = report.host || {};
  if (host.git) {
    found.push(host.git.ok ? check('ok', 'git', host.git.detail)
      : check('fail', 'git', host.git.detail, 'Install git 2.38 or newer: every team\'s project is a git repository.'));
  }
  if (host.disk) {
    const free = `${(host.disk.free_bytes / GIB).toFixed(1)} GiB free of ${(host.disk.total_bytes / GIB).toFixed(1)} GiB at ${host.disk.path}`;
    found.push(host.disk.ok ? check('ok', 'Disk', free)
      : check('warn', 'Disk', free, 'Free some space: finished tasks\' worktrees are removed, but repositories and logs grow.'));
  }
  return found;
}

const LABEL = { ok: 'ok', warn: 'warning', fail: 'problem' };

async function render() {
  const list = $('#doctor-checks');
  list.setAttribute('aria-busy', 'true');
  let report;
  try {
    report = await api.health();
  } catch (err) {
    replace(list, h('li', { class: 'doctor-check', dataset: { state: 'fail' } }, h('strong', { text: 'Web server' }), ` ${err.message}`));
    $('#doctor-summary').textContent = 'The web server did not answer.';
    return;
  }
  const found = checksOf(report);
  const problems = found.filter((c) => c.state !== 'ok');
  $('#doctor-summary').textContent = problems.length ? `${plural(problems.length, 'thing')} to look at.` : 'Everything looks right.';
  replace(list, found.map((c) => h('li', { class: 'doctor-check', dataset: { state: c.state } },
    h('span', { class: 'doctor-state', text: LABEL[c.state] }),
    h('strong', { text: c.name }), ' ', h('span', { class: 'muted', text: c.detail }),
    c.todo ? h('p', { class: 'doctor-todo small', text: c.todo }) : null)));
  list.setAttribute('aria-busy', 'false');
  const workers = (report.workers || {}).list || [];
  replace($('#doctor-workers'), workers.length ? h('table', { class: 'doctor-workers' },
    h('thead', {}, h('tr', {}, ['Host', 'Process', 'Threads', 'Busy', 'Sandbox', 'Last beat'].map((t) => h('th', { text: t })))),
    h('tbody', {}, workers.map((w) => h('tr', {},
      h('td', { text: w.host }), h('td', { class: 'mono small', text: String(w.pid) }), h('td', { text: String(w.threads) }),
      h('td', { text: String(w.busy) }), h('td', { class: 'small', text: w.sandbox || '' }), h('td', { text: timeAgo(w.heartbeat_at) })))))
    : h('p', { class: 'muted', text: 'None online.' }));
}

$('#doctor-refresh').addEventListener('click', () => void render());
void render();
