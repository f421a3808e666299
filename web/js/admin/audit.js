// The audit log viewer (audit.html): the chosen organization's entries,
// newest first, filtered by who, which patient, what, outcome and time, a
// page at a time; and whether the log's hash chain verifies.

import { el } from '../dom.js';
import { startShell } from '../shell.js';
import { explain } from '../messages.js';
import { chosenOrg, renderOrgPicker } from './org-pick.js';
import { announce, dateTime, emptyRow, row, showError } from './ui.js';
import { FAULTS, KNOWN_ACTIONS, OUTCOMES, actionLabel } from './audit-labels.js';

const PAGE = 50;
const shell = await startShell({ area: 'admin', page: 'audit' });
if (shell) {
  const { session, orgs } = shell;
  let org = chosenOrg(orgs);
  let before = null;
  const form = document.getElementById('audit-filters');
  const body = document.querySelector('#audit tbody');
  const more = document.getElementById('audit-more');
  const error = document.getElementById('audit-error');
  const base = () => `/api/v1/orgs/${encodeURIComponent(org.org_id)}`;

  document.getElementById('action-list').replaceChildren(...KNOWN_ACTIONS.map((a) => el('option', { value: a }, actionLabel(a))));

  /** The people the filters offer: the members (patients for the patient filter). */
  async function loadPeople() {
    const members = await session.get(`${base()}/members`).catch(() => []);
    const option = (m) => el('option', { value: m.user_id }, `${m.display_name} (${m.email})`);
    form.elements.actor.replaceChildren(el('option', { value: '' }, 'Anyone'), ...members.map(option));
    form.elements.patient.replaceChildren(
      el('option', { value: '' }, 'Any patient'),
      ...members.filter((m) => m.role === 'patient').map(option),
    );
  }

  function query() {
    const q = new URLSearchParams();
    for (const name of ['actor', 'patient', 'action', 'outcome']) {
      const v = form.elements[name].value.trim();
      if (v) q.set(name, v);
    }
    for (const name of ['from', 'to']) {
      const v = form.elements[name].value;
      if (v) q.set(name, new Date(v).toISOString());
    }
    q.set('limit', String(PAGE));
    if (before != null) q.set('before', String(before));
    return q;
  }

  async function load({ append = false } = {}) {
    showError(error, null);
    let rows;
    try {
      rows = await session.get(`${base()}/audit?${query()}`);
    } catch (err) {
      showError(error, err, { invalid_filter: 'Check the filters: one of them is not valid.' });
      return;
    }
    const shown = rows.map(entryRow);
    if (append) body.append(...shown);
    else body.replaceChildren(...(shown.length ? shown : [emptyRow(6, 'No entries match these filters.')]));
    before = rows.length ? rows[rows.length - 1].seq : before;
    more.hidden = rows.length < PAGE;
    announce(append ? `${rows.length} older entries shown.` : `${rows.length} entries shown.`);
  }

  function entryRow(r) {
    const who = r.actor_name ?? (r.actor_id ? 'A former account' : 'The system');
    const about = r.patient_name ?? r.target_name ?? '';
    const outcome = el('span', { class: `state-tag outcome-${r.outcome}` }, OUTCOMES[r.outcome] ?? r.outcome);
    return row([el('time', { datetime: r.at }, dateTime(r.at)), who, actionLabel(r.action), about, outcome, `#${r.seq}`], {
      'data-action': r.action,
      'data-seq': String(r.seq),
    });
  }

  async function verify() {
    const verdict = document.getElementById('verdict');
    const button = document.getElementById('verify');
    button.disabled = true;
    verdict.removeAttribute('data-intact');
    verdict.textContent = 'Checking every entry of the log…';
    try {
      const v = await session.get(`${base()}/audit/verification`);
      verdict.dataset.intact = String(v.intact);
      verdict.textContent = v.intact
        ? `The audit log is intact: all ${v.rows_checked} entries verify, and none is missing (checked ${dateTime(v.checked_at)}).`
        : `The audit log does not verify: at entry #${v.problem.seq}, ${FAULTS[v.problem.kind] ?? 'something is wrong'}. Tell your security officer.`;
    } catch (err) {
      verdict.textContent = explain(err);
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    before = null;
    load();
  });
  form.addEventListener('reset', () => {
    before = null;
    setTimeout(load, 0);
  });
  more.addEventListener('click', () => load({ append: true }));
  document.getElementById('verify').addEventListener('click', verify);
  renderOrgPicker(orgs, org, async (next) => {
    org = next;
    before = null;
    document.getElementById('org-name').textContent = org.org_name;
    await loadPeople();
    await Promise.all([load(), verify()]);
  });
  document.getElementById('org-name').textContent = org.org_name;
  await loadPeople();
  await Promise.all([load(), verify()]);
  document.getElementById('main').setAttribute('aria-busy', 'false');
}
