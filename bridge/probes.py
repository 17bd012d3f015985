"""Probes: the SMTP server and each shop, tried every `[alerts] probe_interval_seconds`, so an
outage is told before a job runs into it (at night, no email is due until morning).

A failing probe opens an outage (`probe:smtp`, `probe:shop:<name>`) in the table the job
causes use (bridge/outages.py), with the same alert once when it opens, once when it clears.
It opens after two failures in a row, not one: a single refused connection is most often a
server restarting or a network blip the jobs' quick retries absorb anyway, and two probes an
interval apart (five minutes by default) still come well before `after_minutes` of failing
jobs. It clears on the first success: a server that answers is not in doubt.

The last results stay in memory (`latest_probes()`) for whoever asks. They never feed
/readyz: webhook intake must stay in rotation while the mail server is down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from bridge.logs import error_line
from bridge.ops import check_archive, check_smtp
from bridge.outages import (
    PROBE_PREFIX,
    announce,
    end_outage,
    ensure_open,
    human_duration,
    stamp,
    when,
)
from bridge.services import Services, alert_owner
from connectors.base import CheckLine

log = structlog.get_logger()

FAILURES_TO_OPEN = 2
Check = Callable[[], CheckLine]


@dataclass(frozen=True)
class ProbeResult:
    name: str  # "smtp", "shop:<name>"
    ok: bool
    detail: str
    at: datetime
    failures: int  # failures in a row, this one included (0 when ok)
    failing_since: datetime | None  # the first of them

    @property
    def cause(self) -> str:
        return PROBE_PREFIX + self.name


class Probes:
    """What this process last saw of each probe (the scheduler's thread writes, any reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, ProbeResult] = {}
        self._told: dict[str, datetime] = {}

    def record(self, name: str, line: CheckLine, at: datetime) -> ProbeResult:
        with self._lock:
            before = self._latest.get(name)
            streak = before if before is not None and not before.ok else None
            result = ProbeResult(
                name=name,
                ok=line.ok,
                detail=line.detail,
                at=at,
                failures=0 if line.ok else (streak.failures + 1 if streak else 1),
                failing_since=None if line.ok else (streak.failing_since if streak else at),
            )
            self._latest[name] = result
            return result

    def told(self, name: str) -> datetime | None:
        """Since when the owner was told this probe fails (kept here: the database one)."""
        with self._lock:
            return self._told.get(name)

    def tell(self, name: str, since: datetime | None) -> None:
        with self._lock:
            if since is None:
                self._told.pop(name, None)
            else:
                self._told[name] = since

    def latest(self) -> list[ProbeResult]:
        with self._lock:
            return sorted(self._latest.values(), key=lambda r: r.name)

    def forget(self, names: set[str]) -> None:
        with self._lock:
            for name in names:
                self._latest.pop(name, None)


_PROCESS_PROBES = Probes()


def latest_probes() -> list[ProbeResult]:
    """The last result of each probe in this process (empty before the first run)."""
    return _PROCESS_PROBES.latest()


def run_probes(svc: Services, probes: Probes | None = None) -> list[ProbeResult]:
    """Try each target once; open or clear its outage. Returns the results. The database
    comes first: when it is away, the others (whose outages live in it) wait for it."""
    probes = probes or _PROCESS_PROBES
    database = watch_database(svc, probes)
    if not database.ok:
        return [database]
    checks = probe_checks(svc)
    results = [probes.record(name, _safely(check), svc.store.clock()) for name, check in checks]
    for result in results:
        _act_on(svc, result)
    _end_unchecked(svc, probes, {name for name, _ in checks})
    return [database, *results]


def watch_database(svc: Services, probes: Probes) -> ProbeResult:
    """The database itself, told without it: the outage table, the alert dedupe and the event
    log all live there, so this one is kept in the process (the alerter falls back to its own
    dedupe; several replicas each tell it) — told after two failures in a row (tried again at
    each probe until it goes out), and once when it answers again."""
    result = probes.record(DATABASE, _safely(lambda: _database_line(svc)), svc.store.clock())
    told = probes.told(DATABASE)
    if not result.ok and result.failures >= FAILURES_TO_OPEN and told is None:
        since = result.failing_since or result.at
        title, body = _database_down(result, since)
        if alert_owner(svc, key=f"probe:database:{stamp(since)}", title=title, body=body):
            probes.tell(DATABASE, since)
    elif result.ok and told is not None:
        alert_owner(
            svc, key=f"probe:database:{stamp(told)}:cleared",
            title="Quittance: resolved — the database takes writes again",
            body=f"It failed for {human_duration(result.at - told)} (since {when(told)}).",
        )  # fmt: skip
        probes.tell(DATABASE, None)
    return result


def _database_down(result: ProbeResult, since: datetime) -> tuple[str, str]:
    return (
        "Quittance: the database does not take writes",
        f"Failing since {when(since)} ({result.failures} checks in a row).\n"
        f"Error: {result.detail}\nNothing is recorded meanwhile: webhooks get 503 (the "
        "shops send them again), workers wait. You will get one more message when it "
        "answers again.",
    )


DATABASE = "database"


def _database_line(svc: Services) -> CheckLine:
    try:
        svc.store.check_writable()
    except Exception as exc:
        return CheckLine(DATABASE, False, error_line(exc))
    return CheckLine(DATABASE, True, "takes writes")


def probe_checks(svc: Services) -> list[tuple[str, Check]]:
    # The archive's disk: low space makes /readyz say "not ready"; the owner hears it here.
    checks: list[tuple[str, Check]] = [("archive", lambda: check_archive(svc))]
    if svc.settings.email.enabled:
        checks.append(("smtp", lambda: check_smtp(svc)))
    for shop in svc.settings.shops:
        if shop.enabled:
            checks.append((f"shop:{shop.name}", _shop_check(svc, shop.name)))
    return checks


def _shop_check(svc: Services, name: str) -> Check:
    def check() -> CheckLine:
        # The "credentials" line is the one that asked the shop something and got an answer;
        # the others (webhooks, numbering) are set-up advice for `quittance doctor`.
        lines = svc.connector(name).check()
        return next((line for line in lines if line.name == "credentials"), lines[0])

    return check


def _safely(check: Check) -> CheckLine:
    try:
        return check()
    except Exception as exc:  # a probe that cannot even run says so; it must not stop the others
        return CheckLine("probe", False, f"{type(exc).__name__}: {exc}")


def _act_on(svc: Services, result: ProbeResult) -> None:
    if result.ok:
        row = svc.store.outage(result.cause)
        if row is not None:
            end_outage(svc, row, result.at)
    elif result.failures >= FAILURES_TO_OPEN:
        _open_probe_outage(svc, result)


def _open_probe_outage(svc: Services, result: ProbeResult) -> None:
    title = probe_title(result.name)
    sample = [{"error": result.detail}]  # the digest's "what it says now"
    since = result.failing_since or result.at
    row = ensure_open(svc, result.cause, title=title, opened_at=since, affected=0, sample=sample)
    if row is None:
        return
    if row.alerted_at is None:
        announce(svc, row, *probe_open_text(result, title))
    else:
        svc.store.touch_outage(row.cause, row.opened_at, affected=0, sample=sample)


def _end_unchecked(svc: Services, probes: Probes, names: set[str]) -> None:
    """A probe no longer run (email turned off, shop removed) cannot clear by itself."""
    gone = [row for row in svc.store.outages() if row.cause.startswith(PROBE_PREFIX)]
    gone = [row for row in gone if row.cause.removeprefix(PROBE_PREFIX) not in names]
    for row in gone:
        end_outage(svc, row, svc.store.clock())
    probes.forget({row.cause.removeprefix(PROBE_PREFIX) for row in gone})


_WAITING = {
    "smtp": "Emails to customers wait and are retried: nothing is lost, but nothing is sent.",
    "archive": "Invoices cannot be archived once the disk is full: /readyz says not ready, "
    "so a load balancer sends webhooks elsewhere; free space before it fills.",
}


def probe_title(name: str) -> str:
    if name == "smtp":
        return "the mail server does not answer Quittance's test connection"
    if name == "archive":
        return "the archive's disk is short of space or cannot be written"
    return f"shop {name.removeprefix('shop:')} does not answer Quittance"


def probe_open_text(result: ProbeResult, title: str) -> tuple[str, str]:
    since = result.failing_since or result.at
    what = _WAITING.get(
        result.name, "Reading its orders and attaching documents to them wait and are retried."
    )
    body = "\n".join(
        [
            f"Failing since {when(since)} ({human_duration(result.at - since)}, "
            f"{result.failures} checks in a row).",
            f"Error: {result.detail}",
            "",
            what,
            "`quittance doctor` repeats the check. You will get one more message when it "
            "answers again.",
        ]
    )
    return f"Quittance: {title}", body
