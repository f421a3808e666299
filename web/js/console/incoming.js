// Referrals sent to the reader's organizations, waiting for an answer: accept
// (choosing which of the organization's clinicians and admins join the case) or
// decline. Kept live by `referral.changed` user events.

import { el } from '../dom.js';
import { explain } from '../messages.js';

export class Incoming {
  constructor(ctx, ui) {
    this.ctx = ctx;
    this.ui = ui;
    ctx.live.addEventListener('userevent', (e) => {
      const { kind, payload } = e.detail;
      if (kind !== 'referral.changed') return;
      const ours = (ctx.orgs ?? []).some((o) => o.org_id === payload.to_org_id);
      if (ours && payload.status === 'pending') {
        ctx.toasts.show(`${payload.from_org_name} referred a case to ${payload.to_org_name}.`, { title: 'New referral' });
      }
      if (ours) this.load().catch(() => {});
    });
  }

  async load() {
    const lists = await Promise.all(
      (this.ctx.orgs ?? []).map(async (o) => {
        const [pending, roster] = await Promise.all([
          this.ctx.session.get(`/api/v1/orgs/${o.org_id}/referrals?status=pending`),
          this.ctx.session.get(`/api/v1/orgs/${o.org_id}/members`),
        ]);
        const team = roster.filter((m) => m.role === 'clinician' || m.role === 'admin');
        return pending.referrals.map((r) => ({ r, team }));
      }),
    );
    const all = lists.flat();
    this.ui.section.hidden = all.length === 0;
    this.ui.list.replaceChildren(...all.map(({ r, team }) => this.item(r, team)));
  }

  item(r, team) {
    const me = this.ctx.me.id;
    const boxes = team.map((m) => {
      const id = `join-${r.id}-${m.user_id}`;
      const box = el('input', { type: 'checkbox', id, value: m.user_id, checked: m.user_id === me });
      return el('li', {}, [box, ' ', el('label', { for: id }, m.user_id === me ? `${m.display_name} (you)` : m.display_name)]);
    });
    const accept = el('button', { type: 'submit', class: 'button small primary' }, 'Accept');
    const decline = el('button', { type: 'button', class: 'button small' }, 'Decline');
    const error = el('p', { class: 'form-error', role: 'alert', hidden: true });
    const legend = `Who joins “${r.room_title}”`;
    const form = el('form', { class: 'referral-answer' }, [
      el('fieldset', {}, [el('legend', {}, legend), el('ul', { class: 'plain' }, boxes)]),
      el('p', {}, [accept, ' ', decline]),
      error,
    ]);
    const fail = (err) => {
      error.textContent = explain(err, { not_a_clinician: 'Only clinicians and admins of your organization can join.', referral_closed: 'This referral was already answered or withdrawn.' });
      error.hidden = false;
    };
    const path = `/api/v1/orgs/${r.to_org_id}/referrals/${r.id}`;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const chosen = [...form.querySelectorAll('input:checked')].map((b) => b.value);
      if (!chosen.length) {
        error.textContent = 'Choose who joins the case.';
        error.hidden = false;
        return;
      }
      try {
        await this.ctx.session.post(`${path}/accept`, { member_ids: chosen });
        this.ctx.toasts.show(`You accepted the case from ${r.from_org_name}.`, { title: 'Referral accepted' });
        await this.load();
      } catch (err) {
        fail(err);
      }
    });
    decline.addEventListener('click', async () => {
      try {
        await this.ctx.session.post(`${path}/decline`, {});
        this.ctx.toasts.show(`You declined the case from ${r.from_org_name}.`, { title: 'Referral declined' });
        await this.load();
      } catch (err) {
        fail(err);
      }
    });
    return el('li', { class: 'referral', 'data-referral-id': r.id }, [
      el('p', {}, [el('strong', {}, r.room_title), ` — from ${r.from_org_name}, referred by ${r.referred_by_name}`]),
      form,
    ]);
  }
}
