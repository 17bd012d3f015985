"""The numbering and archive check (`bridge.audit.verify_archive`, what `quittance verify`
runs), recorded in the append-only event log each time it runs, whoever asked: the dashboard's
"Check now", its schedule (`[dashboard] verify_every_hours`) or the CLI. The log is then where
the owner (and an auditor) reads when the documents were last proven intact, and what was
found; nothing else keeps that state.

`CheckRunner` runs one check at a time in a background thread, so a page can start it and
the owner come back to the result: a check reads every archived PDF, minutes on a big archive.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from bridge.audit import VerifyProblem, verify_archive
from bridge.logs import error_line

if TYPE_CHECKING:
    from bridge.services import Services
    from bridge.store.records import EventRecord

log = structlog.get_logger()

CHECKED_EVENT = "integrity.checked"
# What one event keeps of the problems: a wrecked archive has one per document, and an event
# row is read whole by every page showing the latest check. The count is always exact.
RECORDED_PROBLEMS = 200


@dataclass(frozen=True, slots=True)
class IntegrityResult:
    at: datetime
    trigger: str  # "dashboard", "schedule", "cli"
    checked: int  # documents gone through
    # Those known: every one from `run_check`; the first RECORDED_PROBLEMS from the log.
    problems: list[VerifyProblem] = field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0
    recorded: bool = True  # False: the event log refused it (a read-only database role)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def untold(self) -> int:
        """Problems counted but not listed (the log keeps the first RECORDED_PROBLEMS)."""
        return self.problem_count - len(self.problems)


def run_check(svc: Services, trigger: str) -> IntegrityResult:
    """Verify every document and archived file now, record the outcome, return it (with
    every problem found, not only those the event keeps)."""
    started = time.monotonic()
    checked, problems = verify_archive(svc.store, svc.archive)
    seconds = round(time.monotonic() - started, 3)
    result = IntegrityResult(
        at=svc.store.clock(), trigger=trigger, checked=checked, problems=problems,
        problem_count=len(problems), seconds=seconds,
    )  # fmt: skip
    try:
        svc.store.append_event(CHECKED_EVENT, detail=_detail(trigger, checked, problems, seconds))
    except Exception as exc:
        # An auditor's read-only role may verify: the result stands, only its record is lost.
        log.warning("integrity check not recorded", error=error_line(exc))
        return replace(result, recorded=False)
    log.info("integrity.checked", trigger=trigger, checked=checked, problems=len(problems))
    return result


def latest_check(svc: Services) -> IntegrityResult | None:
    """The last check recorded by any process sharing the database; None: never checked."""
    found = svc.store.events(limit=1, kind=CHECKED_EVENT)
    return _from_event(found[0]) if found else None


def _detail(
    trigger: str, checked: int, problems: list[VerifyProblem], seconds: float
) -> dict[str, Any]:
    return {
        "trigger": trigger,
        "checked": checked,
        "problems": [{"number": p.number, "what": p.what} for p in problems[:RECORDED_PROBLEMS]],
        "problem_count": len(problems),
        "seconds": seconds,
    }


def _from_event(event: EventRecord) -> IntegrityResult:
    detail = event.detail
    listed = [
        VerifyProblem(str(p.get("number", "?")), str(p.get("what", "")))
        for p in detail.get("problems", [])
        if isinstance(p, dict)
    ]
    return IntegrityResult(
        at=event.at,
        trigger=str(detail.get("trigger", "")),
        checked=int(detail.get("checked", 0)),
        problems=listed,
        problem_count=int(detail.get("problem_count", len(listed))),
        seconds=float(detail.get("seconds", 0.0)),
    )


class CheckRunner:
    """One check at a time, in a thread of its own: `start` while one runs does nothing.

    The outcome is read back from the event log (`latest_check`), not kept here: a check
    another process ran is as good, and the page shows the same thing after a restart."""

    def __init__(self, svc: Services, trigger: str = "dashboard") -> None:
        self.svc = svc
        self.trigger = trigger
        self.failure: str | None = None  # why the last check could not finish, if it did not
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Start a check; False (and nothing started) when one is running already."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self.failure = None
            # A daemon: a check interrupted by shutdown records nothing and is simply run again.
            self._thread = threading.Thread(target=self._run, name="integrity-check", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running check, if any; True once none runs."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def _run(self) -> None:
        try:
            run_check(self.svc, self.trigger)
        except Exception as exc:  # a thread's exception would vanish: the page shows it
            log.exception("integrity.check_failed", trigger=self.trigger)
            self.failure = f"{type(exc).__name__}: {exc}"
