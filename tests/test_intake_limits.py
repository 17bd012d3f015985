"""The public port's limits, against a real uvicorn on loopback driven by raw sockets: bodies
too large or too slow, request heads too slow or too large, idle connections."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config import load_settings
from bridge.service import public_config
from bridge.services import Services
from bridge.web.app import create_app
from bridge.web.limits import MAX_HEAD_BYTES
from tests.support.app import AppServer
from tests.support.config import write_config
from tests.support.waiting import HANG

LIMIT = 1024
SECRET = "whsec_limits"
SHOP = {
    "name": "theiere",
    "platform": "woocommerce",
    "url": "http://127.0.0.1:9",  # never called: intake only
    "consumer_key": "ck_x",
    "consumer_secret": "cs_x",
    "webhook_secret": SECRET,
}
HOOK = "/webhooks/woocommerce/theiere"


class PublicServer(AppServer):
    """`create_app` under uvicorn with the service's own public settings, in a thread."""

    def __init__(self, svc: Services) -> None:
        super().__init__(
            create_app(svc),
            lambda app, host, port: public_config(app, svc.settings, host, port),
        )

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=HANG)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PublicServer]:
    config = write_config(
        tmp_path / "quittance.toml",
        server={
            "max_body_bytes": LIMIT,
            "body_timeout_seconds": 0.5,
            "idle_timeout_seconds": 0.5,
        },
        shops=[SHOP],
    )
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        with PublicServer(svc) as running:
            yield running
    finally:
        svc.close()


def head(path: str, *lines: str) -> bytes:
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: quittance", *lines, "", ""]).encode()


def status_of(sock: socket.socket) -> int:
    """The status code of the next response (its status line is enough)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before a status line: {data!r}"
        data += chunk
    return int(data.split(b" ", 2)[1])


def closed(sock: socket.socket) -> bool:
    """True once the server closes the connection (everything it sent is read first)."""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return True
        if not chunk:
            return True


def signed(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def test_a_declared_length_over_the_limit_is_413_before_any_body_is_sent(
    server: PublicServer,
) -> None:
    with server.connect() as sock:
        sock.sendall(head(HOOK, f"Content-Length: {50 * 1024 * 1024}"))
        assert status_of(sock) == 413


def test_an_oversized_body_for_an_unknown_shop_is_413_as_for_a_known_one(
    server: PublicServer,
) -> None:
    with server.connect() as sock:
        sock.sendall(head("/webhooks/woocommerce/nope", f"Content-Length: {LIMIT + 1}"))
        assert status_of(sock) == 413


def test_a_chunked_body_is_cut_with_413_as_soon_as_it_passes_the_limit(
    server: PublicServer,
) -> None:
    with server.connect() as sock:
        sock.sendall(head(HOOK, "Transfer-Encoding: chunked"))
        for _ in range(3):  # 1536 bytes, and the body never ends: only the limit answers
            sock.sendall(b"200\r\n" + b"x" * 512 + b"\r\n")
        assert status_of(sock) == 413


def test_a_refused_body_closes_the_connection(server: PublicServer) -> None:
    with server.connect() as sock:
        sock.sendall(head(HOOK, f"Content-Length: {LIMIT * 10}"))
        assert status_of(sock) == 413
        assert closed(sock)


def test_a_body_slower_than_the_timeout_is_answered_408(server: PublicServer) -> None:
    with server.connect() as sock:
        sock.sendall(head(HOOK, "Content-Length: 100") + b"x" * 10)  # 90 bytes never come
        assert status_of(sock) == 408
        assert closed(sock)


def test_a_body_within_the_limit_is_verified_and_stored(server: PublicServer) -> None:
    body = b'{"id": 1001, "status": "processing"}'
    with server.connect() as sock:
        sock.sendall(
            head(
                HOOK,
                f"Content-Length: {len(body)}",
                "Content-Type: application/json",
                "X-WC-Webhook-Topic: order.updated",
                f"X-WC-Webhook-Signature: {signed(body)}",
            )
            + body
        )
        assert status_of(sock) == 200


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(
    server: PublicServer,
) -> None:
    with server.connect() as sock:
        assert closed(sock)


def test_a_request_head_left_unfinished_is_closed_after_the_idle_timeout(
    server: PublicServer,
) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST " + HOOK.encode() + b" HTTP/1.1\r\nHost: quittance\r\nX-Slow: ")
        assert closed(sock)


def test_a_request_head_trickled_byte_by_byte_is_closed_all_the_same(
    server: PublicServer,
) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        started = time.monotonic()
        try:  # each byte alone comes in time; the head as a whole does not
            while time.monotonic() - started < HANG:
                sock.sendall(b"a")
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert closed(sock)


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(
    server: PublicServer,
) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: quittance\r\n\r\n")
        assert status_of(sock) == 200
        assert closed(sock)


def test_a_request_head_over_the_size_limit_is_closed(server: PublicServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1024))
        assert closed(sock)
