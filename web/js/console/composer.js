// Writing in the open room: Enter sends, Shift+Enter breaks the line; typing
// notices at most every 2 s; a message shows as "Sending…" until stored and
// offers Retry (same client id, so it lands once) when it fails.

import { newClientId } from '../live.js';
import { explain } from '../messages.js';

const TYPING_SEND_EVERY_MS = 2000;

export function startComposer(ctx, ui, view) {
  const { live } = ctx;
  view.send = (room, body, clientId) => send(room, body, clientId);
  live.addEventListener('open', (e) => {
    const max = e.detail?.limits?.max_body_chars;
    if (Number.isInteger(max) && max > 0) ui.input.maxLength = max;
  });
  ui.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  ui.input.addEventListener('input', () => {
    const room = view.current;
    if (!room || !ui.input.value.trim() || live.state !== 'open') return;
    const now = Date.now();
    if (now - room.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    room.lastTypingSent = now;
    live.typing(room.id).catch(() => {});
  });
  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const room = view.current;
    if (!room) return;
    const body = ui.input.value.trim();
    ui.composerError.hidden = true;
    ui.input.removeAttribute('aria-invalid');
    if (!body) {
      ui.composerError.textContent = 'Write a message first.';
      ui.composerError.hidden = false;
      ui.input.setAttribute('aria-invalid', 'true');
      ui.input.focus();
      return;
    }
    ui.input.value = '';
    send(room, body, newClientId());
    ui.input.focus();
  });

  function send(room, body, clientId) {
    const key = `pending:${clientId}`;
    const msg = { id: key, pending: true, clientId, sender: ctx.me.id, body, createdAt: new Date().toISOString(), failed: null };
    room.messages.set(key, msg);
    view.list.render(room, msg);
    ui.historyStatus.textContent = '';
    view.scrollToBottom();
    live
      .publish(room.id, body, clientId)
      .then((result) => {
        // Normally the event (push or reply) already replaced the pending copy.
        if (view.current === room && result?.event) {
          view.apply(room, { room: room.id, ...result.event }, false);
          view.dropPending(room, { clientId, sender: ctx.me.id });
        }
      })
      .catch((err) => {
        if (view.current !== room || !room.messages.has(key)) return;
        msg.failed = err.code === 'rate_limited' ? 'you are sending too fast.' : explain(err);
        view.list.render(room, msg);
      });
  }
}
