// Small DOM helpers shared by the console pages. Text always goes in as text
// nodes (never as HTML), so message bodies cannot inject markup.

/**
 * Creates an element. `attrs` values that are null/undefined/false are
 * skipped; `children` is a string, a node, or an array of them (nulls skipped).
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  const list = Array.isArray(children) ? children : [children];
  for (const child of list) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** "14:05" today, "3 Mar, 14:05" on other days, in the user's locale. */
export function formatTime(iso, now = new Date()) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  const day = d.toLocaleDateString([], { day: 'numeric', month: 'short', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
  return `${day}, ${time}`;
}

const FLASH_KEY = 'healthbridge.flash';

/** A one-line notice for the next page of this tab (e.g. "session ended"). */
export function setFlash(text) {
  try {
    sessionStorage.setItem(FLASH_KEY, text);
  } catch {
    /* storage disabled */
  }
}

export function takeFlash() {
  try {
    const text = sessionStorage.getItem(FLASH_KEY);
    sessionStorage.removeItem(FLASH_KEY);
    return text;
  } catch {
    return null;
  }
}

/**
 * Copies the link in `input` to the clipboard and says so in `status`; where
 * the clipboard is refused, selects it for the person to copy by hand.
 */
export async function copyLink(input, status, copied = 'Link copied.') {
  try {
    await navigator.clipboard.writeText(input.value);
    status.textContent = copied;
  } catch {
    input.focus();
    input.select();
    status.textContent = 'The link is selected: press Ctrl+C (or Cmd+C) to copy it.';
  }
}
