"""The fiscal rules in the running pipeline: what is refused is quarantined with its reason and
its number is not taken; what is issued but needs the owner tells them. Real SQLite, the real
job queue; alerts are read back from the store's event log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import pipeline
from bridge.invoicing import cases
from bridge.model import Address, LineKind, Order, Party
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.worker import work
from connectors.base import UnreadableOrder
from tests.support.config import settings_for

LYON = Address(line1="2 place Bellecour", postcode="69002", city="Lyon")
BUREAU = Party(first_name="Paul", last_name="Dubois", company="Bureau Dubois SARL", billing=LYON)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    services = Services.from_settings(settings_for(tmp_path))
    try:
        yield services
    finally:
        services.close()


def order(order_id: str, lines, customer: Party | None = None) -> Order:
    customer = customer or Party(first_name="Léa", last_name="Moreau", billing=LYON)
    return cases._order(order_id, customer, lines)


def alerts(svc: Services) -> list[str]:
    return [e.detail["key"] for e in svc.store.events(kind="alert")]


def test_a_company_without_siren_is_invoiced_and_the_owner_asked_to_collect_it(svc) -> None:
    submit_order(svc, order("3001", [cases._line("Ramette", "6.00", "20")], BUREAU))
    work(svc, once=True)
    assert [i.order_id for i in svc.store.iter_invoices()] == ["3001"]
    assert "collect-siren:demo:3001" in alerts(svc)


def test_shipping_taxed_unlike_its_goods_is_invoiced_and_told_to_the_owner(svc) -> None:
    tea = cases._line("Thé vert", "30.00", "5.5", prices_include_tax=False)
    ship = cases._line("Colissimo", "10.00", "20", kind=LineKind.shipping, prices_include_tax=False)
    submit_order(svc, order("3002", [tea, ship]))
    work(svc, once=True)
    assert [i.order_id for i in svc.store.iter_invoices()] == ["3002"]
    assert "shipping-vat:demo" in alerts(svc)


def test_a_refused_order_is_quarantined_and_takes_no_number(svc) -> None:
    submit_order(svc, order("3003", [cases._line("Cours", "40.00", "0")]))
    submit_order(svc, order("3004", [cases._line("Thé vert", "12.00", "5.5")]))
    work(svc, once=True)
    [held] = svc.store.list_quarantined()
    assert held.order_id == "3003" and "zero_rate_reason" in (held.reason or "")
    assert [(i.order_id, i.sequence) for i in svc.store.iter_invoices()] == [("3004", 1)]


def test_an_error_no_rule_foresaw_quarantines_the_order_instead_of_killing_the_job(
    svc, monkeypatch
) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(pipeline, "build_invoice", broken)  # a defect of ours, injected
    submit_order(svc, order("3005", [cases._line("Thé vert", "12.00", "5.5")]))
    work(svc, once=True)
    [held] = svc.store.list_quarantined()
    assert "ZeroDivisionError" in (held.reason or "")
    assert svc.store.list_jobs(states=("dead",)) == []


def test_an_issued_order_listed_again_unreadable_stays_issued(svc) -> None:
    submit_order(svc, order("3006", [cases._line("Thé vert", "12.00", "5.5")]))
    work(svc, once=True)
    later_edit = UnreadableOrder("3006", "cannot read the order: country", {"id": 3006})
    assert svc.store.quarantine_unreadable("demo", [later_edit]) == []
    assert svc.store.list_quarantined() == []
    assert svc.store.get_order("demo", "3006").status == "issued"


def test_an_unreadable_order_listed_again_is_quarantined_once(svc) -> None:
    unreadable = UnreadableOrder("3007", "cannot read the order: country", {"id": 3007})
    assert svc.store.quarantine_unreadable("demo", [unreadable]) == ["3007"]
    assert svc.store.quarantine_unreadable("demo", [unreadable]) == []
    assert len(svc.store.events(kind="order.quarantined")) == 1


def test_shipping_vat_figures_are_kept_for_each_invoice(svc) -> None:
    for order_id in ("3008", "3009"):
        tea = cases._line("Thé vert", "30.00", "5.5", prices_include_tax=False)
        ship = cases._line(
            "Colissimo", "10.00", "20", kind=LineKind.shipping, prices_include_tax=False
        )
        submit_order(svc, order(order_id, [tea, ship]))
    work(svc, once=True)
    kept = {e.invoice_number for e in svc.store.events(kind="invoice.shipping_vat")}
    assert len(kept) == 2


def test_a_buyer_written_only_in_greek_letters_is_quarantined_before_a_number(svc) -> None:
    athens = Address(line1="Οδός Ερμού 10", postcode="10563", city="Αθήνα", country="GR")
    buyer = Party(first_name="Νίκος", last_name="Παπαδόπουλος", billing=athens)
    submit_order(svc, order("3010", [cases._line("Thé vert", "12.00", "20")], buyer))
    submit_order(svc, order("3011", [cases._line("Thé vert", "12.00", "20")]))
    work(svc, once=True)
    [held] = svc.store.list_quarantined()
    assert held.order_id == "3010" and "Latin letters" in (held.reason or "")
    assert [(i.order_id, i.sequence) for i in svc.store.iter_invoices()] == [("3011", 1)]


def test_a_polish_address_with_an_emoji_in_a_product_name_is_issued(svc) -> None:
    lodz = Address(line1="ul. Piotrkowska 1", postcode="90-001", city="Łódź", country="PL")
    buyer = Party(first_name="Łucja", last_name="Nowak", billing=lodz)
    submit_order(svc, order("3012", [cases._line("🎁 Coffret thé", "12.00", "20")], buyer))
    work(svc, once=True)
    [invoice] = svc.store.iter_invoices()
    assert invoice.order_id == "3012" and invoice.pdf_sha256  # rendered, checked, archived
