"""`quittance run` as a real subprocess: start, wait until healthy, stop, read its logs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from bridge.services import Services
from tests.support.paths import ROOT
from tests.support.waiting import eventually


def child_env() -> dict[str, str]:
    """The environment of a `quittance` subprocess: ours without any QUITTANCE_* variable (a
    developer's overrides, e.g. a database URL or a password, must not reach a test's config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUITTANCE_")}
    return {**env, "PYTHONUNBUFFERED": "1"}


def quittance_cmd(*args: str | Path) -> list[str]:
    """`quittance …` run by this interpreter."""
    return [sys.executable, "-m", "bridge.cli", *(str(a) for a in args)]


def start_service(config: Path, log: Path, *, workers: int = 2) -> subprocess.Popen[bytes]:
    cmd = quittance_cmd("run", "-c", config, "--workers", str(workers))
    with log.open("ab") as sink:
        return subprocess.Popen(
            cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=child_env()
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
    """How many polls of each shop have finished (failed ones included)."""
    states = {shop: svc.store.poll_state(shop) for shop in shops}
    return {shop: state.polls if state else 0 for shop, state in states.items()}


def polls_claimed_since(svc: Services, shop: str, moment: datetime) -> int:
    """Finished polls of `shop` whose lease was won at or after `moment` (the store's clock)."""
    return sum(
        1
        for e in svc.store.events(5000, "poll.done")
        if e.shop == shop
        and e.detail.get("claimed_at")
        and datetime.fromisoformat(e.detail["claimed_at"]) >= moment
    )


def settled(svc: Services, shops: tuple[str, ...]) -> None:
    """Wait until nothing more can happen: the queue is idle, then every shop finished a poll
    that began after that, then the queue is idle again. A late duplicate (a second email, a
    second note) would need a job, and that job would exist by then: no sleep needed to "see
    nothing happen"."""
    eventually("an idle queue", lambda: queue_idle(svc))
    idle_at = svc.store.clock()
    for shop in shops:
        eventually(
            f"a poll of {shop} begun after the queue went idle",
            lambda shop=shop: polls_claimed_since(svc, shop, idle_at) > 0,
            step=0.2,
        )
    eventually("an idle queue after those polls", lambda: queue_idle(svc))
