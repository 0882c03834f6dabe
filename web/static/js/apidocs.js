// /api/docs: renders /api/openapi.json — every operation with its parameters, body, responses and security.
// Text only (textContent), no HTML from the document, no code from elsewhere (CSP script-src 'self').

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
};

function resolve(doc, schema) {
  let current = schema || {};
  for (let i = 0; i < 10 && current.$ref; i += 1) {
    const name = current.$ref.split('/').pop();
    current = doc.components.schemas[name] || {};
  }
  return current;
}

function typeOf(doc, schema) {
  if (!schema) return '';
  if (schema.$ref) return schema.$ref.split('/').pop();
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(doc, s)).join(' | ');
  if (schema.allOf) return schema.allOf.map((s) => typeOf(doc, s)).join(' & ');
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.type === 'array') return `${typeOf(doc, schema.items)}[]`;
  const limits = [];
  for (const key of ['minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'pattern']) {
    if (schema[key] !== undefined) limits.push(`${key} ${schema[key]}`);
  }
  return `${schema.type || 'any'}${limits.length ? ` (${limits.join(', ')})` : ''}`;
}

function fieldsTable(doc, rows) {
  if (!rows.length) return null;
  return el('table', { class: 'api-fields' },
    el('thead', {}, el('tr', {}, el('th', {}, 'name'), el('th', {}, 'in'), el('th', {}, 'type'),
      el('th', {}, 'required'), el('th', {}, 'description'))),
    el('tbody', {}, ...rows.map((r) => el('tr', {},
      el('td', {}, el('code', {}, r.name)), el('td', {}, r.where), el('td', {}, typeOf(doc, r.schema)),
      el('td', {}, r.required ? 'yes' : ''), el('td', {}, r.description || '')))));
}

function bodyRows(doc, schema) {
  const model = resolve(doc, schema);
  const required = new Set(model.required || []);
  return Object.entries(model.properties || {}).map(([name, prop]) => ({
    name, where: 'body', schema: prop, required: required.has(name), description: prop.description,
  }));
}

function security(doc, op) {
  const chosen = op.security || doc.security || [];
  const names = chosen.map((s) => Object.keys(s)[0] || 'none');
  return names.length ? names.join(' or ') : 'none';
}

function operation(doc, path, method, op) {
  const id = op.operationId;
  const rows = (op.parameters || []).map((p) => ({
    name: p.name, where: p.in, schema: p.schema, required: p.required, description: p.description,
  }));
  const body = op.requestBody ? op.requestBody.content['application/json'].schema : null;
  if (body) rows.push(...bodyRows(doc, body));
  const responses = Object.entries(op.responses).map(([status, r]) => {
    const content = r.content ? Object.entries(r.content)[0] : null;
    const shape = content && content[1].schema ? typeOf(doc, content[1].schema) : '';
    return el('li', {}, el('code', {}, status), ` ${content ? content[0] : ''} ${shape} — ${r.description}`);
  });
  return el('section', { class: 'api-op', id, role: 'listitem' },
    el('h2', {}, el('span', { class: `api-method api-${method}` }, method.toUpperCase()), ' ', el('code', {}, path)),
    el('p', {}, op.summary),
    op.description ? el('p', { class: 'muted' }, op.description) : null,
    el('p', { class: 'muted' }, `auth: ${security(doc, op)}${body ? ` · body: ${typeOf(doc, body)}` : ''}`),
    fieldsTable(doc, rows),
    el('ul', { class: 'api-responses' }, ...responses));
}

async function main() {
  const target = document.getElementById('api-operations');
  const status = document.getElementById('api-status');
  let doc;
  try {
    const response = await fetch('/api/openapi.json', { credentials: 'same-origin' });
    doc = await response.json();
    if (!response.ok) throw new Error(doc.message || `HTTP ${response.status}`);
  } catch (err) {
    status.textContent = `Could not load the document: ${err.message}`; // outside the list: a list holds items only
    status.className = 'error';
    target.setAttribute('aria-busy', 'false');
    return;
  }
  document.getElementById('api-intro').textContent = doc.info.description;
  const sections = [];
  const links = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      sections.push(operation(doc, path, method, op));
      links.push(el('li', {}, el('a', { href: `#${op.operationId}` }, `${method.toUpperCase()} ${path}`)));
    }
  }
  document.getElementById('api-toc').replaceChildren(el('ul', {}, ...links));
  target.replaceChildren(...sections);
  target.setAttribute('aria-busy', 'false');
  status.hidden = true;
  target.dataset.operations = String(sections.length);
}

main();
