"""What is fiscally wrong is refused before a number is taken, or told to the owner: a reason
for every 0 % line, the B2B policy for a company without an identifier, shipping VAT that does
not follow the goods, amounts no shop can send. Invoices come from the real `build_invoice`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.config.seller import french_vat_for
from bridge.invoicing import cases
from bridge.invoicing.build import IssueFacts, Numbering, OrderNotInvoiceable, build_invoice
from bridge.invoicing.buyer import CompanyPolicy, buyer_siren
from bridge.invoicing.legal import REMEDIES, RULES, check_invoice
from bridge.invoicing.mentions import LegalTerms
from bridge.invoicing.shipping_vat import shipping_vat_notes
from bridge.model import Address, Line, LineKind, Nature, Order, Party, TaxLine

D = Decimal
NUMBERING = Numbering(series="FA", number="FA-2026-000001", sequence=1)
EXEMPTION = "Exonération de TVA, art. 261-4-4° a du CGI"
LYON = Address(line1="2 place Bellecour", postcode="69002", city="Lyon")


def issue(order: Order, *, terms: LegalTerms = cases.CASE_TERMS, **kwargs):
    return build_invoice(
        order, cases.company_seller(), NUMBERING, issued_at=cases.ISSUED, terms=terms, **kwargs
    )


def refused_rules(order: Order, **kwargs) -> list[str]:
    with pytest.raises(OrderNotInvoiceable) as err:
        issue(order, **kwargs)
    return [problem.field for problem in err.value.problems]


def order_of(lines, customer: Party | None = None) -> Order:
    customer = customer or Party(first_name="Léa", last_name="Moreau", billing=LYON)
    return cases._order("2001", customer, lines)


# --------------------------------------------------------------------------- 0 % lines


def test_a_french_sale_at_zero_percent_without_a_reason_is_refused() -> None:
    order = order_of([cases._line("Cours de cuisine", "40.00", "0", nature=Nature.services)])
    assert refused_rules(order) == ["mention zero_rate_reason"]


def test_a_zero_percent_line_in_a_taxed_french_order_is_refused_without_a_reason() -> None:
    order = order_of(
        [cases._line("Théière", "48.00", "20"), cases._line("Carte cadeau", "20.00", "0")]
    )
    assert refused_rules(order) == ["mention zero_rate_reason"]


def test_a_french_sale_at_zero_percent_prints_the_configured_exemption() -> None:
    order = order_of([cases._line("Cours de cuisine", "40.00", "0", nature=Nature.services)])
    snap = issue(order, terms=LegalTerms(vat_exemption=EXEMPTION))
    assert EXEMPTION in snap.mentions and check_invoice(snap) == []


def test_a_free_line_at_zero_percent_needs_no_reason() -> None:
    order = order_of([cases._line("Théière", "48.00", "20"), cases._line("Échantillon", "0", "0")])
    assert check_invoice(issue(order)) == []


def test_b2c_services_outside_the_eu_at_zero_percent_need_a_reason() -> None:
    swiss = Party(
        first_name="Luca", last_name="Meier",
        billing=Address(line1="Bahnhofstrasse 1", postcode="8001", city="Zürich", country="CH"),
    )  # fmt: skip
    lesson = cases._line("Atelier en ligne", "30.00", "0", nature=Nature.services)
    assert refused_rules(order_of([lesson], swiss)) == ["mention zero_rate_reason"]


def test_an_export_of_goods_at_zero_percent_is_explained_by_its_export_mention() -> None:
    snap = issue(cases.export_order())
    assert "vat_export_exemption" in snap.legal and check_invoice(snap) == []


def test_check_invoice_flags_a_french_zero_percent_invoice_without_a_reason() -> None:
    snap = issue(
        order_of([cases._line("Cours", "40.00", "0")]), terms=LegalTerms(vat_exemption=EXEMPTION)
    )
    without = snap.model_copy(update={"mentions": [], "legal": {}})
    assert [m.rule for m in check_invoice(without)] == ["zero_rate_reason"]


# --------------------------------------------------------------------------- B2B policy

BUREAU = Party(first_name="Paul", last_name="Dubois", company="Bureau Dubois SARL", billing=LYON)


def test_a_company_without_identifier_is_invoiced_b2b_by_default() -> None:
    snap = issue(order_of([cases._line("Ramette", "6.00", "20")], BUREAU))
    assert snap.buyer.is_business and "recovery_indemnity" in snap.legal
    assert check_invoice(snap) == []


def test_a_company_without_identifier_is_held_under_the_quarantine_policy() -> None:
    order = order_of([cases._line("Ramette", "6.00", "20")], BUREAU)
    assert refused_rules(order, company_policy=CompanyPolicy.quarantine) == ["customer.company"]


def test_a_company_without_identifier_is_a_consumer_under_the_b2c_policy() -> None:
    snap = issue(order_of([cases._line("Ramette", "6.00", "20")], BUREAU), company_policy="b2c")
    assert not snap.buyer.is_business and "recovery_indemnity" not in snap.legal


def test_a_consumer_without_company_stays_a_consumer() -> None:
    snap = issue(order_of([cases._line("Ramette", "6.00", "20")]))
    assert not snap.buyer.is_business


def test_the_siren_is_derived_from_a_french_vat_number_and_printed() -> None:
    buyer = BUREAU.model_copy(update={"vat_number": "FR40303265045"})
    snap = issue(order_of([cases._line("Ramette", "6.00", "20")], buyer))
    assert snap.buyer.siren == "303265045"


def test_no_siren_is_derived_from_an_invalid_french_vat_number() -> None:
    assert buyer_siren(BUREAU.model_copy(update={"vat_number": "FR00303265045"})) == ""


def test_a_siren_given_with_spaces_is_kept_compact() -> None:
    assert buyer_siren(BUREAU.model_copy(update={"siren": "303 265 045"})) == "303265045"


# --------------------------------------------------------------------------- shipping VAT


def shipping(rate: str, excl: str = "10.00", taxes: list[TaxLine] | None = None):
    line = cases._line("Colissimo", excl, rate, kind=LineKind.shipping, prices_include_tax=False)
    return line if taxes is None else line.model_copy(update={"taxes": taxes})


def test_shipping_at_the_goods_rate_says_nothing() -> None:
    tea = cases._line("Thé vert", "30.00", "5.5", prices_include_tax=False)
    assert shipping_vat_notes(order_of([tea, shipping("5.5")])) == []


def test_shipping_at_20_percent_on_a_5_5_percent_basket_is_told_with_the_figures() -> None:
    tea = cases._line("Thé vert", "30.00", "5.5", prices_include_tax=False)
    [note] = shipping_vat_notes(order_of([tea, shipping("20")]))
    assert "2.00 EUR of VAT at 20 %" in note and "0.55 EUR at the goods' 5.5 %" in note


def test_shipping_split_pro_rata_over_the_goods_rates_says_nothing() -> None:
    tea = cases._line("Thé vert", "30.00", "5.5", prices_include_tax=False)
    pot = cases._line("Théière", "10.00", "20", prices_include_tax=False)
    split = [TaxLine(rate=D("5.5"), amount=D("0.41")), TaxLine(rate=D("20"), amount=D("0.50"))]
    assert shipping_vat_notes(order_of([tea, pot, shipping("0", taxes=split)])) == []


def test_shipping_at_the_highest_rate_of_a_mixed_basket_says_nothing() -> None:
    tea = cases._line("Thé vert", "30.00", "5.5", prices_include_tax=False)
    pot = cases._line("Théière", "10.00", "20", prices_include_tax=False)
    assert shipping_vat_notes(order_of([tea, pot, shipping("20")])) == []


def test_shipping_taxed_unlike_its_goods_is_still_invoiced_as_charged() -> None:
    tea = cases._line("Thé vert", "30.00", "5.5", prices_include_tax=False)
    snap = issue(order_of([tea, shipping("20")]))
    assert snap.lines[-1].vat_rate == D("20") and snap.lines[-1].vat_amount == D("2.00")


# --------------------------------------------------------------------------- magnitudes


def test_a_31_digit_price_is_refused_naming_the_field() -> None:
    huge = Line(name="Thé", subtotal=D("1" * 31), taxes=[TaxLine(rate=D(20), amount=D("0"))])
    good = order_of([cases._line("Thé vert", "3.00", "20")])
    fields = refused_rules(good.model_copy(update={"lines": [*good.lines, huge]}))
    assert "lines[1] ('Thé') subtotal" in fields


def test_a_quantity_of_1e999999_is_refused_before_any_arithmetic() -> None:
    line = cases._line("Thé", "3.00", "20").model_copy(update={"quantity": D("1e999999")})
    assert refused_rules(order_of([line])) == ["lines[0] ('Thé') quantity"]


def test_a_price_with_more_decimals_than_a_shop_keeps_is_refused() -> None:
    line = cases._line("Thé", "3.00", "20").model_copy(update={"subtotal": D("2.5000000001")})
    assert "lines[0] ('Thé') subtotal" in refused_rules(order_of([line]))


def test_trailing_zeros_are_not_decimals_that_count() -> None:
    line = cases._line("Thé", "3.00", "20", prices_include_tax=False)
    padded = line.model_copy(update={"subtotal": D("3.000000000000")})
    assert issue(order_of([padded])).lines[0].total_excl == D("3.00")


# --------------------------------------------------------------------------- remedies


def test_every_legal_rule_names_its_remedy() -> None:
    assert set(REMEDIES) == set(RULES)


def test_a_refusal_says_what_to_change_and_where() -> None:
    order = order_of([cases._line("Cours de cuisine", "40.00", "0")])
    with pytest.raises(OrderNotInvoiceable) as err:
        issue(order)
    assert "[legal] vat_exemption" in str(err.value)


# --------------------------------------------------------------------------- rates on the document


def with_rate(snap, rate: str):
    """The issued document, its single line and breakdown restated at `rate` (tampered)."""
    line = snap.lines[0].model_copy(update={"vat_rate": D(rate)})
    bucket = snap.vat_breakdown[0].model_copy(update={"rate": D(rate)})
    return snap.model_copy(update={"lines": [line], "vat_breakdown": [bucket]})


def test_check_invoice_flags_a_rate_that_does_not_exist_where_the_sale_is_taxed() -> None:
    snap = with_rate(issue(order_of([cases._line("Thé", "10.00", "20")])), "13")
    assert [m.rule for m in check_invoice(snap)] == ["vat_rate"]


def test_check_invoice_accepts_the_corsican_13_percent_delivered_in_ajaccio() -> None:
    ajaccio = Party(
        first_name="Léa", last_name="Moreau",
        billing=Address(line1="1 cours Napoléon", postcode="20000", city="Ajaccio"),
    )  # fmt: skip
    snap = with_rate(issue(order_of([cases._line("Thé", "10.00", "20")], ajaccio)), "13")
    assert "vat_rate" not in {m.rule for m in check_invoice(snap)}


def test_an_order_at_13_percent_delivered_to_lyon_is_refused_naming_the_territory() -> None:
    with pytest.raises(OrderNotInvoiceable) as err:
        issue(order_of([cases._line("Thé", "10.00", "13")]))
    assert "vat_rate: 13 % is not a VAT rate of FR" in str(err.value)


# --------------------------------------------------------------------------- 0 % shipping, exports


def test_untaxed_shipping_on_a_french_sale_is_issued_and_told_to_the_owner() -> None:
    tea = cases._line("Thé vert", "30.00", "20", prices_include_tax=False)
    free_tax_shipping = shipping("0", excl="4.90")
    order = order_of([tea, free_tax_shipping])
    assert check_invoice(issue(order)) == []
    assert shipping_vat_notes(order)


def test_exported_goods_with_taxed_shipping_keep_their_export_mention() -> None:
    swiss = Party(
        first_name="Luca", last_name="Meier",
        billing=Address(line1="Bahnhofstrasse 1", postcode="8001", city="Zürich", country="CH"),
    )  # fmt: skip
    tea = cases._line("Coffret", "35.00", "0", prices_include_tax=False)
    snap = issue(order_of([tea, shipping("20")], swiss))
    assert "vat_export_exemption" in snap.legal and check_invoice(snap) == []


# --------------------------------------------------------------------------- overseas, Monaco


REUNION = Address(line1="3 rue de Paris", postcode="97400", city="Saint-Denis")
MONACO = Address(line1="2 bd des Moulins", postcode="98000", city="Monaco", country="MC")


def test_goods_to_reunion_at_zero_percent_are_an_export_with_its_mention() -> None:
    buyer = Party(first_name="Léa", last_name="Payet", billing=REUNION)
    snap = issue(order_of([cases._line("Théière", "40.00", "0")], buyer))
    assert "vat_export_exemption" in snap.legal and check_invoice(snap) == []


def test_goods_to_reunion_with_french_vat_are_refused_as_an_export() -> None:
    buyer = Party(first_name="Léa", last_name="Payet", billing=REUNION)
    assert refused_rules(order_of([cases._line("Théière", "40.00", "20")], buyer)) == [
        "lines[0] ('Théière')"
    ]


def test_a_monaco_buyer_pays_french_vat_without_an_export_mention() -> None:
    buyer = Party(first_name="Jean", last_name="Rossi", billing=MONACO)
    snap = issue(order_of([cases._line("Théière", "40.00", "20")], buyer))
    assert "vat_export_exemption" not in snap.legal and check_invoice(snap) == []


def test_a_monaco_buyer_at_zero_percent_is_refused_as_a_french_sale() -> None:
    buyer = Party(first_name="Jean", last_name="Rossi", billing=MONACO)
    assert refused_rules(order_of([cases._line("Théière", "40.00", "0")], buyer)) == [
        "mention zero_rate_reason"
    ]


def test_a_siret_typed_as_the_siren_gives_its_first_nine_digits() -> None:
    assert buyer_siren(BUREAU.model_copy(update={"siren": "30326504500003"})) == "303265045"


def test_an_invalid_siren_is_not_printed_and_the_vat_number_s_is_used() -> None:
    buyer = BUREAU.model_copy(update={"siren": "12345", "vat_number": "FR40303265045"})
    assert buyer_siren(buyer) == "303265045"
    assert buyer_siren(BUREAU.model_copy(update={"siren": "abc-def"})) == ""


# --------------------------------------------------------------------------- franchise abroad

BERLIN_GMBH = Party(
    first_name="Jonas", last_name="Weber", company="Weber Design GmbH",
    vat_number="DE136695976",
    billing=Address(line1="Unter den Linden 1", postcode="10117", city="Berlin", country="DE"),
)  # fmt: skip


def franchise_issue(line, buyer: Party, *, confirmed: bool = True):
    facts = IssueFacts(vat_check=cases.sample_vat_check(buyer.vat_number)) if confirmed else None
    return build_invoice(
        order_of([line], buyer), FRANCHISE_SELLER, NUMBERING,
        issued_at=cases.ISSUED, terms=cases.CASE_TERMS, facts=facts or IssueFacts(),
    )  # fmt: skip


# A franchise seller who serves EU businesses holds a VAT number (art. 286 ter).
FRANCHISE_SELLER = cases.sole_trader_seller().model_copy(
    update={"vat_number": french_vat_for(cases.sole_trader_seller().siren)}
)


def test_a_franchise_seller_s_service_to_an_eu_business_is_reverse_charged_not_293_b() -> None:
    design = cases._line("Création de logo", "300.00", "0", nature=Nature.services)
    snap = franchise_issue(design, BERLIN_GMBH)
    assert "vat_reverse_charge" in snap.legal and "vat_franchise" not in snap.legal
    assert check_invoice(snap) == []


def test_a_franchise_seller_s_service_abroad_needs_its_own_vat_number() -> None:
    design = cases._line("Création de logo", "300.00", "0", nature=Nature.services)
    with pytest.raises(OrderNotInvoiceable) as err:
        build_invoice(
            order_of([design], BERLIN_GMBH), cases.sole_trader_seller(), NUMBERING,
            issued_at=cases.ISSUED, terms=cases.CASE_TERMS,
            facts=IssueFacts(vat_check=cases.sample_vat_check(BERLIN_GMBH.vat_number)),
        )  # fmt: skip
    assert [m.rule for m in err.value.missing_mentions] == ["seller_vat_number"]


def test_a_franchise_seller_s_goods_to_an_eu_business_keep_293_b() -> None:
    bowl = cases._line("Bol émaillé", "30.00", "0")
    snap = franchise_issue(bowl, BERLIN_GMBH, confirmed=False)
    assert "vat_franchise" in snap.legal and check_invoice(snap) == []


def test_a_franchise_seller_s_service_to_an_eu_consumer_keeps_293_b() -> None:
    consumer = BERLIN_GMBH.model_copy(update={"company": "", "vat_number": ""})
    design = cases._line("Création de logo", "300.00", "0", nature=Nature.services)
    snap = franchise_issue(design, consumer, confirmed=False)
    assert "vat_franchise" in snap.legal and check_invoice(snap) == []


def test_a_zero_percent_line_beside_taxed_goods_to_an_eu_business_is_not_reverse_charged() -> None:
    pot = cases._line("Théière", "40.00", "20")
    gift = cases._line("Échantillon de thé", "5.00", "0")
    o = order_of([pot, gift], BERLIN_GMBH)
    with pytest.raises(OrderNotInvoiceable) as err:
        build_invoice(
            o, cases.company_seller(), NUMBERING, issued_at=cases.ISSUED, terms=cases.CASE_TERMS,
            facts=IssueFacts(vat_check=cases.sample_vat_check(BERLIN_GMBH.vat_number)),
        )  # fmt: skip
    assert [m.rule for m in err.value.missing_mentions] == ["zero_rate_reason"]


def test_an_export_in_a_currency_the_ecb_does_not_publish_needs_no_rate() -> None:
    swiss = Party(
        first_name="Luca", last_name="Meier",
        billing=Address(line1="Bahnhofstrasse 1", postcode="8001", city="Zürich", country="CH"),
    )  # fmt: skip
    o = order_of([cases._line("Coffret", "35.00", "0")], swiss).model_copy(
        update={"currency": "AED"}
    )
    snap = issue(o)
    assert snap.eur is None and check_invoice(snap) == []


def test_a_service_to_reunion_from_metropolitan_france_keeps_french_vat() -> None:
    buyer = Party(first_name="Léa", last_name="Payet", billing=REUNION)
    lesson = cases._line("Atelier en ligne", "30.00", "20", nature=Nature.services)
    assert check_invoice(issue(order_of([lesson], buyer))) == []


def test_goods_from_a_seller_in_reunion_to_lyon_are_an_export() -> None:
    seller = cases.company_seller().model_copy(
        update={"address": cases.company_seller().address.model_copy(
            update={"postcode": "97400", "city": "Saint-Denis"})}
    )  # fmt: skip
    snap = build_invoice(
        order_of([cases._line("Théière", "40.00", "0")]), seller, NUMBERING,
        issued_at=cases.ISSUED, terms=cases.CASE_TERMS,
    )  # fmt: skip
    assert "vat_export_exemption" in snap.legal and check_invoice(snap) == []
