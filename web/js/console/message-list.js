// Drawing the open room: messages (with clickable links, and Edit / Delete on
// the reader's own), "Seen by", who is online and who is typing. State lives in
// the room object of room-view.js; this module only renders it.

import { el, formatTime } from '../dom.js';
import { explain } from '../messages.js';
import { linkify } from './linkify.js';

export class MessageList {
  /** `ui`: {messages, presence, typing}; `actions`: {retry, edit, remove}. */
  constructor(ctx, ui, actions) {
    this.ctx = ctx;
    this.ui = ui;
    this.actions = actions;
  }

  nameOf(room, userId) {
    if (userId === this.ctx.me.id) return 'You';
    return room.members.get(userId) ?? 'Former member';
  }

  key(msg) {
    return msg.pending ? `pending:${msg.clientId}` : msg.id;
  }

  render(room, msg) {
    const key = this.key(msg);
    let li = room.elements.get(key);
    const fresh = !li;
    if (fresh) {
      li = el('li', { class: 'msg' });
      room.elements.set(key, li);
    }
    const mine = msg.sender === this.ctx.me.id;
    li.className = `msg${mine ? ' mine' : ''}${msg.pending ? ' pending' : ''}${msg.failed ? ' failed' : ''}`;
    li.dataset.key = key;
    if (msg.pending) {
      li.dataset.clientId = msg.clientId;
      delete li.dataset.offset;
    } else {
      li.dataset.offset = String(msg.offset);
      li.dataset.messageId = msg.id;
    }
    li.dataset.sender = msg.sender;
    const head = el('p', { class: 'msg-head' }, [
      el('span', { class: 'msg-sender' }, this.nameOf(room, msg.sender)),
      ' ',
      msg.createdAt ? el('time', { datetime: msg.createdAt }, formatTime(msg.createdAt)) : null,
      msg.editedAt && !msg.deleted ? el('span', { class: 'msg-edited' }, ' (edited)') : null,
    ]);
    const body = msg.deleted
      ? el('p', { class: 'msg-body deleted' }, 'Message deleted')
      : el('p', { class: 'msg-body' }, linkify(msg.body ?? ''));
    const parts = [head, msg.editing ? this.editor(room, msg) : body];
    if (msg.pending) {
      if (msg.failed) {
        const retry = el('button', { type: 'button', class: 'button small' }, 'Retry');
        retry.addEventListener('click', () => this.actions.retry(room, msg));
        parts.push(el('p', { class: 'msg-status', role: 'status' }, [`Not sent: ${msg.failed} `, retry]));
      } else {
        parts.push(el('p', { class: 'msg-status' }, 'Sending…'));
      }
    } else if (mine && !msg.deleted && !msg.editing) {
      parts.push(this.ownControls(room, msg));
    }
    const seen = li.querySelector('.msg-seen');
    if (seen) parts.push(seen);
    li.replaceChildren(...parts);
    if (fresh || !li.isConnected) {
      this.place(li, msg);
      if (!msg.pending) room.observer.observe(li);
    }
    return li;
  }

  ownControls(room, msg) {
    const edit = el('button', { type: 'button', class: 'button small link-like msg-edit' }, [
      'Edit',
      el('span', { class: 'visually-hidden' }, ' your message'),
    ]);
    const del = el('button', { type: 'button', class: 'button small link-like msg-delete' }, [
      'Delete',
      el('span', { class: 'visually-hidden' }, ' your message'),
    ]);
    edit.addEventListener('click', () => {
      msg.editing = true;
      this.render(room, msg).querySelector('textarea')?.focus();
    });
    del.addEventListener('click', () => {
      if (window.confirm('Delete this message for everyone in the room?')) this.actions.remove(room, msg);
    });
    return el('p', { class: 'msg-actions' }, [edit, ' ', del]);
  }

  editor(room, msg) {
    const id = `edit-${msg.id}`;
    const area = el('textarea', { id, rows: '2', maxlength: '4000' });
    area.value = msg.body ?? '';
    const error = el('p', { class: 'form-error', role: 'alert', hidden: true });
    const save = el('button', { type: 'submit', class: 'button small primary' }, 'Save');
    const cancel = el('button', { type: 'button', class: 'button small' }, 'Cancel');
    const form = el('form', { class: 'msg-editor' }, [
      el('label', { for: id }, 'Edit your message'),
      area,
      el('p', {}, [save, ' ', cancel]),
      error,
    ]);
    const stop = () => {
      msg.editing = false;
      this.render(room, msg);
    };
    cancel.addEventListener('click', stop);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = area.value.trim();
      if (!body) {
        error.textContent = 'Write a message first, or delete it instead.';
        error.hidden = false;
        return;
      }
      save.disabled = true;
      try {
        await this.actions.edit(room, msg, body);
        msg.body = body;
        stop();
      } catch (err) {
        error.textContent = explain(err);
        error.hidden = false;
        save.disabled = false;
      }
    });
    return form;
  }

  /** Inserts the element in offset order (pending copies stay at the end). */
  place(li, msg) {
    const list = this.ui.messages;
    if (msg.pending) return void list.append(li);
    let node = list.lastElementChild;
    while (node && (node.classList.contains('pending') || Number(node.dataset.offset) > msg.offset)) {
      node = node.previousElementSibling;
    }
    if (node) node.after(li);
    else list.prepend(li);
  }

  /** Each reader is shown once, on the newest of my messages they have read. */
  renderSeenBy(room) {
    const me = this.ctx.me.id;
    const mine = [...room.messages.values()].filter((m) => !m.pending && m.sender === me).sort((a, b) => b.offset - a.offset);
    const seenBy = new Map();
    for (const [userId, readOffset] of room.readers) {
      if (userId === me || !readOffset) continue;
      const msg = mine.find((m) => m.offset <= readOffset);
      if (!msg) continue;
      if (!seenBy.has(msg.id)) seenBy.set(msg.id, []);
      seenBy.get(msg.id).push(this.nameOf(room, userId));
    }
    for (const m of mine) {
      const li = room.elements.get(m.id);
      if (!li) continue;
      let seen = li.querySelector('.msg-seen');
      const names = seenBy.get(m.id);
      if (!names) {
        seen?.remove();
        continue;
      }
      if (!seen) {
        seen = el('p', { class: 'msg-seen' });
        li.append(seen);
      }
      seen.textContent = `Seen by ${names.sort().join(', ')}`;
    }
  }

  renderPresence(room) {
    const me = this.ctx.me;
    const users = [...room.online].sort((a, b) => this.nameOf(room, a).localeCompare(this.nameOf(room, b)));
    const items = users.map((userId) =>
      el('li', { class: 'presence-user', 'data-user-id': userId }, [
        el('span', { class: 'dot', 'aria-hidden': 'true' }),
        userId === me.id ? `${me.display_name} (you)` : this.nameOf(room, userId),
      ]),
    );
    if (!items.length) items.push(el('li', { class: 'presence-none' }, 'Nobody'));
    this.ui.presence.replaceChildren(...items);
    return users.some((u) => u !== me.id && !room.members.has(u));
  }

  renderTyping(room) {
    const names = [...room.typing.keys()].map((u) => this.nameOf(room, u));
    this.ui.typing.textContent =
      names.length === 0
        ? ''
        : names.length === 1
          ? `${names[0]} is typing…`
          : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
  }
}
