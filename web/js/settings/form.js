// What every settings section does with its form: one error box that speaks
// (role=alert) in plain language, one status line, a busy submit button, and
// the field the server named marked invalid and focused.

import { explain } from '../messages.js';

const $ = (id) => document.getElementById(id);

/** Helpers bound to a section's `<prefix>-error` and `<prefix>-status` elements. */
export function feedback(prefix) {
  const errorBox = $(`${prefix}-error`);
  const status = $(`${prefix}-status`);
  const marked = new Set();
  return {
    /** Clears the error and the status before a new attempt. */
    reset() {
      errorBox.hidden = true;
      errorBox.textContent = '';
      if (status) status.textContent = '';
      for (const input of marked) input.removeAttribute('aria-invalid');
      marked.clear();
    },
    /** Shows an error (an ApiError or a sentence), marking `input` when given. */
    fail(error, input, overrides) {
      errorBox.textContent = typeof error === 'string' ? error : explain(error, overrides);
      errorBox.hidden = false;
      if (status) status.textContent = '';
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        marked.add(input);
        input.focus();
      }
    },
    /** A polite status line ("Saved."). */
    say(text) {
      if (status) status.textContent = text;
    },
  };
}

/** Disables `button` while `work` runs; returns what `work` returns. */
export async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

/** A date and time the way this browser's person reads them ("3 Mar 2027, 14:05"). */
export function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}
