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
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
Series = Iterable[tuple[Labels, float]]  # label values -> value, one sample each

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
        values = self._label_values()
        for family in DATABASE_FAMILIES:
            yield family.read(report, values)
        yield GaugeMetricFamily(
            "quittance_metrics_database_seconds",
            "Seconds this scrape spent reading the database",
            value=time.perf_counter() - started,
        )

    def _label_values(self) -> LabelValues:
        shops = self._services.settings.shops
        return LabelValues(
            shops=tuple(shop.name for shop in shops),
            platforms={shop.name: shop.platform for shop in shops},
            enabled=tuple(shop.name for shop in shops if shop.enabled),
            kinds=self._kinds,
            channels=self._channels,
        )


@dataclass(frozen=True)
class LabelValues:
    """The label values one scrape may use: the configured shops, the declared job kinds and
    delivery channels. A value from the database outside them folds into one series."""

    shops: tuple[str, ...]
    platforms: Mapping[str, str]  # configured shop -> its platform
    enabled: tuple[str, ...]  # the shops polled
    kinds: tuple[str, ...]
    channels: tuple[str, ...]

    def shop(self, shop: str) -> str:
        return shop if shop in self.platforms else UNCONFIGURED

    def kind(self, kind: str) -> str:
        return _or_other(kind, self.kinds)


def _documents(report: MetricsReport, values: LabelValues) -> Series:
    return _tally(
        report.documents,
        lambda key: (values.shop(key[0]), _or_other(key[1], DOCUMENT_KINDS)),
        zeros=[(shop, kind) for shop in values.shops for kind in DOCUMENT_KINDS],
    ).items()


def _deliveries(report: MetricsReport, values: LabelValues) -> Series:
    return _tally(
        report.deliveries,
        lambda key: (_or_other(key[0], values.channels), _or_other(key[1], DELIVERY_STATUSES)),
        zeros=[(ch, status) for ch in values.channels for status in DELIVERY_STATUSES],
    ).items()


def _jobs(report: MetricsReport, values: LabelValues) -> Series:
    return _tally(
        report.jobs,
        lambda key: (values.kind(key[0]), _or_other(key[1], JOB_STATES)),
        zeros=[(kind, state) for kind in values.kinds for state in JOB_STATES],
    ).items()


def _oldest_waiting(report: MetricsReport, values: LabelValues) -> Series:
    oldest: dict[Labels, float] = {(kind,): 0.0 for kind in values.kinds}
    for kind, run_at in report.oldest_waiting.items():
        waited = max(0.0, (report.now - run_at).total_seconds())
        labels = (values.kind(kind),)
        oldest[labels] = max(oldest.get(labels, 0.0), waited)
    return oldest.items()


def _poll_lag(report: MetricsReport, values: LabelValues) -> Series:
    return [
        ((shop,), max(0.0, (report.now - at).total_seconds()))
        for shop in values.enabled
        if (at := report.last_poll_success.get(shop)) is not None
    ]


def _quarantined(report: MetricsReport, values: LabelValues) -> Series:
    return _tally(
        {(shop,): n for shop, n in report.quarantined.items()},
        lambda key: (values.shop(key[0]),),
        zeros=[(shop,) for shop in values.shops],
    ).items()


def _webhook_events(report: MetricsReport, values: LabelValues) -> Series:
    return _tally(
        report.webhook_events,
        lambda key: (values.shop(key[0]), platform_label(key[1])),
        zeros=[(shop, platform_label(values.platforms[shop])) for shop in values.shops],
    ).items()


@dataclass(frozen=True)
class DatabaseFamily:
    """A family read from the database: what a scrape says of it, and how its series are
    computed from the report."""

    family_type: type[CounterMetricFamily | GaugeMetricFamily]
    name: str
    documentation: str
    labels: tuple[str, ...]
    series: Callable[[MetricsReport, LabelValues], Series]

    def read(self, report: MetricsReport, values: LabelValues) -> Metric:
        family = self.family_type(self.name, self.documentation, labels=list(self.labels))
        for label_values, value in self.series(report, values):
            family.add_metric(list(label_values), value)
        return family


# In the order a scrape lists them.
DATABASE_FAMILIES = (
    DatabaseFamily(
        CounterMetricFamily,
        "quittance_documents_issued",
        "Documents issued, by shop and kind (invoice, credit_note), whole database",
        ("shop", "kind"),
        _documents,
    ),
    DatabaseFamily(
        GaugeMetricFamily,
        "quittance_deliveries",
        "Delivery log rows by channel and current status, whole database (a row moves "
        "pending -> retrying -> sent / failed / skipped; a resend is a new row)",
        ("channel", "status"),
        _deliveries,
    ),
    DatabaseFamily(
        GaugeMetricFamily,
        "quittance_jobs",
        "Jobs by kind and state, whole database",
        ("kind", "state"),
        _jobs,
    ),
    DatabaseFamily(
        GaugeMetricFamily,
        "quittance_job_oldest_waiting_seconds",
        "Per kind, how long the longest-waiting claimable job (pending, or retry whose "
        "time has come) has been due; 0 when none waits",
        ("kind",),
        _oldest_waiting,
    ),
    DatabaseFamily(
        GaugeMetricFamily,
        "quittance_poll_lag_seconds",
        "Seconds since the last successful poll, per enabled shop (absent until one succeeds)",
        ("shop",),
        _poll_lag,
    ),
    DatabaseFamily(
        GaugeMetricFamily,
        "quittance_orders_quarantined",
        "Orders quarantined (no invoice until a person looks: quittance failures), by shop",
        ("shop",),
        _quarantined,
    ),
    DatabaseFamily(
        CounterMetricFamily,
        "quittance_webhook_events",
        "Webhook events stored (verified, new), by shop and platform, whole database",
        ("shop", "platform"),
        _webhook_events,
    ),
)


def _or_other(value: str, known: Container[str]) -> str:
    return value if value in known else OTHER


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
