#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) that records what it receives, for HealthBridge tests.

Tests talk to this instead of a mock so that the SMTP dialogue, MIME encoding and
reply-code handling are exercised end to end against an implementation we did not write.

Each accepted message is appended to --out as one JSON line and flushed at once, so a
test polling the file sees it as soon as the client has its 250 reply.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import sys
import threading
from email import policy
from email.parser import BytesHeaderParser

try:
    from aiosmtpd.controller import Controller
except ImportError:  # pragma: no cover - message for humans and for SmtpSink
    sys.stderr.write("aiosmtpd is not installed: run `pip install aiosmtpd`\n")
    sys.exit(3)

FAIL_REPLY = "451 4.3.0 try again later"
REJECT_REPLY = "550 5.1.1 no such user"


class RecordingHandler:
    """Accepts mail, applies the configured failures, and logs each message as JSON."""

    def __init__(self, out_path: str, fail_first: int, rejected: set[str]):
        self._out_path = out_path
        self._fail_left = fail_first
        self._rejected = {r.lower() for r in rejected}
        # DATA handlers run on the controller's single loop thread, but a lock keeps
        # the counter and the file honest should that ever change.
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self._rejected:
            return REJECT_REPLY
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            if self._fail_left > 0:
                self._fail_left -= 1
                return FAIL_REPLY
            self._record(envelope)
        return "250 OK: queued"

    def _record(self, envelope) -> None:
        raw: bytes = envelope.original_content or envelope.content or b""
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        line = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": raw.decode("utf-8", errors="replace"),
            "message_id": str(headers.get("Message-ID", "") or "").strip(),
        }
        with open(self._out_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
            out.flush()
            os.fsync(out.fileno())


class AnyPortController(Controller):
    """Controller that accepts port 0.

    aiosmtpd's Controller connects back to itself on `self.port` after binding; with
    port 0 that would fail, so learn the real port from the bound socket first.
    """

    def _trigger_server(self):
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--out", required=True, help="JSON-lines file of received messages")
    p.add_argument("--ready-file", help="written with the bound port once listening")
    p.add_argument("--fail-first", type=int, default=0,
                   help=f"answer the first N DATA commands with '{FAIL_REPLY}'")
    p.add_argument("--reject", action="append", default=[], metavar="RCPT",
                   help=f"answer '{REJECT_REPLY}' for this recipient (repeatable)")
    p.add_argument("--starttls-cert", help="PEM certificate; enables STARTTLS")
    p.add_argument("--starttls-key", help="PEM private key for --starttls-cert")
    return p.parse_args(argv)


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def write_ready(path: str, port: int) -> None:
    """Write atomically so a poller never reads a half-written port."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    handler = RecordingHandler(args.out, args.fail_first, set(args.reject))
    ctx = tls_context(args.starttls_cert, args.starttls_key)
    extra = {"tls_context": ctx, "require_starttls": False} if ctx else {}
    controller = AnyPortController(handler, hostname=args.host, port=args.port, **extra)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    controller.start()
    if args.ready_file:
        write_ready(args.ready_file, controller.port)
    print(f"smtp_sink listening on {args.host}:{controller.port}", flush=True)
    while not stop.wait(0.2):
        pass
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
