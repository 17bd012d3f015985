"""EU distance sales: whose VAT a consumer in another member state pays, decided per order from
the seller's declared situation ([seller] eu_distance_sales), checked against that country's
rates, and printed on the invoice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.config import load_settings
from bridge.config.problems import ConfigError
from bridge.invoicing import cases
from bridge.invoicing.build import Numbering, OrderNotInvoiceable, build_invoice
from bridge.invoicing.legal import check_invoice
from bridge.model import Address, Nature, Order, Party
from bridge.render import render_pdf
from tests.support.config import write_config
from tests.support.documents import pdf_text

D = Decimal
NUMBERING = Numbering(series="FA", number="FA-2026-000001", sequence=1)
DUBLIN = Party(
    first_name="Aoife", last_name="Byrne",
    billing=Address(line1="1 Grafton Street", postcode="D02 XY45", city="Dublin", country="IE"),
)  # fmt: skip


def seller(situation: str = "french_vat"):
    return cases.company_seller().model_copy(update={"eu_distance_sales": situation})


def order(*lines) -> Order:
    return cases._order("5001", DUBLIN, list(lines))


def issue(o: Order, situation: str = "french_vat"):
    return build_invoice(
        o, seller(situation), NUMBERING, issued_at=cases.ISSUED, terms=cases.CASE_TERMS
    )


def refusal(o: Order, situation: str) -> str:
    with pytest.raises(OrderNotInvoiceable) as err:
        issue(o, situation)
    return str(err.value)


def test_under_the_threshold_an_irish_consumer_pays_french_vat() -> None:
    snap = issue(order(cases._line("Théière", "48.00", "20")))
    assert snap.taxing_country == "FR" and "vat_oss" not in snap.legal


def test_under_the_threshold_the_irish_rate_is_refused() -> None:
    assert "23 % is not a VAT rate of FR" in refusal(
        order(cases._line("Théière", "48.00", "23")), "french_vat"
    )


def test_under_oss_an_irish_consumer_pays_irish_vat_and_the_invoice_says_so() -> None:
    snap = issue(order(cases._line("Théière", "48.00", "23")), "oss")
    assert snap.taxing_country == "IE" and check_invoice(snap) == []
    assert "TVA du pays de livraison (Irlande)" in snap.legal["vat_oss"]


def test_under_oss_the_french_rate_on_goods_to_dublin_is_refused() -> None:
    assert "20 % is not a VAT rate of IE" in refusal(
        order(cases._line("Théière", "48.00", "20")), "oss"
    )


def test_under_oss_a_service_beside_the_goods_keeps_french_vat() -> None:
    lesson = cases._line("Atelier en ligne", "30.00", "20", nature=Nature.services)
    snap = issue(order(cases._line("Théière", "48.00", "23"), lesson), "oss")
    assert check_invoice(snap) == []


def test_the_oss_mention_is_printed_on_the_pdf() -> None:
    snap = issue(order(cases._line("Théière", "48.00", "23")), "oss")
    assert "TVA du pays de livraison (Irlande)" in pdf_text(render_pdf(snap))


def test_check_invoice_flags_a_french_rate_on_an_oss_invoice() -> None:
    snap = issue(order(cases._line("Théière", "48.00", "23")), "oss")
    line = snap.lines[0].model_copy(update={"vat_rate": D(20)})
    bucket = snap.vat_breakdown[0].model_copy(update={"rate": D(20)})
    tampered = snap.model_copy(update={"lines": [line], "vat_breakdown": [bucket]})
    assert [m.rule for m in check_invoice(tampered)] == ["vat_rate"]


def test_an_unknown_distance_sales_situation_is_a_config_error_naming_the_key(tmp_path) -> None:
    path = write_config(tmp_path / "q.toml", seller={"eu_distance_sales": "threshold"})
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "eu_distance_sales" in str(err.value)


def test_under_oss_a_services_only_order_stays_french_and_names_no_country() -> None:
    lesson = cases._line("Atelier en ligne", "30.00", "20", nature=Nature.services)
    snap = issue(order(lesson), "oss")
    assert snap.taxing_country == "FR" and "vat_oss" not in snap.legal


def test_under_oss_a_made_up_vat_number_does_not_make_a_consumer_a_business() -> None:
    typed = DUBLIN.model_copy(update={"vat_number": "N/A"})
    o = cases._order("5002", typed, [cases._line("Théière", "48.00", "23")])
    assert issue(o, "oss").taxing_country == "IE"


def test_a_franchise_seller_cannot_declare_oss(tmp_path) -> None:
    path = write_config(
        tmp_path / "q.toml",
        seller={"eu_distance_sales": "oss", "vat_regime": "franchise", "vat_number": ""},
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "eu_distance_sales" in str(err.value) and "franchise" in str(err.value)
