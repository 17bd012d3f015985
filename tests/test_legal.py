"""The legal rules, from the law's point of view: each test is a sentence a tax inspector would say.

Invoices come from the real `build_invoice` (bridge/invoicing/cases.py); a rule is shown to bite
by removing or breaking exactly one thing in an issued snapshot.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from bridge.invoicing import cases
from bridge.invoicing.build import (
    NO_FACTS,
    IssueFacts,
    Numbering,
    OrderNotInvoiceable,
    build_invoice,
)
from bridge.invoicing.legal import RULES, check_invoice, check_invoice_text
from bridge.invoicing.mentions import LegalTerms, valid_eu_vat_number
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot, VatRegime
from bridge.model import Address, Nature, Party

D = Decimal
NUMBERING = Numbering(series="FA", number="FA-2026-000001", sequence=1)


@pytest.fixture(scope="module")
def issued() -> dict[str, InvoiceSnapshot]:
    return cases.all_cases()


def rules_failed(snapshot: InvoiceSnapshot) -> set[str]:
    return {m.rule for m in check_invoice(snapshot)}


def without_mention(snapshot: InvoiceSnapshot, needle: str) -> InvoiceSnapshot:
    kept = [x for x in snapshot.mentions if needle not in x]
    assert len(kept) < len(snapshot.mentions), f"{needle!r} was not printed to begin with"
    legal = {k: v for k, v in snapshot.legal.items() if needle not in v}
    return snapshot.model_copy(update={"mentions": kept, "legal": legal})


def update(snapshot: InvoiceSnapshot, part: str, **changes) -> InvoiceSnapshot:
    return snapshot.model_copy(update={part: getattr(snapshot, part).model_copy(update=changes)})


def issue(
    order, seller=None, terms: LegalTerms = cases.CASE_TERMS, facts: IssueFacts = NO_FACTS
) -> InvoiceSnapshot:
    seller = seller or cases.company_seller()
    return build_invoice(order, seller, NUMBERING, issued_at=cases.ISSUED, terms=terms, facts=facts)


VIES_CONFIRMED = cases.case_facts("intra_eu")  # VIES's answer for the intra_eu buyer


# --------------------------------------------------------------------------- complete invoices


@pytest.mark.parametrize("name", list(cases.CASE_BUILDERS))
def test_every_case_we_issue_is_legally_complete(issued, name: str) -> None:
    assert check_invoice(issued[name]) == []
    assert "complete" in check_invoice_text(issued[name])


def test_rules_have_names_and_one_function_each() -> None:
    assert len(RULES) >= 15
    for name, rule in RULES.items():
        assert rule.__name__ == name and rule.__doc__


# --------------------------------------------------------------------------- seller


def test_a_company_invoice_without_share_capital_fails(issued) -> None:
    snap = update(issued["b2c"], "seller", share_capital="")
    assert "seller_legal_form" in rules_failed(snap)


def test_a_sole_trader_prints_ei_and_needs_no_capital_nor_rcs(issued) -> None:
    snap = issued["franchise"]
    assert snap.seller.legal_form == "EI"  # configured as "micro-entreprise"
    assert snap.seller.share_capital == "" and snap.seller.rcs_city == ""
    assert check_invoice(snap) == []


def test_a_company_without_rcs_city_fails(issued) -> None:
    assert "seller_registration" in rules_failed(update(issued["b2c"], "seller", rcs_city=""))


def test_a_missing_or_invalid_siren_fails(issued) -> None:
    assert "seller_registration" in rules_failed(update(issued["b2c"], "seller", siren=""))
    assert "seller_registration" in rules_failed(update(issued["b2c"], "seller", siren="123456789"))


def test_a_vat_registered_seller_without_vat_number_fails_but_franchise_may(issued) -> None:
    assert "seller_vat_number" in rules_failed(update(issued["b2c"], "seller", vat_number=""))
    assert check_invoice(update(issued["franchise"], "seller", vat_number="")) == []


def test_a_seller_without_legal_name_or_address_fails(issued) -> None:
    assert "seller_identity" in rules_failed(update(issued["b2c"], "seller", address_lines=[]))
    assert "seller_identity" in rules_failed(update(issued["b2c"], "seller", legal_name=" "))


def test_the_share_capital_prints_as_on_the_kbis(issued) -> None:
    assert issued["b2c"].seller.share_capital == "10 000 €"


# --------------------------------------------------------------------------- buyer


def test_an_invoice_without_the_buyer_billing_address_fails(issued) -> None:
    assert "buyer_identity" in rules_failed(update(issued["b2c"], "buyer", billing_lines=[]))


def test_an_order_without_billing_address_is_refused_at_issue_with_the_reason() -> None:
    order = cases.b2c_order().model_copy(
        update={"customer": Party(first_name="Marie", last_name="Dupont")}
    )
    with pytest.raises(OrderNotInvoiceable) as err:
        issue(order)
    assert [m.rule for m in err.value.missing_mentions] == ["buyer_identity"]
    assert "mention buyer_identity: the buyer's billing address is missing" in str(err.value)


def test_an_anonymous_buyer_is_refused() -> None:
    order = cases.b2c_order().model_copy(
        update={"customer": Party(billing=Address(line1="1 rue A", city="Lyon"))}
    )
    with pytest.raises(OrderNotInvoiceable, match="buyer's name is missing"):
        issue(order)


def test_the_delivery_address_is_printed_only_when_it_differs(issued) -> None:
    assert issued["b2c"].buyer.shipping_lines  # gift to Grenoble
    assert issued["b2b"].buyer.shipping_lines == []
    same = update(
        issued["b2c"],
        "buyer",
        shipping_lines=issued["b2c"].buyer.billing_lines,
        shipping_country=issued["b2c"].buyer.billing_country,
    )
    assert "buyer_identity" in rules_failed(same)


def test_a_b2b_invoice_carries_the_buyer_siren_and_vat_number(issued) -> None:
    buyer = issued["b2b"].buyer
    assert buyer.is_business and buyer.siren == "552100554" and buyer.vat_number
    no_ids = update(issued["b2b"], "buyer", siren="", vat_number="", company="")
    assert "buyer_business_ids" in rules_failed(no_ids)


# --------------------------------------------------------------------------- document


@pytest.mark.parametrize("number", ["", "FA 2026 1", "FA-2026-" + "9" * 30, "FA#1"])
def test_the_number_must_be_a_legal_identifier(issued, number: str) -> None:
    snap = issued["b2c"].model_copy(update={"number": number})
    assert "document_identity" in rules_failed(snap)


def test_the_sale_date_cannot_follow_the_issue_date(issued) -> None:
    snap = update(issued["b2c"], "payment", paid_on=date(2026, 11, 29))
    assert "sale_date" in rules_failed(snap)


def test_the_nature_of_the_operation_is_stated(issued) -> None:
    assert issued["b2c"].nature == "both"  # a tasting workshop with the goods
    assert issued["intra_eu"].nature == "goods"
    assert "operation_nature" in rules_failed(issued["b2c"].model_copy(update={"nature": ""}))


def test_each_line_has_description_quantity_unit_price_and_rate(issued) -> None:
    snap = issued["b2c"]
    first = snap.lines[0]
    assert first.description == "Tisane verveine bio — Format : 100 g"
    assert first.sku == "TIS-VER-100"
    bad = snap.model_copy(update={"lines": [first.model_copy(update={"description": ""})]})
    assert "line_details" in rules_failed(bad)
    off = first.model_copy(update={"unit_price_excl": first.unit_price_excl + 1})
    assert "line_details" in rules_failed(snap.model_copy(update={"lines": [off, *snap.lines[1:]]}))


def test_vat_is_broken_down_per_rate(issued) -> None:
    snap = issued["b2c"]
    assert {b.rate for b in snap.vat_breakdown} == {D("20"), D("10"), D("5.5"), D("2.1")}
    dropped = snap.model_copy(update={"vat_breakdown": snap.vat_breakdown[1:]})
    assert "vat_per_rate" in rules_failed(dropped)


def test_totals_must_add_up(issued) -> None:
    snap = update(issued["b2c"], "totals", total_vat=issued["b2c"].totals.total_vat + D("0.01"))
    assert {"totals", "vat_per_rate"} <= rules_failed(snap)


# --------------------------------------------------------------------------- VAT regimes


def test_a_franchise_invoice_shows_no_vat_amount_and_carries_293_b(issued) -> None:
    snap = issued["franchise"]
    assert "TVA non applicable, art. 293 B du CGI" in snap.mentions
    assert snap.totals.total_vat == 0 and all(ln.vat_amount == 0 for ln in snap.lines)
    assert "vat_regime" in rules_failed(without_mention(snap, "293 B"))


def test_a_franchise_invoice_with_vat_fails(issued) -> None:
    snap = update(issued["franchise"], "totals", total_vat=D("1.00"))
    assert "vat_regime" in rules_failed(snap)


def test_a_franchise_seller_cannot_issue_an_order_charging_vat() -> None:
    with pytest.raises(OrderNotInvoiceable, match="293 B"):
        issue(cases.b2c_order(), cases.sole_trader_seller())


def test_the_option_on_debits_is_stated_when_chosen(issued) -> None:
    snap = issued["b2b"]
    assert snap.seller.vat_regime is VatRegime.debits
    assert "Option pour le paiement de la taxe d'après les débits" in snap.mentions
    assert "vat_regime" in rules_failed(without_mention(snap, "débits"))


def test_intra_eu_b2b_without_vat_carries_autoliquidation_and_262_ter_i(issued) -> None:
    snap = issued["intra_eu"]
    assert snap.totals.total_vat == 0
    assert snap.legal["vat_reverse_charge"] == "Reverse charge (Autoliquidation)"
    assert "262 ter I" in snap.legal["vat_intra_eu_exemption"]
    assert "vat_exemption" in rules_failed(without_mention(snap, "Autoliquidation"))
    assert "vat_exemption" in rules_failed(without_mention(snap, "262 ter I"))


def test_intra_eu_b2b_in_french_uses_the_french_wording() -> None:
    order = cases.intra_eu_order().model_copy(update={"locale": "fr_FR"})
    snap = issue(order, facts=VIES_CONFIRMED)
    assert "Autoliquidation" in snap.mentions
    assert "Exonération de TVA, art. 262 ter I du CGI" in snap.mentions


def test_intra_eu_services_are_reverse_charged_without_the_goods_exemption() -> None:
    order = cases.intra_eu_order()
    services = [ln.model_copy(update={"nature": Nature.services}) for ln in order.lines[:1]]
    total = services[0].total
    services_order = order.model_copy(update={"lines": services, "total": total, "total_tax": 0})
    snap = issue(services_order, facts=VIES_CONFIRMED)
    assert "vat_reverse_charge" in snap.legal and "vat_intra_eu_exemption" not in snap.legal


def test_no_vat_to_an_eu_buyer_without_a_valid_vat_number_is_refused() -> None:
    bad = cases.intra_eu_order()
    bad = bad.model_copy(
        update={"customer": bad.customer.model_copy(update={"vat_number": "DE136695977"})}
    )
    with pytest.raises(OrderNotInvoiceable) as err:
        issue(bad)
    assert [m.rule for m in err.value.missing_mentions] == ["vat_exemption"]
    assert "VAT is due" in str(err.value)


def test_eu_vat_numbers_are_checked_offline() -> None:
    assert valid_eu_vat_number("DE136695976")
    assert not valid_eu_vat_number("DE136695977")
    assert not valid_eu_vat_number("FR44732829320")  # a French buyer is not intra-EU
    assert not valid_eu_vat_number("")


def test_an_export_without_vat_carries_art_262_i(issued) -> None:
    snap = issued["export"]
    assert "Exonération de TVA, art. 262 I du CGI" in snap.mentions
    assert "vat_exemption" in rules_failed(without_mention(snap, "262 I"))


def test_zero_rated_domestic_lines_without_a_reason_are_refused() -> None:
    order = cases.franchise_order()  # all lines at 0 %, buyer in France, seller liable to VAT
    with pytest.raises(OrderNotInvoiceable) as err:
        issue(order)
    assert [m.rule for m in err.value.missing_mentions] == ["zero_rate_reason"]


# --------------------------------------------------------------------------- B2B terms


def test_a_b2b_invoice_without_the_40_euro_indemnity_fails(issued) -> None:
    snap = without_mention(issued["b2b"], "40 €")
    assert "b2b_payment_terms" in rules_failed(snap)


def test_a_b2b_invoice_without_late_penalties_or_escompte_terms_fails(issued) -> None:
    assert "b2b_payment_terms" in rules_failed(without_mention(issued["b2b"], "Pénalités"))
    assert "b2b_payment_terms" in rules_failed(without_mention(issued["b2b"], "escompte"))


def test_a_b2c_invoice_needs_no_b2b_terms(issued) -> None:
    assert not any("40 €" in x for x in issued["b2c"].mentions)
    assert check_invoice(issued["b2c"]) == []


def test_the_sellers_own_terms_are_printed_and_the_40_euros_is_not_negotiable() -> None:
    terms = LegalTerms(
        late_payment_penalties="Pénalités : taux BCE + 10 points",
        early_payment_discount="Escompte de 2 % pour paiement sous 8 jours",
    )
    snap = issue(cases.b2b_order(), terms=terms)
    assert "Pénalités : taux BCE + 10 points" in snap.mentions
    assert "Escompte de 2 % pour paiement sous 8 jours" in snap.mentions
    assert "Indemnité forfaitaire pour frais de recouvrement : 40 €" in snap.mentions
    tampered = snap.model_copy(
        update={
            "legal": {**snap.legal, "recovery_indemnity": "Indemnité : 10 €"},
            "mentions": [*snap.mentions, "Indemnité : 10 €"],
        }
    )
    assert "b2b_payment_terms" in rules_failed(tampered)


def test_standard_terms_when_none_are_configured() -> None:
    snap = issue(cases.b2b_order(), terms=LegalTerms())
    assert "Pénalités de retard : trois fois le taux d'intérêt légal" in snap.mentions
    assert "Pas d'escompte pour paiement anticipé" in snap.mentions
    assert not any("Garantie" in x for x in snap.mentions)


def test_a_french_only_term_is_printed_as_is_on_an_english_invoice() -> None:
    terms = LegalTerms(early_payment_discount="Escompte : néant")
    snap = issue(cases.intra_eu_order(), terms=terms, facts=VIES_CONFIRMED)
    assert snap.locale == "en" and "Escompte : néant" in snap.mentions


def test_the_legal_guarantee_is_printed_for_goods_only(issued) -> None:
    assert any("Garantie légale de conformité" in x for x in issued["b2c"].mentions)
    services = cases.b2b_order()
    services = services.model_copy(update={"lines": services.lines[1:2]})
    services = services.model_copy(update={"total": D("300.00"), "total_tax": D("50.00")})
    snap = issue(services)
    assert snap.nature == "services" and "legal_guarantee" not in snap.legal


# --------------------------------------------------------------------------- receipt


def test_the_receipt_says_paid_in_full(issued) -> None:
    t = issued["b2c"].totals
    assert t.amount_paid == t.total_incl and t.amount_due == 0
    assert issued["b2c"].payment.method_label == "carte bancaire"
    assert "receipt" in rules_failed(update(issued["b2c"], "totals", amount_due=D("1.00")))
    assert "receipt" in rules_failed(update(issued["b2c"], "totals", amount_paid=D("1.00")))
    assert "receipt" in rules_failed(update(issued["b2c"], "payment", method_label=""))


def test_a_refund_made_before_issue_is_shown_and_the_invoice_stays_the_sale(issued) -> None:
    snap = issued["refunded"]
    assert snap.totals.refunded == D("6.50")
    assert snap.totals.amount_paid == snap.totals.total_incl == issued["b2c"].totals.total_incl
    assert snap.totals.amount_due == 0
    assert "receipt" in rules_failed(update(snap, "totals", refunded=D("1000")))


def test_a_credit_note_must_name_the_invoice(issued) -> None:
    note = issued["b2c"].model_copy(
        update={"kind": DocumentKind.credit_note, "credited_number": ""}
    )
    assert "credit_note_reference" in rules_failed(note)
    ok = note.model_copy(
        update={"credited_number": "FA-2026-000001", "credited_issue_date": note.issue_date}
    )
    assert "credit_note_reference" not in rules_failed(ok)


def test_a_credit_note_must_date_the_invoice(issued) -> None:
    note = issued["b2c"].model_copy(
        update={"kind": DocumentKind.credit_note, "credited_number": "FA-2026-000001"}
    )
    assert "credit_note_reference" in rules_failed(note)


# --------------------------------------------------------------------------- check-invoice


def test_check_invoice_text_lists_each_missing_mention_and_the_fine(issued) -> None:
    snap = without_mention(without_mention(issued["b2b"], "40 €"), "escompte")
    report = check_invoice_text(snap)
    assert report.startswith("FA-2026-000102 (2026-11-28, Jean Martin): 2 missing mention(s)")
    assert "up to 30 € in fines" in report
    assert "- b2b_payment_terms: B2B invoice without 'Indemnité forfaitaire" in report


def test_older_snapshots_without_the_legal_map_are_checked_on_the_printed_text(issued) -> None:
    snap = issued["b2b"].model_copy(update={"legal": {}})
    assert check_invoice(snap) == []
    assert "b2b_payment_terms" in rules_failed(without_mention(snap, "40 €"))


def test_the_legal_map_does_not_change_the_hash_of_older_snapshots(issued) -> None:
    old = issued["b2c"].model_copy(update={"legal": {}})
    assert '"legal"' not in old.canonical_json()
    assert '"legal"' in issued["b2c"].canonical_json()
    again = InvoiceSnapshot.from_json(issued["b2b"].canonical_json())
    assert again == issued["b2b"]


def test_issue_date_is_local_and_sale_date_differs(issued) -> None:
    snap = issued["b2c"]
    assert snap.issue_date == date(2026, 11, 28) and snap.payment.paid_on == date(2026, 11, 27)
    assert snap.issued_at == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
