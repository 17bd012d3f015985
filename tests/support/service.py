"""`quittance run` as a real subprocess: start, wait until healthy, stop, read its logs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from bridge.pipeline import Services
from tests.support.paths import ROOT
from tests.support.waiting import eventually


def start_service(config: Path, log: Path, *, workers: int = 2) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "bridge.cli", "run", "-c", str(config), "--workers", str(workers)]
    with log.open("ab") as sink:
        return subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "QUITTANCE_CONFIG": ""},
        )


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    def healthy() -> bool:
        assert proc.poll() is None, f"the service exited with {proc.returncode} during start-up"
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
        except requests.ConnectionError:
            return False

    eventually(f"/healthz on port {port}", healthy, step=0.1)


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 60) -> int:
    """SIGTERM, then the exit code. A service that does not stop is killed and fails the test."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - only when the test already failed
        proc.kill()
        proc.wait(10)
        raise


def log_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a service (plain lines, e.g. from a crash, are left out)."""
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def queue_idle(svc: Services) -> bool:
    counts = svc.store.job_counts()
    return counts["pending"] + counts["running"] + counts["retry"] == 0


def polls_of(svc: Services, shops: tuple[str, ...]) -> dict[str, int]:
    states = {shop: svc.store.poll_state(shop) for shop in shops}
    return {shop: state.polls if state else 0 for shop, state in states.items()}


def settled(svc: Services, shops: tuple[str, ...]) -> None:
    """Wait until nothing more can happen: the queue is idle, then every shop completed one more
    poll, then the queue is idle again. A late duplicate (a second email, a second note) would
    need a job, and that job would exist by then: no sleep needed to "see nothing happen"."""
    eventually("an idle queue", lambda: queue_idle(svc))
    before = polls_of(svc, shops)
    eventually(
        "one more poll of every shop",
        lambda: all(n > before[s] for s, n in polls_of(svc, shops).items()),
        step=0.2,
    )
    eventually("an idle queue after that poll", lambda: queue_idle(svc))
