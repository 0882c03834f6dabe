// The Files tab: the team's repository (web/api/repository.py) at a ref — the main line or a task's branch —:
// its tree, a file highlighted (or its download), the archive, a task branch's diff against main, and the app
// preview in a sandboxed frame (an opaque origin: it cannot reach Gamma's API), with "open in a new tab".
import { api } from './api.js';
import { codeBlock, diffView, languageOf } from './code.js';
import { h, replace } from './dom.js';
import { loadError } from './loaderror.js';

const enc = encodeURIComponent;

export class FilesView {
  constructor(root, teamId) {
    this.root = root;
    this.teamId = teamId;
    this.ref = 'main';
    this.path = '';
    this.repo = null;
    this.refSelect = h('select', { id: 'files-ref', 'aria-label': 'Branch', onchange: () => this.open(this.refSelect.value, '') });
    this.crumbs = h('nav', { class: 'files-crumbs', 'aria-label': 'Folder' });
    this.listing = h('ul', { class: 'files-tree', id: 'files-tree' });
    this.viewer = h('section', { class: 'files-viewer', id: 'files-viewer', 'aria-live': 'polite' });
    this.actions = h('div', { class: 'files-actions' });
    this.preview = h('section', { class: 'files-preview', id: 'files-preview', hidden: true });
    replace(root,
      h('div', { class: 'files-bar' }, h('label', { for: 'files-ref', text: 'Branch ' }), this.refSelect, this.actions),
      this.crumbs,
      h('div', { class: 'files-body' }, this.listing, this.viewer),
      this.preview);
  }

  /** Called when the tab is shown: the branches again (tasks come and go), then the current folder. */
  async show() {
    try {
      this.repo = await api.get(`/api/teams/${enc(this.teamId)}/repo`);
    } catch (err) {
      replace(this.viewer, loadError('The repository', err, () => this.show(), { id: 'files-retry' }));
      return;
    }
    const branches = this.repo.branches.filter((b) => b.head);
    const options = [{ value: 'main', label: 'main (the main line)' },
      ...branches.map((b) => ({ value: b.task_id, label: `${b.branch} — ${b.title} [${b.stage}]` }))];
    if (!options.some((o) => o.value === this.ref)) this.ref = 'main';
    replace(this.refSelect, options.map((o) => h('option', { value: o.value, text: o.label, selected: o.value === this.ref })));
    await this.open(this.ref, this.path);
  }

  previewUrl() {
    if (!this.repo) return null;
    if (this.ref === 'main') return this.repo.preview_url;
    const branch = this.repo.branches.find((b) => b.task_id === this.ref);
    return branch ? branch.preview_url : null;
  }

  async open(ref, path) {
    this.ref = ref;
    this.path = path;
    let tree;
    try {
      tree = await api.get(`/api/teams/${enc(this.teamId)}/repo/tree?ref=${enc(ref)}&path=${enc(path)}`);
    } catch (err) {
      replace(this.listing, h('li', { class: 'error', role: 'alert', text: err.message }));
      return;
    }
    this.renderCrumbs();
    this.renderActions();
    replace(this.listing,
      path ? h('li', {}, h('button', { type: 'button', class: 'linkish', text: '..', onclick: () => this.open(ref, parentOf(path)) })) : null,
      tree.entries.map((entry) => h('li', { class: entry.type === 'tree' ? 'dir' : 'file' },
        h('button', {
          type: 'button', class: 'linkish mono', dataset: { path: entry.path },
          text: entry.type === 'tree' ? `${entry.name}/` : entry.name,
          onclick: () => (entry.type === 'tree' ? this.open(ref, entry.path) : this.showFile(entry.path)),
        }),
        entry.type === 'blob' && entry.size !== null ? h('span', { class: 'muted small', text: ` ${size(entry.size)}` }) : null)));
    if (!tree.entries.length) this.listing.append(h('li', { class: 'muted', text: 'Empty folder.' }));
    if (ref !== 'main') await this.showDiff(ref);
    else replace(this.viewer, h('p', { class: 'muted', text: 'Pick a file to read it.' }));
  }

  renderCrumbs() {
    const parts = this.path ? this.path.split('/') : [];
    replace(this.crumbs,
      h('button', { type: 'button', class: 'linkish', text: 'project', onclick: () => this.open(this.ref, '') }),
      parts.map((part, i) => [' / ', h('button', { type: 'button', class: 'linkish', text: part,
        onclick: () => this.open(this.ref, parts.slice(0, i + 1).join('/')) })]));
  }

  renderActions() {
    const archive = `/api/teams/${enc(this.teamId)}/repo/archive?ref=${enc(this.ref)}`;
    const url = this.previewUrl();
    replace(this.actions,
      h('a', { class: 'btn', href: archive, download: '', text: 'Download archive' }),
      url ? h('button', { type: 'button', class: 'btn', id: 'files-preview-toggle', text: 'Preview', onclick: () => this.togglePreview(url) }) : null,
      url ? h('a', { class: 'btn', href: url, target: '_blank', rel: 'noopener', text: 'Open in a new tab' }) : null);
  }

  togglePreview(url) {
    if (!this.preview.hidden) { this.preview.hidden = true; replace(this.preview); return; }
    this.preview.hidden = false;
    // The server's Content-Security-Policy sandboxes the page anyway; the frame's own sandbox says the same.
    replace(this.preview, h('iframe', { src: url, title: 'App preview', sandbox: 'allow-scripts allow-forms allow-popups allow-modals', class: 'preview-frame' }));
  }

  async showFile(path) {
    let file;
    try {
      file = await api.get(`/api/teams/${enc(this.teamId)}/repo/file?ref=${enc(this.ref)}&path=${enc(path)}`);
    } catch (err) {
      replace(this.viewer, h('p', { class: 'error', role: 'alert', text: err.message }));
      return;
    }
    const download = h('a', { href: file.download, download: '', text: 'Download' });
    const head = h('header', { class: 'files-file-head' }, h('span', { class: 'mono', text: file.path }), ' · ', h('span', { class: 'muted', text: size(file.size) }), ' · ', download);
    if (file.text === null) {
      replace(this.viewer, head, h('p', { class: 'muted', text: file.too_large ? 'Too large to show here.' : 'A binary file.' }));
      return;
    }
    replace(this.viewer, head, codeBlock(file.text, languageOf(file.path)));
  }

  async showDiff(taskId) {
    let diff;
    try {
      diff = await api.get(`/api/tasks/${enc(taskId)}/diff`);
    } catch (err) {
      replace(this.viewer, h('p', { class: 'error', role: 'alert', text: err.message }));
      return;
    }
    replace(this.viewer, diffView(diff));
  }
}

function parentOf(path) {
  return path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
