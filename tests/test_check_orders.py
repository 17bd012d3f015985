"""`quittance check-orders`: what an existing shop's recent orders would become, issuing
nothing — through the WooCommerce sandbox over HTTP and the real CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import structlog
from typer.testing import CliRunner

from bridge.cli import app
from connectors.woocommerce.sandbox_orders import Item, make_order
from tests.support.bridges import SHOP, Bridge, woo_bridge
from tests.support.cli import widen_consoles

LYON = {
    "first_name": "Léa", "last_name": "Moreau", "address_1": "2 place Bellecour",
    "postcode": "69002", "city": "Lyon", "country": "FR", "email": "lea@example.fr",
}  # fmt: skip


def add(b: Bridge, number: int, items: list[Item], **billing: str) -> None:
    raw = make_order(number, items=items, billing={**LYON, **billing})
    b.wc.add_order(raw, notify=False)


def check_orders(b: Bridge, monkeypatch) -> tuple[int, str]:
    widen_consoles(monkeypatch)
    since = (b.wc.now() - timedelta(days=1)).date().isoformat()
    args = ["check-orders", "--shop", SHOP, "--since", since, "-c", str(b.config_path)]
    result = CliRunner().invoke(app, args)
    structlog.reset_defaults()
    return result.exit_code, result.output


def test_check_orders_tells_each_order_s_fate_and_issues_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    with woo_bridge(tmp_path, seed=False) as b:
        add(b, 4001, [Item("Thé vert", "12.50", 2)])
        add(b, 4002, [Item("Cours de thé", "40.00", 1, rate_id=None)])
        add(b, 4003, [Item("Ramette", "6.00", 1)], company="Bureau Dubois SARL")
        code, output = check_orders(b, monkeypatch)
        stored = [b.svc.store.get_order(SHOP, n) for n in ("4001", "4002", "4003")]
        invoices = b.invoices()
    rows = {line.split("│")[1].strip(): line for line in output.splitlines() if "│ #" in line}
    assert "would issue " in rows["#4001"]
    assert "would quarantine" in rows["#4002"] and "zero_rate_reason" in output
    assert "would issue, tells you" in rows["#4003"] and "SIREN" in output
    assert code == 1 and stored == [None, None, None] and invoices == []


def test_check_orders_exits_0_when_nothing_would_be_quarantined(
    tmp_path: Path, monkeypatch
) -> None:
    with woo_bridge(tmp_path, seed=False) as b:
        add(b, 4001, [Item("Thé vert", "12.50", 2)])
        code, output = check_orders(b, monkeypatch)
    assert code == 0 and "1 would issue" in output
