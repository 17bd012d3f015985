"""`quittance portal link|revoke`, end to end: documents issued in a real SQLite store, the
link the command prints opened through the real app, revoked by the command."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import structlog
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bridge.cli import app
from bridge.config import load_settings
from bridge.services import Services
from bridge.store import Store
from bridge.web.app import create_app
from tests.support.config import write_config
from tests.support.snapshots import issue

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

BUYER = "marie.dupont@example.fr"  # the b2c case's buyer
PUBLIC = "http://portal.test"
SERVER = {"public_url": PUBLIC, "link_secret": "a-link-secret-for-the-cli-tests"}


def woo(name: str) -> dict[str, Any]:
    return {
        "name": name, "platform": "woocommerce", "url": "http://127.0.0.1:9",
        "consumer_key": "ck_x", "consumer_secret": "cs_x", "webhook_secret": "whsec_x",
    }  # fmt: skip


@pytest.fixture(autouse=True)
def _wide_consoles(wide_consoles: None) -> None:
    """Every test here reads the CLI's output unwrapped."""


def portal_config(tmp_path: Path, **server: Any) -> Path:
    config = write_config(
        tmp_path / "quittance.toml",
        database_url=f"sqlite:///{tmp_path / 'q.db'}",
        archive_dir=tmp_path / "archive",
        shops=[woo("boutique")],
        server=server or SERVER,
    )
    with Store.open(f"sqlite:///{tmp_path / 'q.db'}") as store:
        issue(store, "1001", shop="boutique")
    return config


def cli(*args: str | Path) -> Result:
    result = CliRunner().invoke(app, ["portal", *(str(a) for a in args)])
    structlog.reset_defaults()  # the CLI configured structlog on the runner's closed stderr
    return result


def open_page(config: Path, url: str) -> int:
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        return TestClient(create_app(svc)).get(urlsplit(url).path).status_code
    finally:
        svc.close()


def test_portal_link_prints_a_link_that_opens_the_customers_documents(tmp_path: Path) -> None:
    config = portal_config(tmp_path)
    result = cli("link", BUYER, "--shop", "boutique", "-c", config)
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith(f"{PUBLIC}/portal/")
    assert open_page(config, url) == 200


def test_portal_link_of_an_unknown_address_exits_2_naming_it(tmp_path: Path) -> None:
    config = portal_config(tmp_path)
    result = cli("link", "nobody@example.fr", "--shop", "boutique", "-c", config)
    assert result.exit_code == 2
    assert "nobody@example.fr" in result.output


def test_portal_link_without_a_public_url_exits_2_naming_the_keys(tmp_path: Path) -> None:
    config = portal_config(tmp_path, public_url="")
    result = cli("link", BUYER, "--shop", "boutique", "-c", config)
    assert result.exit_code == 2
    assert "public_url" in result.output


def test_portal_link_send_queues_the_email_to_the_address_on_file(tmp_path: Path) -> None:
    config = portal_config(tmp_path)
    result = cli("link", BUYER, "--shop", "boutique", "--send", "-c", config)
    assert result.exit_code == 0, result.output
    with Store.open(f"sqlite:///{tmp_path / 'q.db'}") as store:
        customer = store.customer("boutique", BUYER)
        jobs = [job for job in store.list_jobs(("pending",)) if job.kind == "portal_link"]
    assert customer is not None
    assert [job.payload["customer_id"] for job in jobs] == [customer.id]


def test_portal_revoke_stops_the_link_printed_before(tmp_path: Path) -> None:
    config = portal_config(tmp_path)
    url = cli("link", BUYER, "--shop", "boutique", "-c", config).stdout.strip()
    result = cli("revoke", BUYER, "--shop", "boutique", "-c", config)
    assert result.exit_code == 0, result.output
    assert open_page(config, url) == 410


def test_portal_revoke_of_an_unknown_address_exits_2(tmp_path: Path) -> None:
    config = portal_config(tmp_path)
    assert cli("revoke", "nobody@example.fr", "--shop", "boutique", "-c", config).exit_code == 2
