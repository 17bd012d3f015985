"""A real, scriptable SMTP server on loopback (aiosmtpd): it can answer DATA with scripted
replies (4xx, 5xx) before accepting, and can require AUTH."""

from __future__ import annotations

import asyncio
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from bridge.devsmtp import free_port
from tests.support.waiting import HANG

SMTP_USER = "shop"
SMTP_PASSWORD = "Sup3r-S3cret-Passw0rd-xyz"  # a wrong one: the server refuses it
SMTP_ACCEPTED_PASSWORD = "the-right-one"


class ScriptedHandler:
    """aiosmtpd handler: answers DATA with the scripted replies first, then accepts."""

    def __init__(self, data_replies: list[str] | None = None) -> None:
        self.data_replies = list(data_replies or [])
        self.data_calls = 0
        self.received: list[EmailMessage] = []
        self.rcpts: list[list[str]] = []
        self.lock = threading.Lock()

    def reject_all(self, reply: str) -> None:
        self.data_replies = [reply] * 10_000

    def accept_all(self) -> None:
        self.data_replies = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.data_calls += 1
            if self.data_replies:
                return self.data_replies.pop(0)
            data = envelope.original_content or envelope.content
            self.received.append(message_from_bytes(data, policy=policy.default))  # type: ignore[arg-type]
            self.rcpts.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: Any, auth_data: Any):
    ok = (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_ACCEPTED_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


class SMTPServer:
    """A real SMTP server on 127.0.0.1 (`port` fixed so it can be started later)."""

    def __init__(
        self, handler: ScriptedHandler | None = None, port: int | None = None, *, auth: bool = False
    ) -> None:
        self.handler = handler or ScriptedHandler()
        self.port = port or free_port()
        kwargs: dict[str, Any] = {}
        if auth:
            kwargs = {
                "authenticator": _authenticator,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def received(self) -> list[EmailMessage]:
        return self.handler.received

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


class HeldHandler(ScriptedHandler):
    """Holds its answer to EHLO (before our lease check) or to DATA (after it) until the
    test lets go: a server slower than the lease, on purpose."""

    def __init__(self, hold: str) -> None:
        super().__init__()
        self.hold = hold
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def _held(self, stage: str) -> None:
        if stage == self.hold and not self.release.is_set():
            self.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, HANG)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        await self._held("ehlo")
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await self._held("data")
        return await super().handle_DATA(server, session, envelope)
