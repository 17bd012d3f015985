"""Prometheus metrics, read from the database at scrape time.

Invoices are issued and emails sent by worker processes, often on other hosts: a counter kept
in the web process would read 0 while they work. So every figure about the shared work is read
from the database when Prometheus scrapes, by a collector that yields fresh families each time
(no global gauge keeps a series a shop or a kind no longer has), and every replica and process
reports the same truth. Cost: one read connection and seven GROUP BY queries per scrape,
whatever the number of shops (bridge/store/reports.py: metrics_report).

Only what is never stored is counted in the process that saw it: webhook requests answered
without a new row (bad signature, unknown shop, ping, duplicate).

Label values come from the configuration and the declared steps, never from a request: a
document of a shop no longer configured counts under shop="(unconfigured)", a job of a kind
no step declares under kind="(other)", a platform named by an unknown URL as "(other)".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bridge.steps import STEPS
from bridge.store.deliveries import DELIVERY_STATUSES
from bridge.store.records import JOB_STATES
from connectors.registry import PLATFORMS

if TYPE_CHECKING:
    from bridge.services import Services
    from bridge.store.reports import MetricsReport

log = structlog.get_logger()

UNCONFIGURED = "(unconfigured)"
OTHER = "(other)"
DOCUMENT_KINDS = ("invoice", "credit_note")
KNOWN_PLATFORMS = tuple(p.name for p in PLATFORMS)

K = TypeVar("K", bound=tuple[str, ...])
Labels = tuple[str, ...]

# Per process, registered in each app's registry (a process may serve several apps: tests).
WEBHOOKS = Counter(
    "quittance_webhooks_total",
    "Webhook requests THIS process answered without storing a new event, by platform and "
    "outcome (unknown_shop, rejected_<status>, ping, duplicate). Kept in memory: reset at "
    "restart, sum over replicas. Stored events: quittance_webhook_events_total (database).",
    ["platform", "outcome"],
    registry=None,
)


def platform_label(platform: str) -> str:
    """A platform as a label value: a known one, or "(other)" for whatever a URL said."""
    return platform if platform in KNOWN_PLATFORMS else OTHER


def registry_for(services: Services) -> CollectorRegistry:
    """The registry one app serves: this process's webhook counter and the database view."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(WEBHOOKS)
    registry.register(DatabaseCollector(services))
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST


