// Small pieces the admin and platform pages share: a status line that
// screen readers announce, a button that shows it is busy, plain names for
// roles and account states, and running an action with its error explained.

import { el } from '../dom.js';
import { explain } from '../messages.js';

export const ROLE_LABELS = { admin: 'Admin', clinician: 'Clinician', patient: 'Patient' };

/** Announces `text` in the page's polite status region (`#page-status`). */
export function announce(text) {
  const status = document.getElementById('page-status');
  if (status) status.textContent = text;
}

/** Shows `err` as a sentence in `node` (an alert region); clears it with null. */
export function showError(node, err, overrides) {
  if (!node) return;
  node.textContent = err ? explain(err, overrides) : '';
  node.hidden = !err;
}

/**
 * Runs `action` with `button` disabled meanwhile. On success announces
 * `done`; on failure shows the error in `errorNode` (or announces it).
 * Returns true when the action succeeded.
 */
export async function act(button, action, { done, errorNode, overrides } = {}) {
  if (button) button.disabled = true;
  showError(errorNode, null);
  try {
    await action();
    if (done) announce(done);
    return true;
  } catch (err) {
    if (errorNode) showError(errorNode, err, overrides);
    else announce(explain(err, overrides));
    return false;
  } finally {
    if (button) button.disabled = false;
  }
}

/** A table row of cells (strings or nodes). */
export function row(cells, attrs = {}) {
  return el('tr', attrs, cells.map((c) => el('td', {}, c)));
}

/** A row spanning the table that says there is nothing to show. */
export function emptyRow(columns, text) {
  return el('tr', {}, el('td', { colspan: String(columns), class: 'empty' }, text));
}

/** "3 Mar 2026, 14:05" in the reader's locale and time zone. */
export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}
