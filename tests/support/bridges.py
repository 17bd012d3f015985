"""A whole bridge running in the test process, for either platform: the platform's sandbox
shop, a capturing SMTP server, `Services` on a temp SQLite, and the real app served by uvicorn.

`with woo_bridge(tmp_path) as b:` or `with shopify_bridge(tmp_path) as b:`; then `b.work()`
runs the queue once, `b.webhook_url` is our endpoint for the shop, `b.sandbox` the shop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config import load_settings
from bridge.devsmtp import CaptureSMTPServer
from bridge.services import Services
from bridge.web.app import create_app
from bridge.worker import work
from connectors.shopify.sandbox import ShopifySandbox
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.app import AppServer
from tests.support.config import SERVER, write_config
from tests.support.shops import shopify_shop, woo_shop

SHOP = "theiere"
WOO_KEY, WOO_SECRET, WOO_HOOK_SECRET = "ck_test_123", "cs_test_456", "whsec-test-789"


@dataclass
class Bridge:
    platform: str
    sandbox: WooSandbox | ShopifySandbox
    smtp: CaptureSMTPServer
    svc: Services
    config_path: Path
    base_url: str = ""

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/{self.platform}/{SHOP}"

    @property
    def wc(self) -> WooSandbox:
        assert isinstance(self.sandbox, WooSandbox)
        return self.sandbox

    @property
    def shopify(self) -> ShopifySandbox:
        assert isinstance(self.sandbox, ShopifySandbox)
        return self.sandbox

    def work(self) -> int:
        return work(self.svc, once=True, worker_id="test")

    def invoices(self) -> list[Any]:
        return list(self.svc.store.iter_invoices())

    def restart(self) -> None:
        """A new process on the worker side: same config and database, fresh connectors (the
        app keeps the Services it was created with)."""
        self.svc.close()
        self.svc = Services.from_settings(load_settings(self.config_path, environ={}))


@contextmanager
def _running(platform: str, sandbox: Any, shop: dict[str, Any], tmp_path: Path) -> Iterator[Bridge]:
    with sandbox, CaptureSMTPServer() as smtp:
        cfg = write_config(
            tmp_path / "quittance.toml", smtp_port=smtp.port, server=SERVER, shops=[shop]
        )
        svc = Services.from_settings(load_settings(cfg, environ={}))
        bridge = Bridge(platform, sandbox, smtp, svc, cfg)
        try:
            with AppServer(create_app(svc)) as app:
                bridge.base_url = app.url
                yield bridge
        finally:
            bridge.svc.close()


@contextmanager
def woo_bridge(tmp_path: Path, *, seed: bool = True, **shop_extra: Any) -> Iterator[Bridge]:
    sandbox = WooSandbox(
        consumer_key=WOO_KEY, consumer_secret=WOO_SECRET, webhook_secret=WOO_HOOK_SECRET, seed=seed
    )
    with _running("woocommerce", sandbox, woo_shop(SHOP, sandbox, **shop_extra), tmp_path) as b:
        yield b


@contextmanager
def shopify_bridge(tmp_path: Path, *, seed: bool = True, **shop_extra: Any) -> Iterator[Bridge]:
    sandbox = ShopifySandbox(seed=seed)
    with _running("shopify", sandbox, shopify_shop(SHOP, sandbox, **shop_extra), tmp_path) as b:
        yield b
