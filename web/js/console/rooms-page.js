// The clinician console's Rooms page (`/web/app.html`): my rooms with live
// unread counts, the open room (history, live chat, presence, typing, receipts,
// editing and deleting my messages), managing its members and referrals,
// creating a case room, answering referrals to my organization, and visible
// notices for bookings, cancellations and waiting patients. One socket
// (live.js) carries the open room and the reader's personal events.

import { startShell } from '../shell.js';
import { LiveClient } from '../live.js';
import { Toasts } from './toasts.js';
import { RoomList } from './room-list.js';
import { RoomView } from './room-view.js';
import { startComposer } from './composer.js';
import { RoomAdmin } from './room-admin.js';
import { Incoming } from './incoming.js';
import { noticeFor } from './notices.js';

const $ = (id) => document.getElementById(id);

const shell = await startShell({ area: 'console', page: 'rooms' });
if (shell) start(shell);

function start({ session, me, orgs }) {
  $('whoami').dataset.userId = me.id;
  const live = new LiveClient({ getToken: ({ force }) => session.accessToken({ force }) });
  live.userEvents = true;
  const ctx = { session, me, orgs, live, toasts: new Toasts($('toasts'), $('announcer')) };
  session.addEventListener('token', (e) => live.refresh(e.detail.access_token).catch(() => {}));
  session.addEventListener('ended', () => live.stop());
  live.addEventListener('authfailed', () => session.end('socket'));
  showConnection(live, $('conn-status'));
  live.addEventListener('userevent', (e) => {
    const notice = noticeFor(e.detail);
    if (notice) ctx.toasts.show(notice.text, notice);
  });

  const ui = {
    roomEmpty: $('room-empty'),
    roomView: $('room-view'),
    roomTitle: $('room-title'),
    roomMeta: $('room-meta'),
    roomError: $('room-error'),
    presence: $('presence-list'),
    loadOlder: $('load-older'),
    historyStatus: $('history-status'),
    messages: $('messages'),
    typing: $('typing'),
    composer: $('composer'),
    input: $('message-input'),
    composerError: $('composer-error'),
  };
  const roomList = new RoomList(ctx, { list: $('rooms-list'), status: $('rooms-status'), reload: $('rooms-reload') });
  const view = new RoomView(ctx, ui, roomList);
  startComposer(ctx, ui, view);
  new RoomAdmin(ctx, {
    tools: $('room-tools'),
    toolsStatus: $('tools-status'),
    members: $('members-list'),
    addForm: $('add-member'),
    addSelect: $('add-member-select'),
    referSection: $('refer-section'),
    referForm: $('refer-form'),
    referSelect: $('refer-select'),
    referrals: $('referrals-list'),
    createForm: $('create-room'),
    createOrg: $('create-org'),
    createTitle: $('create-title'),
    createError: $('create-error'),
  }, view);
  const incoming = new Incoming(ctx, { section: $('incoming'), list: $('incoming-list') });

  const route = () => {
    const match = /^#room=([^&]+)$/.exec(location.hash);
    const roomId = match ? decodeURIComponent(match[1]) : null;
    if (roomId && roomId !== view.current?.id) view.open(roomId);
    if (!roomId && view.current) view.close();
  };
  window.addEventListener('hashchange', route);
  live.start();
  roomList.load().then(route, (e) => roomList.showError(e));
  incoming.load().catch(() => {});
}

function showConnection(live, conn) {
  conn.hidden = false;
  live.addEventListener('state', (e) => {
    const { state, delay } = e.detail;
    conn.dataset.state = state;
    conn.textContent =
      state === 'open'
        ? 'Connected'
        : state === 'connecting'
          ? 'Connecting…'
          : state === 'reconnecting'
            ? `Connection lost. Reconnecting${delay >= 1000 ? ` in ${Math.round(delay / 1000)} s` : ''}…`
            : 'Not connected';
  });
}
