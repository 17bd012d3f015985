"""Jobs failing the way the worker records them, for the outage, probe and digest tests: real
errors classified by `classify_failure`, moved through the real queue; and the services and
frozen clock those tests share (fixtures `clock`, `svc`: import them by name)."""

from __future__ import annotations

import errno
import os
import smtplib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bridge.config import load_settings
from bridge.delivery.errors import as_delivery_error
from bridge.failures import RetryClass, classify_failure
from bridge.services import Services
from bridge.store.schema import jobs
from tests.support.clock import FrozenClock
from tests.support.config import write_config
from tests.support.hook import Hook

WORKER = "w1"
SMTP_AT = "127.0.0.1:2525"


def make_services(
    tmp_path: Path, db_url: str, hook: Hook, clock: FrozenClock, *,
    smtp_port: int | None = None, **tables: Any,
) -> Services:  # fmt: skip
    """Services alerting `hook` after 15 minutes, on `clock`; `tables` add config tables
    (`shops=[…]`, `storage={…}`)."""
    path = write_config(
        tmp_path / f"quittance-{uuid.uuid4().hex[:6]}.toml",
        database_url=db_url,
        archive_dir=tmp_path / "archive",
        smtp_port=smtp_port,
        jobs={"lease_seconds": 300},  # the default: a send fits in it
        alerts={"urls": [hook.url], "after_minutes": 15},
        **tables,
    )
    return Services.from_settings(load_settings(path, environ={}), clock=clock)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def svc(tmp_path: Path, db_url: str, hook: Hook, clock: FrozenClock) -> Iterator[Services]:
    with closing(make_services(tmp_path, db_url, hook, clock)) as services:
        yield services


@dataclass(frozen=True)
class Failing:
    kind: str
    error: BaseException
    order: str
    shop: str = "demo"
    give_up: bool = False  # transient, but past the give-up delay: dead as the worker does


def fail(svc: Services, specs: Sequence[Failing]) -> list[int]:
    """Enqueue one job per spec, claim them, and fail each as the worker would."""
    ids = [
        svc.store.enqueue(
            spec.kind, {}, dedupe_key=f"{spec.kind}:{uuid.uuid4().hex}", shop=spec.shop,
            order_id=spec.order,
        )
        for spec in specs
    ]  # fmt: skip
    claimed = {job.id for job in svc.store.claim_jobs(WORKER, limit=len(ids) + 10)}
    assert set(ids) <= claimed, "another job was due: the test set-up is wrong"
    for job_id, spec in zip(ids, specs, strict=True):
        _record_failure(svc, job_id, spec)
    return [i for i in ids if i is not None]


def _record_failure(svc: Services, job_id: int | None, spec: Failing) -> None:
    assert job_id is not None
    failure = classify_failure(spec.error)
    if spec.give_up:
        svc.store.kill_job(job_id, WORKER, error=f"gave up after 1:00:00: {failure.message}")
    elif failure.retry_class is RetryClass.permanent:
        svc.store.kill_job(job_id, WORKER, error=failure.message)
    else:
        # far ahead: a later `fail` claims only its own jobs, `succeed_all` makes them due
        run_at = svc.store.clock() + timedelta(days=1)
        svc.store.retry_job(job_id, WORKER, error=failure.message, run_at=run_at)


def fails_again(svc: Services) -> None:
    """Every retrying job is tried again now and fails as before: the cause is still there."""
    with svc.store.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.state == "retry").values(run_at=svc.store.clock()))
    for job in svc.store.claim_jobs(WORKER, limit=1000):
        run_at = svc.store.clock() + timedelta(days=1)
        svc.store.retry_job(job.id, WORKER, error=job.last_error or "", run_at=run_at)


def succeed_all(svc: Services, clock: FrozenClock) -> None:
    """Whatever failed goes through now: dead ones replayed, retrying ones due and done."""
    for job in svc.store.list_jobs(states=("dead",)):
        svc.store.requeue_job(job.id)
    clock.advance(days=1, minutes=1)
    for job in svc.store.claim_jobs(WORKER, limit=1000):
        svc.store.complete_job(job.id, WORKER, {"ok": True})


def smtp_down() -> BaseException:
    """What the email step raises when nothing listens on the SMTP port."""
    return as_delivery_error(
        ConnectionRefusedError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED)),
        context=SMTP_AT,
    )


def disk_full(path: str = "/srv/quittance/archive/2026/11/ab12.pdf") -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def mailbox_unknown(domain: str) -> BaseException:
    refused = {f"client@{domain}": (550, b"5.1.1 Mailbox unavailable")}
    return as_delivery_error(smtplib.SMTPRecipientsRefused(refused), context=SMTP_AT)  # type: ignore[arg-type]
