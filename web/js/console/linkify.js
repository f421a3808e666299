// Clickable links in message bodies, safely. A body is split into text and
// link segments (pure, unit-tested in tests/browser/linkify.test.mjs); only
// http and https addresses become links, and the DOM is built from text nodes
// and `<a>` elements with `href` set as an attribute: never innerHTML, so a
// body cannot inject markup or a `javascript:` link.

// A run of non-space characters starting with http:// or https://.
const URL_RUN = /\bhttps?:\/\/[^\s<>"']+/gi;
// Punctuation that usually ends the sentence rather than the address.
const TRAILING = /[.,;:!?)\]}]+$/;

/**
 * Splits `text` into `[{text}, {text, href}]` segments, in order. A segment
 * with `href` is a link whose visible text is exactly the address.
 */
export function linkSegments(text) {
  const out = [];
  const s = String(text ?? '');
  let last = 0;
  for (const match of s.matchAll(URL_RUN)) {
    let url = match[0];
    // Keep a closing bracket that belongs to the address, e.g. …/Foo_(bar).
    const trail = TRAILING.exec(url)?.[0] ?? '';
    url = url.slice(0, url.length - trail.length);
    const href = safeHref(url);
    if (!href) continue;
    if (match.index > last) out.push({ text: s.slice(last, match.index) });
    out.push({ text: url, href });
    last = match.index + url.length;
  }
  if (last < s.length) out.push({ text: s.slice(last) });
  return mergeText(out);
}

/** The address as the browser will read it, if it is http(s) with a host. */
export function safeHref(candidate) {
  try {
    const u = new URL(candidate);
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) return null;
    return u.href;
  } catch {
    return null;
  }
}

function mergeText(segments) {
  const out = [];
  for (const seg of segments) {
    const prev = out.at(-1);
    if (!seg.href && prev && !prev.href) prev.text += seg.text;
    else out.push({ ...seg });
  }
  return out;
}

/** DOM nodes for `text`: text nodes and links opening in a new tab. */
export function linkify(text, doc = document) {
  return linkSegments(text).map((seg) => {
    if (!seg.href) return doc.createTextNode(seg.text);
    const a = doc.createElement('a');
    a.setAttribute('href', seg.href);
    a.setAttribute('target', '_blank');
    a.setAttribute('rel', 'noopener noreferrer');
    a.textContent = seg.text;
    return a;
  });
}
