"""What the public port refuses before the app spends anything on it: bodies too large or too
slow, request heads too slow or too large, and a client that hangs up mid-request.

`BodyLimits` is plain ASGI, wrapped around the whole app so every route has the same limits:
a declared Content-Length over the limit is answered 413 before a byte of the body is read; a
chunked body (or one that lies) is cut with 413 the moment it passes the limit, so at most
the limit plus one network read is ever held; a body still incomplete after the timeout is
answered 408. Both close the connection: the rest of that body is not worth reading.

`HeadTimeoutProtocol` is uvicorn's HTTP protocol with the one limit uvicorn lacks: a request
head (request line and headers) must be complete within the idle timeout, whether the
connection is new or idle between requests, and stay under MAX_HEAD_BYTES. Without it a
client that connects and trickles headers holds a file descriptor for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.auto import AutoHTTPProtocol

log = structlog.get_logger()

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# nginx's large_client_header_buffers allow 4 x 8 KB; h11's default is 16 KB. A webhook's
# head is under 2 KB: 64 KB leaves room for any honest client and none for a flood.
MAX_HEAD_BYTES = 64 * 1024
_PATH_IN_LOG = 200  # the path is the client's text: a log line keeps only its start


class BodyTooLarge(Exception):
    """The body passed the limit while being read."""


class BodyTooSlow(Exception):
    """The body did not arrive within the timeout."""


class BodyLimits:
    """ASGI middleware: a size limit and a time limit on every request body."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _refuse(send, 413, "request body too large")
            return
        started = _Started(send)
        try:
            await self.app(scope, self._limited(receive), started.send)
        except BodyTooLarge:
            await started.refuse(413, "request body too large")
        except BodyTooSlow:
            await started.refuse(408, "request body too slow")
        except ClientDisconnect:
            # Nobody is left to answer: one line, not the server's traceback.
            log.info("client disconnected", path=str(scope.get("path", ""))[:_PATH_IN_LOG])

    def _limited(self, receive: Receive) -> Receive:
        # One deadline for the whole body, on the loop's clock. asyncio.timeout_at, not
        # wait_for: wait_for wraps every read in a new task (measurable at 600 req/s).
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        received = 0
        complete = False

        async def limited() -> Message:
            nonlocal received, complete
            if complete:  # after the body: a wait for http.disconnect, never timed
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
                complete = not message.get("more_body", False)
            return message

        return limited


class _Started:
    """`send`, remembering whether the response has begun (then no 413 can follow)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.begun = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.begun = True
        await self._send(message)

    async def refuse(self, status: int, reason: str) -> None:
        if not self.begun:
            await _refuse(self._send, status, reason)


async def _refuse(send: Send, status: int, reason: str) -> None:
    body = b'{"error":"' + reason.encode() + b'"}'
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The unread rest of the body would be parsed as the next request: close.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser refuses it before the app is called
    return None


class HeadTimeoutProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol (httptools or h11), closing a connection whose request head is
    not complete within `timeout_keep_alive` seconds or grows past MAX_HEAD_BYTES.

    A new request head shows as a new `self.cycle`, which both implementations create once
    the headers are parsed: no parser internals are touched."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_of: object | None = None
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and self.cycle is not self._head_of:
            self._head_of = self.cycle  # a head is complete: the body has its own limits
            self._stop_timer()
        elif self._head_timer is not None:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._close()

    def on_response_complete(self) -> None:
        idle = not getattr(self, "pipeline", ())  # else the next head is already in (httptools)
        super().on_response_complete()
        if idle and not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_timer()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._close)

    def _stop_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _close(self) -> None:
        self._stop_timer()
        if not self.transport.is_closing():
            self.transport.close()
