"""The composition root: everything a step may touch (`Services`), built once per process from
the settings, and the process start-up that loads those settings.

Job handlers (`bridge.pipeline`), the worker, the web app, polling, the CLI and the demo all
take a `Services`; none of them builds the parts itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from bridge.archive import Archive
from bridge.chain_anchor import anchor_heads, write_anchor
from bridge.chain_key import ChainKeyFile
from bridge.config import SellerConfig, Settings, load_settings
from bridge.delivery.alerts import Alerter
from bridge.failures import PermanentStepError
from bridge.logs import configure_logging
from bridge.render import Templates
from bridge.store import InvoiceRecord, Store
from connectors.base import Connector
from connectors.registry import connector_for

log = structlog.get_logger()


def load_process_settings(config: Path | None) -> Settings:
    """The settings a process starts with, its logging configured from them. Raises
    `ConfigError` (naming every bad key) for the caller to report its own way."""
    settings = load_settings(config)
    configure_logging(settings.logging.level, settings.logging.format)
    return settings


@dataclass
class Services:
    """Everything a step may touch, built once per process from the settings."""

    settings: Settings
    store: Store
    archive: Archive
    templates: Templates
    alerter: Alerter
    _connectors: dict[str, Connector] = field(default_factory=dict)
    _archived_logo: Path | None = None

    def seller_for_snapshot(self) -> SellerConfig:
        """The seller, with the logo replaced by its content-addressed archived copy."""
        seller = self.settings.seller
        if seller.logo is None:
            return seller
        if self._archived_logo is None:
            self._archived_logo = self.archive.put_asset(
                Path(seller.logo).read_bytes(), Path(seller.logo).suffix
            )
        return seller.model_copy(update={"logo": self._archived_logo})

    def connector(self, shop: str) -> Connector:
        """The shop's platform connector (one per shop per process, built on first use)."""
        if shop not in self._connectors:
            config = self.settings.shop(shop)
            if config is None:
                raise PermanentStepError(
                    f"shop {shop!r} is not configured (or disabled): add it under [[shops]]"
                )
            self._connectors[shop] = connector_for(config)
        return self._connectors[shop]

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], datetime] | None = None
    ) -> Services:
        """`clock` (tests only) replaces the store's UTC clock: leases, backoff, give-up."""
        templates = Templates(settings.templates.dir)
        templates.check()
        archive = Archive(Path(settings.storage.archive_dir))
        keys = ChainKeyFile(settings.storage.chain_key_path)
        store = Store.open(
            settings.storage.database_url,
            **({"clock": clock} if clock else {}),
            chain_keys=keys,
            on_issued=lambda record: _anchor(archive, store, record),
        )
        return cls(
            settings=settings,
            store=store,
            archive=archive,
            templates=templates,
            alerter=Alerter(
                settings.alerts.urls,
                claim=store.claim_alert,
                window=timedelta(minutes=settings.alerts.dedupe_window_minutes),
            ),
        )

    def anchor_chain_heads(self) -> int:
        """Anchor every series' head beside the archive (see bridge/chain_anchor.py)."""
        keys = self.store.signing_keys()
        if keys is None:
            return 0
        heads = self.store.head_invoices()
        return anchor_heads(
            self.archive.root, keys, heads, self.store.clock(), self.store.get_invoice_by_id
        )

    def close(self) -> None:
        self.store.close()


def _anchor(archive: Archive, store: Store, record: InvoiceRecord) -> None:
    keys = store.signing_keys()
    if keys is not None:
        write_anchor(archive.root, keys, record, store.clock(), store.get_invoice_by_id)


def alert_owner(svc: Services, *, key: str, title: str, body: str) -> bool:
    """Tell the owner, at most once per dedupe window per key (one outage = one alert). An
    event that cannot be written (the database is away: exactly when alerts matter) does not
    stop the alert."""
    try:
        svc.store.append_event("alert", detail={"key": key, "title": title})
    except Exception as exc:
        log.warning("alert event not recorded", key=key, error=type(exc).__name__)
    return svc.alerter.alert(key, title, body)
