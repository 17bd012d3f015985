"""Shared helpers for the pipeline / worker / CLI tests: a config writer, a movable clock, a
scriptable SMTP server on loopback (aiosmtpd) and an HTTP hook that records apprise alerts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from bridge.config import Settings, load_settings
from bridge.demo import DEMO_CONFIG, SAMPLES_DIR, sample_orders
from bridge.devsmtp import free_port
from bridge.model import Order

SMTP_USER = "shop"
SMTP_PASSWORD = "Sup3r-S3cret-Passw0rd-xyz"


class Clock:
    """The store clock: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


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
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == b"the-right-one"
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


class Hook:
    """An HTTP endpoint that records every JSON POST (apprise `json://` alerts)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                hook.posts.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_port}/alerts"

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_config(
    path: Path,
    *,
    database_url: str,
    archive_dir: Path,
    smtp_port: int | None = None,
    alert_url: str | None = None,
    quick_retries: int = 0,
    username: str | None = None,
    password: str | None = None,
    templates_dir: Path | None = None,
    extra: str = "",
) -> Path:
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    text += f'\n[storage]\ndatabase_url = "{database_url}"\narchive_dir = "{archive_dir}"\n'
    if smtp_port is not None:
        text += (
            '\n[email]\nhost = "127.0.0.1"\n'
            f"port = {smtp_port}\n"
            'security = "none"\n'
            'from_address = "bonjour@latheiere.example.fr"\n'
            'from_name = "La Théière"\n'
            "timeout = 3\n"
        )
        if username:
            text += f'username = "{username}"\n'
        if password:
            text += f'password = "{password}"\n'
    if alert_url:
        text += f'\n[alerts]\nurls = ["{alert_url}"]\ndedupe_window_minutes = 60\n'
    if templates_dir:
        text += f'\n[templates]\ndir = "{templates_dir}"\n'
    text += (
        "\n[jobs]\nlease_seconds = 2\nbackoff_initial_seconds = 60\n"
        "backoff_max_seconds = 600\ngive_up_after_hours = 1\n"
        f"quick_retries = {quick_retries}\n"
    )
    text += extra
    path.write_text(text, encoding="utf-8")
    return path


def settings_for(tmp_path: Path, database_url: str | None = None, **kwargs: Any) -> Settings:
    cfg = write_config(
        tmp_path / "quittance.toml",
        database_url=database_url or f"sqlite:///{tmp_path / 'q.db'}",
        archive_dir=tmp_path / "archive",
        **kwargs,
    )
    return load_settings(cfg, environ={})


def orders_by_id() -> dict[str, Order]:
    return {order.order_id: order for _, order in sample_orders()}


def sample_path(prefix: str) -> Path:
    (path,) = SAMPLES_DIR.glob(f"{prefix}*.json")
    return path


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(BytesIO(data)).pages)


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    return part.get_filename() or "", part.get_content()


@contextmanager
def structlog_reset() -> Iterator[None]:
    try:
        yield
    finally:
        structlog.reset_defaults()
