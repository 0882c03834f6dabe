// Form building blocks: labelled fields with hints and inline errors.

import { h } from './dom.js';

let counter = 0;

/** A labelled control. `control` is an input/textarea/select; returns {el, control, setError}. */
export function field(label, control, { hint = '', required = false } = {}) {
  counter += 1;
  const id = control.id || `f-${counter}`;
  control.id = id;
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const error = h('p', { class: 'field-error', id: errId, hidden: true, role: 'alert' });
  const described = [hint ? hintId : null, errId].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  if (required) control.required = true;
  const el = h('div', { class: 'field' },
    h('label', { for: id }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true', text: ' *' }) : null),
    control,
    hint ? h('p', { class: 'hint', id: hintId, text: hint }) : null,
    error);
  return {
    el,
    control,
    setError(message) {
      error.hidden = !message;
      error.textContent = message || '';
      control.setAttribute('aria-invalid', message ? 'true' : 'false');
    },
  };
}

export function textInput(attrs = {}) {
  return h('input', { type: 'text', class: 'input', autocomplete: 'off', ...attrs });
}

export function textArea(attrs = {}) {
  return h('textarea', { class: 'input', rows: 3, ...attrs });
}

/** A busy state for a submit button while a request runs. */
export function busy(button, isBusy, busyText = 'Working…') {
  if (isBusy) {
    button.dataset.label = button.textContent;
    button.textContent = busyText;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  } else {
    if (button.dataset.label) button.textContent = button.dataset.label;
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/**
 * Run a form's request with its submit `button` busy; a refusal is shown in `errorEl` (hidden again on the next
 * try) and the form stays open. `send()` does the request and what follows on success.
 */
export async function submitShowingErrors(button, errorEl, send, busyText) {
  busy(button, true, busyText);
  errorEl.hidden = true;
  try {
    await send();
  } catch (err) {
    errorEl.textContent = err.message;
    errorEl.hidden = false;
  } finally {
    busy(button, false);
  }
}
