"""A local ECB for tests and demos: its rates history file over HTTP, and rates carried forward.

`EcbSandbox` serves `HISTORY_PATH` as the ECB serves eurofxref-hist.zip, with the bytes it is
given (`history`), so `bridge.ecb.refresh_rates` downloads, checks and replaces its file exactly
as it does from the ECB; `fail_next` injects an HTTP status or a delay, and `requests` logs
what was asked, as on the platform sandboxes.

`carried_forward(through)` is the bundled history with its last publication repeated on every
ECB business day after it up to `through`: what the demo and the tests, which run offline,
read so that an order paid today finds a rate for its day. Those rows are stand-in figures,
never rates the ECB published, and nothing but the demo and the tests reads them.
"""

from __future__ import annotations

import zipfile
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path

from bridge.config.currency import BUNDLED_RATES_FILE
from bridge.ecb import RATES_FILE_NAME, ecb_publishes_on, history_lines
from connectors.sandbox_server import Reply, Request, SandboxServer

HISTORY_PATH = "/stats/eurofxref/" + RATES_FILE_NAME


class EcbSandbox(SandboxServer):
    methods = ("GET",)

    def __init__(self, history: bytes = b"", *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.history = history or BUNDLED_RATES_FILE.read_bytes()

    @property
    def history_url(self) -> str:
        return self.url + HISTORY_PATH

    def route(self, request: Request) -> Reply:
        if request.path != HISTORY_PATH:
            return 404, {"error": f"no such file: {request.path}"}, {}
        with self.lock:
            return 200, self.history, {"Content-Type": "application/zip"}


def history_zip(lines: list[str]) -> bytes:
    """An ECB history file (one CSV in a zip, as the ECB serves it) of these lines."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(RATES_FILE_NAME.replace(".zip", ".csv"), "\n".join(lines) + "\n")
    return out.getvalue()


def carried_forward(through: date, source: Path = BUNDLED_RATES_FILE) -> bytes:
    """`source`'s history, its latest publication repeated on each ECB business day after it up
    to `through` (stand-in rows, newest first as the ECB lists them)."""
    header, *rows = history_lines(source.read_bytes())
    latest = max((r for r in rows if r.strip()), key=lambda r: r[:10])
    day, values = date.fromisoformat(latest[:10]), latest[10:]
    added: list[str] = []
    while day < through:
        day += timedelta(days=1)
        if ecb_publishes_on(day):
            added.insert(0, day.isoformat() + values)
    return history_zip([header, *added, *rows])


def write_carried_forward(path: Path, through: date) -> Path:
    """`carried_forward(through)` written to `path`, for a `[currency] rates_file`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(carried_forward(through))
    return path
