// Plain-language wording of the live monitor's figures (docs/protocol.md, the
// `monitor` push). Pure functions, no DOM: unit-tested in tests/browser/monitor.test.mjs.
// Times arrive as RFC 3339 and durations as whole seconds; nothing here ever shows an
// epoch number or an id longer than a short node tag.

/** The socket roles the monitor counts, in table order, with their column headings. */
export const ROLES = [
  { key: 'clinician', label: 'Clinicians' },
  { key: 'patient', label: 'Patients' },
  { key: 'guest_pass', label: 'Guests with a visit link' },
  { key: 'admin', label: 'Admins' },
  { key: 'other', label: 'Others' },
];

/** Visit states in the order shown, with their names. */
export const VISIT_STATES = [
  { key: 'scheduled', label: 'Scheduled' },
  { key: 'waiting', label: 'Waiting' },
  { key: 'live', label: 'In progress' },
  { key: 'ended', label: 'Ended' },
];

const STATE_TEXT = Object.fromEntries(VISIT_STATES.map((s) => [s.key, s.label]));

/** "In progress" for `live`, and so on. */
export function visitStateText(state) {
  return STATE_TEXT[state] ?? 'Unknown';
}

/** "1 minute", "3 minutes", "1 hour 5 minutes" (never "0 minutes"). */
export function durationText(secs) {
  const s = Math.max(0, Math.floor(Number(secs) || 0));
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return minutes === 1 ? '1 minute' : `${minutes} minutes`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  const h = hours === 1 ? '1 hour' : `${hours} hours`;
  return rest ? `${h} ${rest === 1 ? '1 minute' : `${rest} minutes`}` : h;
}

/** "waiting less than a minute", "waiting 3 min", "waiting 1 h 5 min". */
export function waitingText(secs) {
  const s = Math.max(0, Math.floor(Number(secs) || 0));
  if (s < 60) return 'waiting less than a minute';
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `waiting ${minutes} min`;
  const rest = minutes % 60;
  return `waiting ${Math.floor(minutes / 60)} h${rest ? ` ${rest} min` : ''}`;
}

/** "just now", "12 seconds ago", "3 minutes ago", "2 hours ago"; "" for no time. */
export function agoText(iso, now = Date.now()) {
  if (!iso) return '';
  const at = new Date(iso).getTime();
  if (Number.isNaN(at)) return '';
  const secs = Math.floor((now - at) / 1000);
  if (secs < 5) return 'just now';
  return `${durationText(secs).replace(/ \d+ minutes?$/, '')} ago`;
}

/** A short, stable name for a node: "Node 7c41e2" (the end of its id). */
export function nodeName(id) {
  const tag = String(id ?? '').replace(/[^0-9a-f]/gi, '').slice(-6);
  return tag ? `Node ${tag}` : 'Unknown node';
}

const NODE_STATUS = {
  up: 'Running',
  joining: 'Joining',
  leaving: 'Shutting down',
  left: 'Left (shut down)',
  dead: 'Not responding',
};

/** How a node is, in words. */
export function nodeStatusText(status) {
  return NODE_STATUS[status] ?? 'Unknown';
}

const PARTICIPANT = { host: 'Clinician', patient: 'Patient', guest: 'Guest' };

/** "Patient", "Clinician" (the visit's host), "Guest". */
export function participantText(role) {
  return PARTICIPANT[role] ?? 'Participant';
}

const QUALITY = { good: 'Good connection', fair: 'Fair connection', poor: 'Poor connection' };

/** "Good connection", …, or "No figures yet" before the first media figures. */
export function qualityText(quality) {
  return QUALITY[quality] ?? 'No figures yet';
}

/** A whole count, "0" for anything missing. */
export function countText(n) {
  const v = Number(n);
  return Number.isFinite(v) && v > 0 ? String(Math.floor(v)) : '0';
}

/** One alert of the snapshot as a sentence. */
export function alertText(alert) {
  switch (alert?.kind) {
    case 'node_dead':
      return `${nodeName(alert.node)} stopped responding.`;
    case 'long_wait':
      return `A patient has been ${waitingText(alert.waiting_secs)} for a video visit.`;
    case 'poor_quality':
      return 'Someone in a video visit has a poor connection.';
    case 'outbox_backlog':
      return `${countText(alert.depth)} notifications are waiting to be sent.`;
    case 'notification_failures':
      return alert.count === 1
        ? '1 notification could not be delivered in the last 12 hours.'
        : `${countText(alert.count)} notifications could not be delivered in the last 12 hours.`;
    default:
      return 'Something needs attention.';
  }
}

/**
 * Sentences for nodes that went away between two snapshots (for the live region):
 * "Node 7c41e2 stopped responding." or "Node 7c41e2 shut down."
 */
export function nodeLosses(before, after) {
  const was = new Map((before?.nodes ?? []).map((n) => [n.id, n.status]));
  const out = [];
  for (const node of after?.nodes ?? []) {
    const old = was.get(node.id);
    if (old === undefined || old === node.status) continue;
    if (node.status === 'dead') out.push(`${nodeName(node.id)} stopped responding.`);
    else if (node.status === 'left') out.push(`${nodeName(node.id)} shut down.`);
  }
  return out;
}
