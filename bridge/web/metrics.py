"""Prometheus metrics. Counters live in the process that counts; gauges that describe shared
state (jobs by state, poll lag) are read from the database at scrape time, so every replica
reports the same truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

if TYPE_CHECKING:
    from bridge.services import Services

REGISTRY = CollectorRegistry(auto_describe=True)
WEBHOOKS = Counter(
    "quittance_webhooks_total",
    "Webhook requests by platform and outcome (stored, duplicate, ping, rejected_401…)",
    ["platform", "outcome"],
    registry=REGISTRY,
)
_JOBS = Gauge("quittance_jobs", "Jobs by state (whole database)", ["state"], registry=REGISTRY)
_POLL_LAG = Gauge(
    "quittance_poll_lag_seconds", "Seconds since the last successful poll", ["shop"],
    registry=REGISTRY,
)  # fmt: skip


def render(services: Services) -> tuple[bytes, str]:
    for state, count in services.store.job_counts().items():
        _JOBS.labels(state=state).set(count)
    now = datetime.now(UTC)
    for shop in services.settings.shops:
        state = services.store.poll_state(shop.name)
        if state is not None and state.last_success_at is not None:
            _POLL_LAG.labels(shop=shop.name).set((now - state.last_success_at).total_seconds())
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
