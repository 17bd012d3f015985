"""The FastAPI app served by a real uvicorn in a thread, on a socket bound before it starts.

Binding port 0 ourselves means no other process (another test, another suite) can take the
port between choosing it and listening on it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import uvicorn

from tests.support.waiting import eventually

# (app, host, port) → how uvicorn serves it: the service's own `public_config` in the tests
# of the public port's limits.
MakeConfig = Callable[[object, str, int], uvicorn.Config]


def plain_config(app: object, _host: str, _port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,  # type: ignore[arg-type]
    )


class AppServer:
    """`with AppServer(create_app(svc)) as app:` → `app.url`."""

    def __init__(self, app: object, make_config: MakeConfig = plain_config) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        config = make_config(app, "127.0.0.1", self.port)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> AppServer:
        self.thread.start()
        eventually("uvicorn to start", lambda: self.server.started, step=0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()
