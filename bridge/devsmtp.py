"""A real SMTP server on loopback that files every message it accepts as an .eml file.

Used by `quittance demo`, the benchmarks and the end-to-end tests; never in production.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    path: Path | None

    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class OutboxHandler:
    outbox: Path | None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        with self.lock:
            path = None
            if self.outbox is not None:
                self.outbox.mkdir(parents=True, exist_ok=True)
                path = self.outbox / f"{len(self.received) + 1:05d}.eml"
                path.write_bytes(data)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data, path))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CaptureSMTPServer:
    """`with CaptureSMTPServer(outbox) as smtp:` → smtp.port, smtp.received."""

    def __init__(self, outbox: Path | None = None, port: int = 0) -> None:
        self.handler = OutboxHandler(outbox)
        self.port = port or free_port()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> CaptureSMTPServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> CaptureSMTPServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
