// What a panel shows when its data could not be loaded: the reason and a way to try again — never the panel's
// empty state, which would tell the user there is nothing when Gamma simply does not know.

import { h } from './dom.js';

/** `what`: the thing that failed ("The tasks"), `error`: an Error or a message, `retry`: called on "Try again". */
export function loadError(what, error, retry, { id } = {}) {
  const message = (error && error.message) || String(error);
  return h('div', { class: 'load-error', role: 'alert' },
    h('p', { text: `${what} could not be loaded: ${message}` }),
    h('button', { type: 'button', class: 'btn', id, text: 'Try again', onClick: retry }));
}
