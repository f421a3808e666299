// The visit console's own controls (docs/visits.md): schedule a new video
// visit, give a patient or guest a new link (their earlier links stop
// working at once), revoke a person's links, and cancel a visit. A link is
// shown once, to copy and send; the hub keeps only its hash.

import { copyLink, el } from '../dom.js';
import { explain } from '../messages.js';

const enc = encodeURIComponent;

/** Shows `link` (a LinkView) once in `box` with a copy button. */
function showLink(box, who, link) {
  const input = el('input', { type: 'text', readonly: true, id: `${box.id}-url`, value: link.url });
  const status = el('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
  const copy = el('button', { type: 'button', class: 'button small' }, 'Copy link');
  copy.addEventListener('click', () => copyLink(input, status));
  box.replaceChildren(
    el('label', { for: input.id }, `New link for ${who} (shown once; earlier links no longer work)`),
    el('div', { class: 'copy-row' }, [input, copy]),
    status,
  );
  box.hidden = false;
}

function fail(box, err) {
  box.textContent = explain(err, { busy: 'Someone changed this visit at the same moment. Try again.' });
  box.hidden = false;
}

/**
 * The "New video visit" form in the visit list. `orgs` are the person's
 * clinician memberships; `onCreated(visit)` opens the new visit.
 */
export function mountNewVisit({ session, orgs, onCreated }) {
  const form = document.getElementById('new-visit');
  const orgField = document.getElementById('new-visit-org');
  const error = document.getElementById('new-visit-error');
  const result = document.getElementById('new-visit-link');
  orgField.replaceChildren(...orgs.map((m) => el('option', { value: m.org_id }, m.org_name)));
  orgField.closest('p').hidden = orgs.length < 2;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const name = form.elements['new-visit-name'].value.trim();
    const when = form.elements['new-visit-when'].value;
    if (!name) return fail(error, { code: 'invalid_display_name' });
    if (!when) {
      error.textContent = 'Choose the date and time of the visit.';
      error.hidden = false;
      return;
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const created = await session.post(`/api/v1/orgs/${enc(orgField.value)}/visits`, {
        patient_name: name,
        scheduled_at: new Date(when).toISOString(),
      });
      form.reset();
      showLink(result, name, created.link);
      onCreated(created.visit);
    } catch (err) {
      fail(error, err);
    } finally {
      button.disabled = false;
    }
  });
}

/**
 * The open visit's "Links and cancellation" panel: one row per patient or
 * guest with "New link" and "Revoke link", and "Cancel the visit".
 * `onChanged(visit?)` reloads the visit after a change.
 */
export function renderVisitControls({ session, visit, onChanged }) {
  const list = document.getElementById('links-list');
  const error = document.getElementById('links-error');
  const result = document.getElementById('links-result');
  const cancel = document.getElementById('visit-cancel');
  const open = !['ended', 'cancelled', 'no_show'].includes(visit.state);
  error.hidden = true;
  const people = (visit.participants ?? []).filter((p) => p.role !== 'host');
  list.replaceChildren(
    ...people.map((p) => {
      const renew = el('button', { type: 'button', class: 'button small', disabled: !open }, [
        'New link',
        el('span', { class: 'visually-hidden' }, ` for ${p.display_name}`),
      ]);
      const revoke = el('button', { type: 'button', class: 'button small danger', disabled: !open }, [
        'Revoke link',
        el('span', { class: 'visually-hidden' }, ` of ${p.display_name}`),
      ]);
      renew.addEventListener('click', async () => {
        renew.disabled = true;
        try {
          const link = await session.post(`/api/v1/visits/${enc(visit.id)}/links`, { participant_id: p.id });
          showLink(result, p.display_name, link);
        } catch (err) {
          fail(error, err);
        } finally {
          renew.disabled = false;
        }
      });
      revoke.addEventListener('click', async () => {
        if (!confirm(`Revoke ${p.display_name}'s link? They leave the visit at once and need a new link to come back.`)) return;
        revoke.disabled = true;
        try {
          await session.del(`/api/v1/visits/${enc(visit.id)}/links/${enc(p.id)}`);
          result.hidden = true;
          onChanged();
        } catch (err) {
          fail(error, err);
        } finally {
          revoke.disabled = false;
        }
      });
      return el('li', {}, [el('span', {}, `${p.display_name} `), renew, ' ', revoke]);
    }),
  );
  cancel.hidden = !open || visit.state === 'live';
  cancel.onclick = async () => {
    if (!confirm('Cancel this visit? The patient is told and their link stops working.')) return;
    cancel.disabled = true;
    try {
      onChanged(await session.post(`/api/v1/visits/${enc(visit.id)}/cancel`, {}));
    } catch (err) {
      fail(error, err);
    } finally {
      cancel.disabled = false;
    }
  };
}
