// Unit tests of web/js/console/linkify.js: which parts of a message become links.
// Run: node --test tests/browser/linkify.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { linkSegments, safeHref } from '../../web/js/console/linkify.js';

test('plain text stays one text segment', () => {
  assert.deepEqual(linkSegments('BP 120/80, stable'), [{ text: 'BP 120/80, stable' }]);
  assert.deepEqual(linkSegments(''), []);
});

test('http and https addresses become links, the text around them stays text', () => {
  assert.deepEqual(linkSegments('See https://example.org/guide?x=1#top now'), [
    { text: 'See ' },
    { text: 'https://example.org/guide?x=1#top', href: 'https://example.org/guide?x=1#top' },
    { text: ' now' },
  ]);
  const two = linkSegments('http://a.test and https://b.test');
  assert.deepEqual(two.filter((s) => s.href).map((s) => s.href), ['http://a.test/', 'https://b.test/']);
});

test('sentence punctuation after an address is not part of it', () => {
  assert.deepEqual(linkSegments('Read https://example.org/a.'), [
    { text: 'Read ' },
    { text: 'https://example.org/a', href: 'https://example.org/a' },
    { text: '.' },
  ]);
  assert.equal(linkSegments('(https://example.org/x)')[1].href, 'https://example.org/x');
});

test('other schemes are never links', () => {
  for (const body of [
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:x',
    'file:///etc/passwd',
    'ftp://example.org/file',
    'mailto:someone@example.org',
  ]) {
    assert.ok(linkSegments(body).every((s) => !s.href), body);
  }
  assert.equal(safeHref('javascript:alert(1)'), null);
  assert.equal(safeHref('https://'), null);
});

test('markup in a body is text, and quotes end an address', () => {
  const segs = linkSegments('<img src=x onerror=alert(1)> https://example.org/"onmouseover="x');
  assert.equal(segs[0].text, '<img src=x onerror=alert(1)> ');
  assert.equal(segs[1].href, 'https://example.org/');
  assert.equal(segs.map((s) => s.text).join(''), '<img src=x onerror=alert(1)> https://example.org/"onmouseover="x');
});
