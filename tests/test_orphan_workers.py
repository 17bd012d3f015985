"""A `quittance run` killed with SIGKILL takes its workers with it: none stays behind running
the old configuration and holding database connections. A real service, real processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bridge.devsmtp import CaptureSMTPServer, free_port
from tests.support.config import SOON_RETRY_JOBS, smtp_table, write_config
from tests.support.service import start_service, wait_healthy
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return b"multiprocessing" in cmdline and b"spawn_main" in cmdline


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody reaped yet (init in a container)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_workers_exit_when_their_service_is_killed(tmp_path: Path) -> None:
    http_port = free_port()
    with CaptureSMTPServer() as smtp:
        config = write_config(
            tmp_path / "quittance.toml",
            email=smtp_table(smtp.port),
            jobs=SOON_RETRY_JOBS,
            server={"host": "127.0.0.1", "port": http_port},
            logging={"format": "json"},
        )
        proc = start_service(config, tmp_path / "service.log", workers=2)
        try:
            wait_healthy(http_port, proc)
            workers = eventually(
                "two worker processes",
                lambda: len(w := [p for p in children(proc.pid) if is_worker(p)]) == 2 and w,
            )
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            eventually("the orphaned workers to exit", lambda: all(gone(p) for p in workers))
        finally:
            if proc.poll() is None:
                proc.kill()
