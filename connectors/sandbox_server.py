"""What every platform sandbox shares: a real HTTP server on loopback with a lifecycle
(`start`/`stop`/`with`), JSON replies, a request log and a fault queue (an injected status,
Retry-After or delay, optionally only on one path).

Each sandbox keeps its own routes, data, authentication and signing code: an implementation
written apart from the connector it tests is the point of a sandbox.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

Reply = tuple[int, Any, dict[str, str]]  # status, JSON body (or bytes), extra headers


@dataclass
class Fault:
    status: int | None = 429  # None = answer normally (after `delay`)
    retry_after: float | None = None
    delay: float = 0.0
    path: str = ""  # only requests whose path contains this


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: Mapping[str, str]
    body: bytes


class SandboxServer:
    """Subclasses answer `route(request)`; `fault_body(status)` is their error shape; the
    verbs the platform's API takes are `methods` (any other gets 501, as http.server says)."""

    methods: tuple[str, ...] = ("GET", "POST", "PUT")

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query)
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits forever for a server never started
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- faults -----------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int | None = 429,
        *,
        retry_after: float | None = None,
        delay: float = 0.0,
        path: str = "",
    ) -> None:
        """The next `n` requests (on `path`) answer `status` (after `delay` seconds)."""
        with self.lock:
            self.faults.extend(Fault(status, retry_after, delay, path) for _ in range(n))

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.path in path:
                    return self.faults.pop(i)
        return None

    def fault_body(self, status: int) -> Any:
        return {"error": "injected by the sandbox", "status": status}

    # -- requests ---------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    def serve(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append((request.method, request.path, request.query))
        fault = self._take_fault(request.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                return fault.status, self.fault_body(fault.status), headers
        return self.route(request)


def _handler(sandbox: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            if self.command not in sandbox.methods:
                self.send_error(501, f"Unsupported method ({self.command!r})")
                return
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=split.path,
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                raw_query=split.query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            status, body, headers = sandbox.serve(request)
            # Bytes are sent as they are, typed by the reply's own Content-Type (a SOAP
            # sandbox answers XML); anything else is JSON.
            raw = isinstance(body, bytes)
            data = body if raw else json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            if not raw:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