class DatabaseCollector(Collector):
    """The shared state, read from the database on each scrape."""

    def __init__(
        self,
        services: Services,
        *,
        kinds: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
    ) -> None:
        # The declared steps name every job kind and delivery channel there is.
        if kinds is None:
            kinds = [step.kind for step in STEPS.steps]
        if channels is None:
            channels = list(dict.fromkeys(step.channel for step in STEPS.steps if step.channel))
        self._services = services
        self._kinds = tuple(kinds)
        self._channels = tuple(channels)

    def describe(self) -> Iterable[Metric]:
        # Nothing at registration: describing would mean collecting, a query at start-up.
        return ()

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily(
            "quittance_database_up",
            "1 when this scrape read the database, 0 when it could not (the figures read from "
            "it are then absent, not zero)",
        )
        try:
            report = self._services.store.metrics_report()
        except Exception as exc:  # the scrape still answers: a down database is a value too
            log.warning("metrics: database unreadable", err=f"{type(exc).__name__}: {exc}")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._families(report)
        yield GaugeMetricFamily(
            "quittance_metrics_database_seconds",
            "Seconds this scrape spent reading the database",
            value=time.perf_counter() - started,
        )

    def _families(self, report: MetricsReport) -> Iterator[Metric]:
        shops = [shop.name for shop in self._services.settings.shops]
        platforms = {shop.name: shop.platform for shop in self._services.settings.shops}

        def shop_label(shop: str) -> str:
            return shop if shop in platforms else UNCONFIGURED

        def kind_label(kind: str) -> str:
            return kind if kind in self._kinds else OTHER

        documents = _tally(
            report.documents,
            lambda key: (shop_label(key[0]), key[1] if key[1] in DOCUMENT_KINDS else OTHER),
            zeros=[(shop, kind) for shop in shops for kind in DOCUMENT_KINDS],
        )
        issued = CounterMetricFamily(
            "quittance_documents_issued",
            "Documents issued, by shop and kind (invoice, credit_note), whole database",
            labels=["shop", "kind"],
        )
        for labels, count in documents.items():
            issued.add_metric(list(labels), count)
        yield issued

        deliveries = _tally(
            report.deliveries,
            lambda key: (
                key[0] if key[0] in self._channels else OTHER,
                key[1] if key[1] in DELIVERY_STATUSES else OTHER,
            ),
            zeros=[(ch, status) for ch in self._channels for status in DELIVERY_STATUSES],
        )
        rows = GaugeMetricFamily(
            "quittance_deliveries",
            "Delivery log rows by channel and current status, whole database (a row moves "
            "pending -> retrying -> sent / failed / skipped; a resend is a new row)",
            labels=["channel", "status"],
        )
        for labels, count in deliveries.items():
            rows.add_metric(list(labels), count)
        yield rows

        job_counts = _tally(
            report.jobs,
            lambda key: (kind_label(key[0]), key[1] if key[1] in JOB_STATES else OTHER),
            zeros=[(kind, state) for kind in self._kinds for state in JOB_STATES],
        )
        queue = GaugeMetricFamily(
            "quittance_jobs", "Jobs by kind and state, whole database", labels=["kind", "state"]
        )
        for labels, count in job_counts.items():
            queue.add_metric(list(labels), count)
        yield queue

        oldest: dict[str, float] = dict.fromkeys(self._kinds, 0.0)
        for kind, run_at in report.oldest_waiting.items():
            waited = max(0.0, (report.now - run_at).total_seconds())
            oldest[kind_label(kind)] = max(oldest.get(kind_label(kind), 0.0), waited)
        waiting = GaugeMetricFamily(
            "quittance_job_oldest_waiting_seconds",
            "Per kind, how long the longest-waiting claimable job (pending, or retry whose "
            "time has come) has been due; 0 when none waits",
            labels=["kind"],
        )
        for kind, seconds in oldest.items():
            waiting.add_metric([kind], seconds)
        yield waiting

        enabled = [shop.name for shop in self._services.settings.shops if shop.enabled]
        lag = GaugeMetricFamily(
            "quittance_poll_lag_seconds",
            "Seconds since the last successful poll, per enabled shop (absent until one succeeds)",
            labels=["shop"],
        )
        for shop in enabled:
            at = report.last_poll_success.get(shop)
            if at is not None:
                lag.add_metric([shop], max(0.0, (report.now - at).total_seconds()))
        yield lag

        quarantined = _tally(
            {(shop,): n for shop, n in report.quarantined.items()},
            lambda key: (shop_label(key[0]),),
            zeros=[(shop,) for shop in shops],
        )
        held = GaugeMetricFamily(
            "quittance_orders_quarantined",
            "Orders quarantined (no invoice until a person looks: quittance failures), by shop",
            labels=["shop"],
        )
        for labels, count in quarantined.items():
            held.add_metric(list(labels), count)
        yield held

        events = _tally(
            report.webhook_events,
            lambda key: (shop_label(key[0]), platform_label(key[1])),
            zeros=[(shop, platform_label(platforms[shop])) for shop in shops],
        )
        stored = CounterMetricFamily(
            "quittance_webhook_events",
            "Webhook events stored (verified, new), by shop and platform, whole database",
            labels=["shop", "platform"],
        )
        for labels, count in events.items():
            stored.add_metric(list(labels), count)
        yield stored


def _tally(
    counts: Mapping[K, int], label: Callable[[K], tuple[str, ...]], *, zeros: Iterable[Labels]
) -> dict[Labels, int]:
    """Counts keyed by label values: every expected series at 0 first (an alert on "dead > 0"
    needs the series to exist), then each row added under its label (several unknown values
    fold into one "(other)")."""
    out = dict.fromkeys(zeros, 0)
    for key, count in counts.items():
        labels = label(key)
        out[labels] = out.get(labels, 0) + count
    return out
