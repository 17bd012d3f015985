"""A lease kept alive by a heartbeat thread, the common part of a job's lease
(`bridge.job_lease.JobLease`) and a shop's poll lease (`bridge.polling.PollLease`).

While the context is open, a daemon thread renews the lease each time `heartbeat` has passed
on the store's clock (tests move that clock instead of sleeping; the thread only looks at it a
few times a second). A renewal is one guarded UPDATE: once it finds another owner, the lease is
lost for good. A renewal that fails (the database is away) is not a loss: the lease holds until
it lapses, and the next beat tries again. The thread is joined on exit, so no renewal lands
after the caller recorded its outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

import structlog

log = structlog.get_logger()
# How often the heartbeat thread looks at the store's clock: it only bounds how late a due
# renewal (or a step past its timeout) is noticed.
TICK_SECONDS = 0.2


class HeartbeatLease:
    """Subclasses give `_renew_now()` (the guarded UPDATE) and may stop the beat early with
    `_beat_ends(now)` (a job's step timeout)."""

    def __init__(
        self, clock: Callable[[], datetime], heartbeat: timedelta, *, taken_at: datetime,
        name: str,
    ) -> None:  # fmt: skip
        self._clock = clock
        self.heartbeat = heartbeat
        self._renewed = taken_at
        self.renewals = 0
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._lock = threading.Lock()  # the heartbeat and a caller's check may renew at once
        self._thread = threading.Thread(target=self._beat, name=name, daemon=True)

    def __enter__(self) -> HeartbeatLease:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:  # a beat deciding under the lock sees the caller is done
            self._stop.set()
        self._thread.join()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def _renew_now(self) -> bool:
        raise NotImplementedError

    def _beat_ends(self, now: datetime) -> bool:
        return False

    def _on_lost(self) -> None:
        """Said once, when a renewal finds the lease is another's."""

    def _renew(self) -> bool:
        """Renew now: True while it is ours. Raises what the store raises."""
        with self._lock:
            if self._lost.is_set():
                return False
            now = self._clock()
            if self._renew_now():
                self._renewed = now
                self.renewals += 1
                return True
            self._lost.set()
        self._on_lost()
        return False

    def _beat(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            now = self._clock()
            if self._lost.is_set() or self._beat_ends(now):
                return
            if now - self._renewed < self.heartbeat:
                continue
            try:
                self._renew()
            except Exception as exc:  # the database is away: the lease holds until it lapses
                log.warning("lease renewal failed", lease=self._thread.name,
                            error=type(exc).__name__)  # fmt: skip
