"""Shared pieces of the WooCommerce tests (no tests here): a whole running bridge — sandbox
shop, SMTP capture, Services on a temp SQLite, the FastAPI app served by uvicorn on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from bridge.config import load_settings
from bridge.devsmtp import CaptureSMTPServer, free_port
from bridge.pipeline import Services
from bridge.web.app import create_app
from bridge.worker import work
from connectors.sandbox.woocommerce import WooSandbox
from tests.helpers_pipeline import write_config

SHOP = "theiere"
KEY, SECRET, HOOK_SECRET = "ck_test_123", "cs_test_456", "whsec-test-789"


def shop_toml(url: str, **extra: object) -> str:
    lines = [
        "\n[[shops]]",
        f'name = "{SHOP}"',
        'platform = "woocommerce"',
        f'url = "{url}"',
        f'consumer_key = "{KEY}"',
        f'consumer_secret = "{SECRET}"',
        f'webhook_secret = "{HOOK_SECRET}"',
        "timeout_seconds = 5",
    ]
    for key, value in extra.items():
        lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else value}")
    return "\n".join(lines) + "\n"


SERVER_TOML = (
    '\n[server]\npublic_url = "https://factures.latheiere.example.fr"\n'
    'link_secret = "link-secret-for-tests-0123456789"\n'
)


@dataclass
class Bridge:
    wc: WooSandbox
    smtp: CaptureSMTPServer
    svc: Services
    base_url: str
    config_path: Path

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/woocommerce/{SHOP}"

    def work(self) -> int:
        return work(self.svc, once=True, worker_id="test")

    def invoices(self):
        return list(self.svc.store.iter_invoices())

    def restart(self) -> None:
        """A new process: same config and database, fresh connectors."""
        self.svc.close()
        self.svc = Services.from_settings(load_settings(self.config_path, environ={}))


class _AppServer:
    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _AppServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:  # pragma: no cover
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@contextmanager
def running_bridge(tmp_path: Path, *, seed: bool = True, **shop_extra: object) -> Iterator[Bridge]:
    with (
        WooSandbox(
            consumer_key=KEY, consumer_secret=SECRET, webhook_secret=HOOK_SECRET, seed=seed
        ) as wc,
        CaptureSMTPServer() as smtp,
    ):
        cfg = write_config(
            tmp_path / "quittance.toml",
            database_url=f"sqlite:///{tmp_path / 'q.db'}",
            archive_dir=tmp_path / "archive",
            smtp_port=smtp.port,
            extra=SERVER_TOML + shop_toml(wc.url, **shop_extra),
        )
        svc = Services.from_settings(load_settings(cfg, environ={}))
        bridge = Bridge(wc, smtp, svc, "", cfg)
        # the app reads `bridge.svc` once: restart() in tests swaps the worker side only
        with _AppServer(create_app(svc)) as app:
            bridge.base_url = f"http://127.0.0.1:{app.port}"
            try:
                yield bridge
            finally:
                bridge.svc.close()
