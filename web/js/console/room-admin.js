// Managing the open case room: its members (add a colleague or patient of the
// owning organization, remove, leave) and referral to another organization
// (chosen from the organizations that accept referrals; withdrawn here). And
// creating a new case room. Every answer is shown in plain words.

import { el } from '../dom.js';
import { explain } from '../messages.js';

const ROLE_WORDS = { admin: 'admin', clinician: 'clinician', patient: 'patient' };
const STATUS_WORDS = { pending: 'waiting for an answer', accepted: 'accepted', declined: 'declined', withdrawn: 'withdrawn' };

export class RoomAdmin {
  constructor(ctx, ui, view) {
    this.ctx = ctx;
    this.ui = ui;
    this.view = view;
    view.onOpen = (room) => this.show(room).catch((e) => this.say(e));
    view.onClose = () => (ui.tools.hidden = true);
    ui.addForm.addEventListener('submit', (e) => this.add(e));
    ui.referForm.addEventListener('submit', (e) => this.refer(e));
    this.setUpCreate();
    ctx.live.addEventListener('userevent', (e) => {
      const room = view.current;
      if (e.detail.kind === 'referral.changed' && room && e.detail.payload.room_id === room.id) {
        view.reloadInfo(room).catch(() => {});
      }
    });
  }

  say(e, ok = false) {
    this.ui.toolsStatus.textContent = ok ? e : explain(e);
  }

  /** Only the owning organization's clinicians and admins manage a case room. */
  ownerRole(room) {
    return this.ctx.me.memberships?.find((m) => m.org_id === room.info.org_id)?.role;
  }

  async show(room) {
    const ui = this.ui;
    const role = this.ownerRole(room);
    const manages = role === 'clinician' || role === 'admin';
    ui.tools.hidden = false;
    this.renderMembers(room, manages);
    ui.addForm.hidden = !manages;
    ui.referSection.hidden = !(manages && room.info.kind === 'case');
    if (manages) await this.fillCandidates(room);
    if (manages && room.info.kind === 'case') await this.loadReferrals(room);
  }

  renderMembers(room, manages) {
    const me = this.ctx.me.id;
    const items = (room.info.members ?? []).map((m) => {
      const self = m.user_id === me;
      const parts = [el('span', {}, self ? `${m.display_name} (you)` : m.display_name)];
      if (self || manages) {
        const b = el('button', { type: 'button', class: 'button small' }, self ? 'Leave' : ['Remove', el('span', { class: 'visually-hidden' }, ` ${m.display_name}`)]);
        b.addEventListener('click', () => this.remove(room, m, self));
        parts.push(' ', b);
      }
      return el('li', { 'data-user-id': m.user_id }, parts);
    });
    this.ui.members.replaceChildren(...items);
  }

  async fillCandidates(room) {
    const members = new Set((room.info.members ?? []).map((m) => m.user_id));
    const roster = await this.ctx.session.get(`/api/v1/orgs/${room.info.org_id}/members`);
    if (this.view.current !== room) return;
    const options = roster
      .filter((m) => ROLE_WORDS[m.role] && !members.has(m.user_id))
      .map((m) => el('option', { value: m.user_id }, `${m.display_name} (${ROLE_WORDS[m.role]})`));
    this.ui.addSelect.replaceChildren(el('option', { value: '' }, 'Choose a person'), ...options);
  }

  async add(e) {
    e.preventDefault();
    const room = this.view.current;
    const userId = this.ui.addSelect.value;
    if (!room || !userId) return this.say('Choose a person to add.', true);
    try {
      await this.ctx.session.post(`/api/v1/rooms/${room.id}/members`, { user_id: userId });
      this.say('Added to the room.', true);
      await this.view.reloadInfo(room);
    } catch (err) {
      this.say(err);
    }
  }

  async remove(room, member, self) {
    const question = self ? 'Leave this room? You will no longer see its messages.' : `Remove ${member.display_name} from this room?`;
    if (!window.confirm(question)) return;
    try {
      await this.ctx.session.del(`/api/v1/rooms/${room.id}/members/${member.user_id}`);
      if (self) return void (location.hash = '');
      this.say(`${member.display_name} was removed.`, true);
      await this.view.reloadInfo(room);
    } catch (err) {
      this.say(err, false);
    }
  }

  async loadReferrals(room) {
    const [targets, sent] = await Promise.all([
      this.ctx.session.get(`/api/v1/orgs/${room.info.org_id}/referral-targets`),
      this.ctx.session.get(`/api/v1/rooms/${room.id}/referrals`),
    ]);
    if (this.view.current !== room) return;
    const open = new Set(sent.referrals.filter((r) => r.status === 'pending' || r.status === 'accepted').map((r) => r.to_org_id));
    this.ui.referSelect.replaceChildren(
      el('option', { value: '' }, 'Choose an organization'),
      ...targets.orgs.filter((o) => !open.has(o.id)).map((o) => el('option', { value: o.id }, o.name)),
    );
    const items = sent.referrals.map((r) => {
      const parts = [el('span', {}, `${r.to_org_name}: ${STATUS_WORDS[r.status] ?? r.status}`)];
      if (r.status === 'pending' || r.status === 'accepted') {
        const b = el('button', { type: 'button', class: 'button small' }, ['Withdraw', el('span', { class: 'visually-hidden' }, ` the referral to ${r.to_org_name}`)]);
        b.addEventListener('click', () => this.withdraw(room, r));
        parts.push(' ', b);
      }
      return el('li', { 'data-referral-id': r.id, 'data-status': r.status }, parts);
    });
    this.ui.referrals.replaceChildren(...items);
  }

  async refer(e) {
    e.preventDefault();
    const room = this.view.current;
    const orgId = this.ui.referSelect.value;
    if (!room || !orgId) return this.say('Choose the organization to refer the case to.', true);
    try {
      const r = await this.ctx.session.post(`/api/v1/rooms/${room.id}/referrals`, { org_id: orgId });
      this.say(`Referred to ${r.to_org_name}. They will accept or decline.`, true);
      await this.loadReferrals(room);
    } catch (err) {
      this.say(err);
    }
  }

  async withdraw(room, r) {
    if (!window.confirm(`Withdraw the referral to ${r.to_org_name}? Their people lose the room at once.`)) return;
    try {
      await this.ctx.session.del(`/api/v1/rooms/${room.id}/referrals/${r.id}`);
      this.say('Referral withdrawn.', true);
      await this.view.reloadInfo(room);
    } catch (err) {
      this.say(err);
    }
  }

  setUpCreate() {
    const { createForm, createOrg, createTitle, createError } = this.ui;
    const orgs = this.ctx.orgs ?? [];
    createOrg.replaceChildren(...orgs.map((o) => el('option', { value: o.org_id }, o.org_name)));
    createOrg.closest('p').hidden = orgs.length < 2;
    createForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      createError.hidden = true;
      const title = createTitle.value.trim();
      if (!title) {
        createError.textContent = 'Give the case a title.';
        createError.hidden = false;
        return createTitle.focus();
      }
      try {
        const room = await this.ctx.session.post(`/api/v1/orgs/${createOrg.value}/rooms`, { kind: 'case', title });
        createTitle.value = '';
        createForm.closest('details').open = false;
        await this.view.roomList.load();
        location.hash = `#room=${encodeURIComponent(room.id)}`;
      } catch (err) {
        createError.textContent = explain(err, { invalid_title: 'Give the case a shorter title.' });
        createError.hidden = false;
      }
    });
  }
}
