// The scripted fake WebSocket the browser-less unit tests share: the test plays
// the server (replies, errors, pushes, drops) and reads what the client sent.

export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** A WebSocket whose server side the test scripts. */
export class FakeSocket {
  static all = [];

  constructor(url, protocol) {
    this.url = url;
    this.protocol = protocol;
    this.sent = [];
    this.closed = null;
    FakeSocket.all.push(this);
    setTimeout(() => this.onopen?.(), 0);
  }

  send(data) {
    if (this.closed) throw new Error('closed');
    this.sent.push(JSON.parse(data));
  }

  close(code, reason) {
    this.closed = { code, reason };
  }

  push(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  reply(request, result) {
    this.push({ id: request.id, type: 'reply', result });
  }

  fail(request, code) {
    this.push({ id: request.id, type: 'error', error: { code, message: code } });
  }

  drop(code = 1006) {
    this.closed = { code };
    this.onclose?.({ code, reason: '' });
  }

  /** The next request of `type` (waits for it). */
  async next(type) {
    for (let i = 0; i < 200; i += 1) {
      const found = this.sent.find((f) => f.type === type && !f.seen);
      if (found) {
        found.seen = true;
        return found;
      }
      await tick(5);
    }
    throw new Error(`no ${type} frame; sent: ${JSON.stringify(this.sent.map((f) => f.type))}`);
  }

  /** Requests of `type` sent so far (seen or not). */
  all(type) {
    return this.sent.filter((f) => f.type === type);
  }
}
