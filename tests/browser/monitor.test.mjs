// Unit tests of web/js/monitor/format.js: the live monitor's figures in plain words.
// Run: node --test tests/browser/monitor.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  agoText,
  alertText,
  countText,
  durationText,
  nodeLosses,
  nodeName,
  nodeStatusText,
  participantText,
  qualityText,
  visitStateText,
  waitingText,
} from '../../web/js/monitor/format.js';

test('waiting times read in minutes and hours, never in seconds since an epoch', () => {
  assert.equal(waitingText(0), 'waiting less than a minute');
  assert.equal(waitingText(59), 'waiting less than a minute');
  assert.equal(waitingText(180), 'waiting 3 min');
  assert.equal(waitingText(3600), 'waiting 1 h');
  assert.equal(waitingText(3900), 'waiting 1 h 5 min');
  assert.equal(waitingText(undefined), 'waiting less than a minute');
});

test('durations and times ago', () => {
  assert.equal(durationText(1), '1 second');
  assert.equal(durationText(61), '1 minute');
  assert.equal(durationText(7260), '2 hours 1 minute');
  const now = Date.parse('2026-12-06T10:00:00Z');
  assert.equal(agoText('2026-12-06T09:59:58Z', now), 'just now');
  assert.equal(agoText('2026-12-06T09:59:30Z', now), '30 seconds ago');
  assert.equal(agoText('2026-12-06T09:57:00Z', now), '3 minutes ago');
  assert.equal(agoText('2026-12-06T07:55:00Z', now), '2 hours ago');
  assert.equal(agoText(null, now), '');
  assert.equal(agoText('not a time', now), '');
});

test('nodes get a short name and their health in words', () => {
  assert.equal(nodeName('0193a5c2-7b1e-7c3d-9f00-2a7c41e2bb09'), 'Node e2bb09');
  assert.equal(nodeName(''), 'Unknown node');
  assert.equal(nodeStatusText('dead'), 'Not responding');
  assert.equal(nodeStatusText('left'), 'Left (shut down)');
  assert.equal(nodeStatusText('joining'), 'Joining');
  assert.equal(nodeStatusText('???'), 'Unknown');
});

test('visits, people, quality and counts in words', () => {
  assert.equal(visitStateText('live'), 'In progress');
  assert.equal(visitStateText('waiting'), 'Waiting');
  assert.equal(participantText('host'), 'Clinician');
  assert.equal(participantText('patient'), 'Patient');
  assert.equal(qualityText('poor'), 'Poor connection');
  assert.equal(qualityText(null), 'No figures yet');
  assert.equal(countText(undefined), '0');
  assert.equal(countText(4), '4');
});

test('alerts are sentences', () => {
  assert.equal(alertText({ kind: 'node_dead', node: 'abc-123456' }), 'Node 123456 stopped responding.');
  assert.equal(
    alertText({ kind: 'long_wait', waiting_secs: 720 }),
    'A patient has been waiting 12 min for a video visit.',
  );
  assert.equal(alertText({ kind: 'notification_failures', count: 1 }), '1 notification could not be delivered in the last 12 hours.');
  assert.equal(alertText({ kind: 'outbox_backlog', depth: 150 }), '150 notifications are waiting to be sent.');
  assert.equal(alertText({ kind: 'mystery' }), 'Something needs attention.');
});

test('only nodes that went away are announced', () => {
  const before = { nodes: [{ id: 'n-aaaaaa', status: 'up' }, { id: 'n-bbbbbb', status: 'leaving' }, { id: 'n-cccccc', status: 'dead' }] };
  const after = { nodes: [{ id: 'n-aaaaaa', status: 'dead' }, { id: 'n-bbbbbb', status: 'left' }, { id: 'n-cccccc', status: 'dead' }, { id: 'n-dddddd', status: 'dead' }] };
  assert.deepEqual(nodeLosses(before, after), ['Node aaaaaa stopped responding.', 'Node bbbbbb shut down.']);
  assert.deepEqual(nodeLosses(after, after), []);
});
