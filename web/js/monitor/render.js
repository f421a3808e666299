// Draws one monitor snapshot (docs/protocol.md, `monitor`) into the page. Text goes
// in as text nodes only. Markup other tests rely on: `#nodes tbody tr` per node, with
// `data-this-node` on the node serving the page and `td[data-figure="<role>"]` cells
// holding the socket counts (`clinician`, `patient`, `guest_pass`, `admin`, `other`).

import { el } from '../dom.js';
import {
  ROLES,
  VISIT_STATES,
  agoText,
  alertText,
  countText,
  nodeName,
  nodeStatusText,
  participantText,
  qualityText,
  visitStateText,
  waitingText,
} from './format.js';

function setText(id, text) {
  const node = document.getElementById(id);
  if (node && node.textContent !== text) node.textContent = text;
}

/** The nodes table: one row per node, this node first. */
export function renderNodes(snapshot, now = Date.now()) {
  const body = document.querySelector('#nodes tbody');
  const nodes = [...(snapshot.nodes ?? [])].sort((a, b) => Number(b.this_node) - Number(a.this_node));
  const rows = nodes.map((node) => {
    const name = node.this_node ? `${nodeName(node.id)} (this page's node)` : nodeName(node.id);
    const cells = [
      el('th', { scope: 'row' }, name),
      el('td', { 'data-figure': 'status', class: `status status-${node.status}` }, nodeStatusText(node.status)),
    ];
    for (const role of ROLES) {
      const n = node.sockets ? countText(node.sockets[role.key]) : '–';
      cells.push(el('td', { 'data-figure': role.key, class: 'num' }, n));
    }
    cells.push(el('td', { 'data-figure': 'rooms', class: 'num' }, countText(node.rooms)));
    const heard = node.gone_at
      ? `gone ${agoText(node.gone_at, now)}`
      : node.last_heartbeat
        ? agoText(node.last_heartbeat, now)
        : 'not yet';
    cells.push(el('td', { 'data-figure': 'heard' }, heard));
    cells.push(el('td', { 'data-figure': 'started' }, node.started_at ? agoText(node.started_at, now) : 'just now'));
    return el('tr', { 'data-node': node.id, 'data-this-node': node.this_node ? '' : null, 'data-status': node.status }, cells);
  });
  body.replaceChildren(...rows);
}

/** Totals: sockets by role across the nodes, and active rooms. */
export function renderTotals(snapshot) {
  const list = document.getElementById('totals');
  const items = ROLES.map((role) =>
    el('div', { class: 'figure' }, [el('dt', {}, role.label), el('dd', { 'data-total': role.key }, countText(snapshot.sockets?.[role.key]))]),
  );
  items.push(el('div', { class: 'figure' }, [el('dt', {}, 'Active rooms'), el('dd', { 'data-total': 'rooms' }, countText(snapshot.rooms))]));
  list.replaceChildren(...items);
}

/** Visit counts by state and the open visits with their people. */
export function renderVisits(snapshot) {
  const counts = snapshot.visits?.counts ?? {};
  document.getElementById('visit-counts').replaceChildren(
    ...VISIT_STATES.map((s) =>
      el('div', { class: 'figure' }, [el('dt', {}, s.label), el('dd', { 'data-visits': s.key }, countText(counts[s.key]))]),
    ),
  );
  const open = snapshot.visits?.open ?? [];
  const body = document.querySelector('#visits tbody');
  document.getElementById('visits-empty').hidden = open.length > 0;
  document.getElementById('visits').hidden = open.length === 0;
  body.replaceChildren(
    ...open.map((visit) => {
      const people = (visit.participants ?? []).map((p) => {
        const parts = [participantText(p.role)];
        if (p.state === 'waiting') parts.push(waitingText(p.waiting_secs));
        else parts.push('in the call');
        parts.push(qualityText(p.quality).toLowerCase());
        return el('li', { 'data-quality': p.quality ?? 'none' }, parts.join(', '));
      });
      return el('tr', { 'data-visit': visit.id, 'data-state': visit.state }, [
        el('td', {}, visitStateText(visit.state)),
        el('td', {}, visit.state === 'waiting' && visit.longest_wait_secs != null ? waitingText(visit.longest_wait_secs) : '—'),
        el('td', {}, people.length ? el('ul', { class: 'people' }, people) : 'Nobody connected'),
      ]);
    }),
  );
}

/** Message and notification rates, the outbox and failures. */
export function renderActivity(snapshot) {
  setText('rate-messages', countText(snapshot.rates?.messages_per_minute));
  setText('rate-notifications', countText(snapshot.rates?.notifications_per_minute));
  setText('outbox-depth', countText(snapshot.notifications?.outbox_depth));
  setText('failures', countText(snapshot.notifications?.failed_recently));
}

/** The alerts list, or a calm line when there is none. */
export function renderAlerts(snapshot) {
  const alerts = snapshot.alerts ?? [];
  const list = document.getElementById('alerts');
  list.replaceChildren(...alerts.map((a) => el('li', { 'data-alert': a.kind }, alertText(a))));
  document.getElementById('alerts-none').hidden = alerts.length > 0;
}

/** Everything, and "Updated just now". */
export function renderSnapshot(snapshot, now = Date.now()) {
  renderAlerts(snapshot);
  renderTotals(snapshot);
  renderNodes(snapshot, now);
  renderVisits(snapshot);
  renderActivity(snapshot);
}
