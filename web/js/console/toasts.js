// Visible notices (toasts) for the console: bookings, cancellations, waiting
// patients, referrals. Each is shown on screen for a while and also read out
// through the polite live region, so sighted and screen-reader users both get
// it. Text only: a notice never contains markup.

import { el } from '../dom.js';

const SHOW_MS = 8000;
const MAX_SHOWN = 4;

export class Toasts {
  /** `stack`: the on-screen list; `announcer`: the polite live region. */
  constructor(stack, announcer) {
    this.stack = stack;
    this.announcer = announcer;
  }

  /** Shows `text` (with an optional `title`); `tone` is `info` or `warn`. */
  show(text, { title = null, tone = 'info' } = {}) {
    const close = el('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss notice' }, '×');
    const item = el('li', { class: `toast ${tone}` }, [
      el('p', { class: 'toast-text' }, [title ? el('strong', {}, `${title}: `) : null, text]),
      close,
    ]);
    close.addEventListener('click', () => item.remove());
    this.stack.append(item);
    while (this.stack.childElementCount > MAX_SHOWN) this.stack.firstElementChild.remove();
    setTimeout(() => item.remove(), SHOW_MS);
    this.announce(title ? `${title}: ${text}` : text);
  }

  /** Screen-reader text only (message arrivals in the open room). */
  announce(text) {
    const line = el('p', {}, text.length > 300 ? `${text.slice(0, 300)}…` : text);
    this.announcer.append(line);
    while (this.announcer.childElementCount > 5) this.announcer.firstElementChild.remove();
  }
}
