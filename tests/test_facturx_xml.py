"""The Factur-X XML (CII, EN 16931) of every kind of document: its XSD check and the business
terms it carries, read back by XPath from real `build_invoice` / credit-note snapshots.

The official schematrons run in tests/test_facturx_rules.py (a subprocess: saxonche never
runs inside pytest)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from bridge.config import SellerConfig
from bridge.facturx import cii
from bridge.facturx.archived_check import needs_french_rules
from bridge.facturx.cii import build_cii, unit_price
from bridge.facturx.rules import run_rules
from bridge.facturx.schema import check_xsd
from bridge.failures import FacturXInvalidError
from bridge.invoicing.build import Numbering, build_invoice, date_apart, date_note
from bridge.invoicing.cases import (
    CASE_TERMS,
    ISSUED,
    all_cases,
    case_facts,
    case_order,
    case_seller,
    company_seller,
    export_order,
    franchise_order,
    sole_trader_seller,
)
from bridge.invoicing.credit import Credit, build_credit_note, lines_of_invoice, whole_invoice
from bridge.invoicing.mentions import LegalTerms
from bridge.invoicing.snapshot import InvoiceLine, InvoiceSnapshot
from bridge.model import Nature
from bridge.render.labels import labels

NS = cii.NS
D = Decimal


@cache
def cases() -> dict[str, InvoiceSnapshot]:
    return all_cases()


def xml_of(snapshot: InvoiceSnapshot) -> etree._Element:
    return etree.fromstring(build_cii(snapshot))


def case_xml(name: str) -> etree._Element:
    return xml_of(cases()[name])


def texts(doc: etree._Element, path: str) -> list[str]:
    return [str(x).strip() if not isinstance(x, etree._Element) else (x.text or "").strip()
            for x in doc.xpath(path, namespaces=NS)]  # fmt: skip


def one(doc: etree._Element, path: str) -> str:
    found = texts(doc, path)
    assert len(found) == 1, (path, found)
    return found[0]


SETTLEMENT = "//ram:ApplicableHeaderTradeSettlement"
TOTALS = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
SELLER = "//ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty"
BUYER = "//ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty"


def categories(doc: etree._Element) -> set[tuple[str, str, str]]:
    """(category, rate, VATEX code) of every VAT breakdown row."""
    rows = doc.xpath(f"{SETTLEMENT}/ram:ApplicableTradeTax", namespaces=NS)
    return {
        (
            one(row, "ram:CategoryCode"),
            one(row, "ram:RateApplicablePercent"),
            "".join(texts(row, "ram:ExemptionReasonCode")),
        )
        for row in rows
    }


def rebuilt(name: str, *, seller: SellerConfig | None = None, order=None, terms=CASE_TERMS):
    numbering = Numbering(series="FA", number="FA-2026-000900", sequence=900)
    return build_invoice(
        order or case_order(name),
        seller or case_seller(name),
        numbering,
        issued_at=ISSUED,
        terms=terms,
        facts=case_facts(name),
    )


# --------------------------------------------------------------------------- the schema


@pytest.mark.parametrize("name", list(all_cases()))
def test_every_case_passes_the_en16931_xsd(name: str) -> None:
    check_xsd(build_cii(cases()[name]))


def test_same_snapshot_gives_the_same_bytes() -> None:
    snapshot = cases()["b2b"]
    again = InvoiceSnapshot.from_json(snapshot.canonical_json())  # as read back from the store
    assert build_cii(snapshot) == build_cii(again)


def test_xml_is_utf8_with_its_declaration() -> None:
    xml = build_cii(cases()["b2c"])
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "Théière".encode() in xml


def test_broken_xml_raises_naming_the_document_number(monkeypatch) -> None:
    def bad_header(root, s):  # an element the schema does not know, where BT-1 belongs
        document = cii._el(root, "rsm:ExchangedDocument")
        cii._el(document, "ram:ID", s.number)
        cii._el(document, "ram:Nonsense", "x")

    monkeypatch.setattr(cii, "_header", bad_header)
    snapshot = cases()["b2c"]
    with pytest.raises(FacturXInvalidError) as info:
        check_xsd(build_cii(snapshot))
    message = str(info.value)
    assert snapshot.number in message
    assert "line " in message and "Nonsense" in message


def test_not_xml_at_all_raises_facturx_invalid() -> None:
    with pytest.raises(FacturXInvalidError):
        check_xsd(b"<not-closed")


# --------------------------------------------------------------------------- header


def test_profile_is_en16931() -> None:
    doc = case_xml("b2c")
    assert one(doc, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == (
        "urn:cen.eu:en16931:2017"
    )


def test_bt1_is_the_number_and_bt2_the_issue_date_in_format_102() -> None:
    snapshot = cases()["b2c"]
    doc = xml_of(snapshot)
    assert one(doc, "//rsm:ExchangedDocument/ram:ID") == snapshot.number
    assert len(snapshot.number) <= 35
    assert one(doc, "//ram:IssueDateTime/udt:DateTimeString/@format") == "102"
    assert one(doc, "//ram:IssueDateTime/udt:DateTimeString") == (f"{snapshot.issue_date:%Y%m%d}")


def test_bt3_is_380_for_an_invoice_and_381_for_a_credit_note() -> None:
    assert one(case_xml("b2b"), "//rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert one(case_xml("credit_note"), "//rsm:ExchangedDocument/ram:TypeCode") == "381"


def test_bt23_business_process_follows_the_nature_of_a_paid_document() -> None:
    path = "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"
    services = cases()["franchise"].model_copy(update={"nature": "services"})
    assert one(xml_of(services), path) == "S2"
    assert cases()["export"].nature == "goods" and one(case_xml("export"), path) == "B2"
    assert cases()["b2b"].nature == "both" and one(case_xml("b2b"), path) == "M2"
    assert one(case_xml("credit_note"), path) == "M2"


def test_an_unknown_nature_of_operation_is_an_error() -> None:
    odd = cases()["b2c"].model_copy(update={"nature": "rental"})
    with pytest.raises(ValueError, match="rental"):
        build_cii(odd)


def test_bt5_is_the_currency() -> None:
    assert one(case_xml("b2c"), f"{SETTLEMENT}/ram:InvoiceCurrencyCode") == "EUR"
    assert one(case_xml("foreign_currency"), f"{SETTLEMENT}/ram:InvoiceCurrencyCode") == "USD"


def test_bt6_and_bt111_state_the_vat_in_euros_of_a_foreign_currency_invoice() -> None:
    snapshot = cases()["foreign_currency"]
    assert snapshot.eur is not None
    doc = xml_of(snapshot)
    assert one(doc, f"{SETTLEMENT}/ram:TaxCurrencyCode") == "EUR"
    assert one(doc, f"{TOTALS}/ram:TaxTotalAmount[@currencyID='EUR']") == str(
        snapshot.eur.total_vat
    )
    assert one(doc, f"{TOTALS}/ram:TaxTotalAmount[@currencyID='USD']") == str(
        snapshot.totals.total_vat
    )


def test_an_invoice_in_euros_has_no_vat_accounting_currency() -> None:
    doc = case_xml("b2c")
    assert texts(doc, f"{SETTLEMENT}/ram:TaxCurrencyCode") == []
    assert len(texts(doc, f"{TOTALS}/ram:TaxTotalAmount")) == 1


def test_bt10_buyer_reference_is_the_order_reference() -> None:
    snapshot = cases()["b2b"]
    assert one(xml_of(snapshot), "//ram:BuyerReference") == snapshot.order.reference == "#1002"


def test_b2b_payment_terms_are_notes_with_subject_codes_pmt_pmd_aab() -> None:
    snapshot = cases()["b2b"]
    doc = xml_of(snapshot)
    by_code = {
        one(note, "ram:SubjectCode"): one(note, "ram:Content")
        for note in doc.xpath("//ram:IncludedNote[ram:SubjectCode]", namespaces=NS)
    }
    assert by_code == {
        "PMT": snapshot.legal["recovery_indemnity"],
        "PMD": snapshot.legal["late_payment_penalties"],
        "AAB": snapshot.legal["early_payment_discount"],
    }


def test_other_mentions_are_plain_notes_in_print_order() -> None:
    snapshot = cases()["b2b"]
    notes = texts(xml_of(snapshot), "//ram:IncludedNote/ram:Content")
    assert notes == snapshot.mentions
    assert snapshot.legal["vat_debits"] in notes


def test_a_consumer_invoice_has_no_payment_term_subject_codes() -> None:
    assert texts(case_xml("b2c"), "//ram:IncludedNote/ram:SubjectCode") == []


# --------------------------------------------------------------------------- parties


def test_seller_siren_siret_and_vat_number_with_their_schemes() -> None:
    snapshot = cases()["b2c"]
    doc = xml_of(snapshot)
    org = f"{SELLER}/ram:SpecifiedLegalOrganization/ram:ID"
    assert one(doc, f"{org}[@schemeID='0002']") == snapshot.seller.siren == "732829320"
    assert one(doc, f"{SELLER}/ram:GlobalID[@schemeID='0009']") == snapshot.seller.siret
    vat = f"{SELLER}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"
    assert one(doc, vat) == snapshot.seller.vat_number


def test_seller_without_vat_number_outside_franchise_states_no_tax_registration() -> None:
    snapshot = cases()["b2c"]
    seller = snapshot.seller.model_copy(update={"vat_number": ""})
    doc = xml_of(snapshot.model_copy(update={"seller": seller}))
    assert texts(doc, f"{SELLER}/ram:SpecifiedTaxRegistration") == []


def test_franchise_seller_without_vat_number_states_its_siren_as_tax_registration() -> None:
    snapshot = cases()["franchise"]
    assert snapshot.seller.vat_number == ""
    doc = xml_of(snapshot)
    assert texts(doc, f"{SELLER}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == []
    fc = f"{SELLER}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']"
    assert one(doc, fc) == snapshot.seller.siren


def test_seller_legal_information_is_bt33() -> None:
    assert one(case_xml("b2c"), f"{SELLER}/ram:Description") == (
        "SAS au capital de 10 000 € — RCS Lyon"
    )


def test_seller_legal_information_in_english_is_the_pdf_wording() -> None:
    snapshot = cases()["intra_eu"]
    capital = labels("en")["capital"].format(form="SAS", capital=snapshot.seller.share_capital)
    assert one(case_xml("intra_eu"), f"{SELLER}/ram:Description") == f"{capital} — RCS Lyon"


def test_buyer_siren_on_a_b2b_invoice() -> None:
    snapshot = cases()["b2b"]
    doc = xml_of(snapshot)
    path = f"{BUYER}/ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']"
    assert one(doc, path) == snapshot.buyer.siren == "552100554"
    assert one(doc, f"{BUYER}/ram:Name") == "Bistrot du Port SARL"
    assert one(doc, f"{BUYER}/ram:SpecifiedTaxRegistration/ram:ID") == "FR96552100554"


def test_consumer_has_no_legal_registration_nor_electronic_address() -> None:
    doc = case_xml("b2c")
    assert texts(doc, f"{BUYER}/ram:SpecifiedLegalOrganization") == []
    assert texts(doc, f"{BUYER}/ram:URIUniversalCommunication") == []


def test_electronic_addresses_default_to_the_siren_with_scheme_0225() -> None:
    doc = case_xml("b2b")
    assert one(doc, f"{SELLER}/ram:URIUniversalCommunication/ram:URIID") == "732829320"
    assert one(doc, f"{SELLER}/ram:URIUniversalCommunication/ram:URIID/@schemeID") == "0225"
    assert one(doc, f"{BUYER}/ram:URIUniversalCommunication/ram:URIID") == "552100554"
    assert one(doc, f"{BUYER}/ram:URIUniversalCommunication/ram:URIID/@schemeID") == "0225"


def test_configured_seller_electronic_address_overrides_the_default() -> None:
    seller = company_seller(regime="debits").model_copy(
        update={"electronic_address": "0225:732829320_FACTURES"}
    )
    snapshot = rebuilt("b2b", seller=seller)
    assert snapshot.seller.electronic_address == "0225:732829320_FACTURES"
    doc = xml_of(snapshot)
    assert one(doc, f"{SELLER}/ram:URIUniversalCommunication/ram:URIID") == ("732829320_FACTURES")


def with_buyer_address(name: str, address: str) -> InvoiceSnapshot:
    order = case_order(name)
    customer = order.customer.model_copy(update={"electronic_address": address})
    return rebuilt(name, order=order.model_copy(update={"customer": customer}))


def buyer_endpoint(snapshot: InvoiceSnapshot) -> tuple[str, str]:
    doc = xml_of(snapshot)
    uri = f"{BUYER}/ram:URIUniversalCommunication/ram:URIID"
    return one(doc, f"{uri}/@schemeID"), one(doc, uri)


def test_buyer_electronic_address_comes_from_the_order() -> None:
    snapshot = with_buyer_address("b2b", "0225:552100554_COMPTA")
    assert snapshot.buyer.electronic_address == "0225:552100554_COMPTA"
    assert buyer_endpoint(snapshot) == ("0225", "552100554_COMPTA")
    check_xsd(build_cii(snapshot))


def test_buyer_with_a_siren_keeps_only_a_0225_address_under_that_siren() -> None:
    # BR-FR-21: a French company's BT-49 is 0225 and starts with its SIREN (BT-47).
    snapshot = with_buyer_address("b2b", "0009:55210055400013")
    assert snapshot.buyer.electronic_address == ""
    assert buyer_endpoint(snapshot) == ("0225", "552100554")


def test_stored_buyer_address_in_another_scheme_is_not_written_for_a_siren_buyer() -> None:
    snapshot = cases()["b2b"]
    stored = snapshot.model_copy(
        update={"buyer": snapshot.buyer.model_copy(update={"electronic_address": "0088:1"})}
    )
    assert buyer_endpoint(stored) == ("0225", "552100554")


def test_foreign_buyer_keeps_an_address_in_any_eas_scheme() -> None:
    snapshot = with_buyer_address("intra_eu", "9930:DE136695976")
    assert buyer_endpoint(snapshot) == ("9930", "DE136695976")


def test_buyer_address_in_a_scheme_outside_the_eas_list_is_dropped() -> None:
    assert with_buyer_address("intra_eu", "ZZ:DE136695976").buyer.electronic_address == ""
    assert with_buyer_address("b2b", "1234:552100554").buyer.electronic_address == ""


def test_unusable_buyer_electronic_address_falls_back_to_the_siren() -> None:
    order = case_order("b2b")
    customer = order.customer.model_copy(update={"electronic_address": "compta@bistrot.fr"})
    snapshot = rebuilt("b2b", order=order.model_copy(update={"customer": customer}))
    assert snapshot.buyer.electronic_address == ""
    assert one(xml_of(snapshot), f"{BUYER}/ram:URIUniversalCommunication/ram:URIID") == (
        "552100554"
    )


def test_foreign_buyer_bare_identifier_is_dropped_unless_it_starts_with_a_siren() -> None:
    # Without a SIREN, a bare identifier is no French directory (0225) address by default.
    assert with_buyer_address("intra_eu", "DE136695976").buyer.electronic_address == ""
    kept = with_buyer_address("intra_eu", "552100554_EU")
    assert kept.buyer.electronic_address == "0225:552100554_EU"


def test_foreign_buyer_keeps_an_email_address_under_em() -> None:
    snapshot = with_buyer_address("intra_eu", "EM:einkauf@example.de")
    assert buyer_endpoint(snapshot) == ("EM", "einkauf@example.de")


def test_0225_identifier_may_contain_a_plus() -> None:
    snapshot = with_buyer_address("b2b", "0225:552100554+COMPTA")
    assert buyer_endpoint(snapshot) == ("0225", "552100554+COMPTA")


def test_credit_note_carries_the_invoice_parties_addresses() -> None:
    doc = case_xml("credit_note")
    assert one(doc, f"{BUYER}/ram:URIUniversalCommunication/ram:URIID") == "552100554"


# --------------------------------------------------------------------------- delivery


def test_delivery_address_bg13_when_the_parcel_goes_elsewhere() -> None:
    snapshot = cases()["b2c"]
    doc = xml_of(snapshot)
    ship = "//ram:ShipToTradeParty/ram:PostalTradeAddress"
    assert one(doc, f"{ship}/ram:CityName") == "Grenoble"
    assert one(doc, f"{ship}/ram:PostcodeCode") == "38000"
    assert one(doc, f"{ship}/ram:LineOne") == "4 impasse du Moulin"
    assert one(doc, f"{ship}/ram:CountryID") == snapshot.buyer.shipping_country == "FR"


def test_no_delivery_party_when_billing_and_delivery_are_the_same() -> None:
    assert texts(case_xml("b2b"), "//ram:ShipToTradeParty") == []


def test_intra_eu_supply_always_states_the_deliver_to_country() -> None:
    assert one(case_xml("intra_eu"), "//ram:ShipToTradeParty//ram:CountryID") == "DE"


BT72 = "//ram:ActualDeliverySupplyChainEvent//udt:DateTimeString"
BG14 = f"{SETTLEMENT}/ram:BillingSpecifiedPeriod"


def test_no_bt72_when_the_operation_date_is_not_known() -> None:
    # b2b's training is dated a month after the payment: the payment date would be false.
    for name in ("b2c", "b2b"):
        assert cases()[name].operation_date is None
        assert texts(case_xml(name), "//ram:ActualDeliverySupplyChainEvent") == []


def test_intra_eu_goods_without_a_dated_line_state_the_payment_date_as_bt72() -> None:
    snapshot = cases()["intra_eu"]
    assert snapshot.operation_date is None
    doc = case_xml("intra_eu")
    assert one(doc, BT72) == f"{snapshot.payment.paid_on:%Y%m%d}"
    assert texts(doc, BG14) == []


def intra_eu_with_a_line_dated_apart() -> InvoiceSnapshot:
    """intra_eu with its teapots delivered 20 days after the payment (build.py's note)."""
    snapshot = cases()["intra_eu"]
    later = snapshot.payment.paid_on + timedelta(days=20)
    first = snapshot.lines[0]
    note = date_note(Nature.goods, later, snapshot.locale)
    dated = first.model_copy(update={"description": f"{first.description} ({note})"})
    return snapshot.model_copy(update={"lines": [dated, *snapshot.lines[1:]]})


def test_intra_eu_goods_with_a_line_dated_apart_state_the_period_bg14_not_bt72() -> None:
    snapshot = intra_eu_with_a_line_dated_apart()
    doc = xml_of(snapshot)
    paid = snapshot.payment.paid_on
    assert texts(doc, "//ram:ActualDeliverySupplyChainEvent") == []
    assert one(doc, f"{BG14}/ram:StartDateTime/udt:DateTimeString") == f"{paid:%Y%m%d}"
    end = paid + timedelta(days=20)
    assert one(doc, f"{BG14}/ram:EndDateTime/udt:DateTimeString") == f"{end:%Y%m%d}"
    check_xsd(build_cii(snapshot))


def test_intra_eu_period_covers_the_issue_day_of_the_lines_dated_that_day() -> None:
    # A line dated the issue day gets no note: the period must reach that day.
    snapshot = cases()["intra_eu"]
    earlier = snapshot.payment.paid_on - timedelta(days=5)
    first = snapshot.lines[0]
    note = date_note(Nature.goods, earlier, snapshot.locale)
    dated = first.model_copy(update={"description": f"{first.description} ({note})"})
    doc = xml_of(snapshot.model_copy(update={"lines": [dated, *snapshot.lines[1:]]}))
    assert snapshot.issue_date > snapshot.payment.paid_on
    assert one(doc, f"{BG14}/ram:StartDateTime/udt:DateTimeString") == f"{earlier:%Y%m%d}"
    end = f"{snapshot.issue_date:%Y%m%d}"
    assert one(doc, f"{BG14}/ram:EndDateTime/udt:DateTimeString") == end


def test_date_note_reads_back_in_both_languages() -> None:
    day = ISSUED.date() + timedelta(days=40)
    for locale in ("fr", "en"):
        for nature in (Nature.goods, Nature.services):
            line = cases()["b2c"].lines[0]
            noted = line.model_copy(
                update={"description": f"Thé ({date_note(nature, day, locale)})"}
            )
            assert date_apart(noted) == (True, day)
    assert date_apart(cases()["b2c"].lines[0]) == (False, None)


def test_bt72_is_the_operation_date_when_known() -> None:
    snapshot = cases()["b2c"]
    dated = snapshot.model_copy(update={"operation_date": snapshot.issue_date})
    path = "//ram:ActualDeliverySupplyChainEvent//udt:DateTimeString"
    assert one(xml_of(dated), path) == f"{snapshot.issue_date:%Y%m%d}"


# --------------------------------------------------------------------------- lines


@pytest.mark.parametrize("name", list(all_cases()))
def test_line_quantity_times_net_price_minus_allowances_is_the_line_amount(name: str) -> None:
    doc = case_xml(name)
    items = doc.xpath("//ram:IncludedSupplyChainTradeLineItem", namespaces=NS)
    assert items
    for item in items:
        quantity = D(one(item, ".//ram:BilledQuantity"))
        price = D(one(item, ".//ram:NetPriceProductTradePrice/ram:ChargeAmount"))
        basis = texts(item, ".//ram:NetPriceProductTradePrice/ram:BasisQuantity")
        allowances = sum(
            (D(x) for x in texts(item, ".//ram:SpecifiedTradeAllowanceCharge/ram:ActualAmount")),
            D(0),
        )
        net = D(one(item, ".//ram:LineTotalAmount"))
        assert quantity * price / D(basis[0] if basis else 1) - allowances == net


def test_a_price_that_is_no_exact_decimal_is_stated_for_the_whole_quantity() -> None:
    assert unit_price(D("10.00"), D("3")) == (D("10.00"), D("3"))
    assert unit_price(D("24.00"), D("3")) == (D("8"), None)
    line = (
        cases()["b2c"]
        .lines[0]
        .model_copy(update={"quantity": D(3), "discount_excl": D(0), "total_excl": D("10.00")})
    )
    snapshot = cases()["b2c"]
    lines = [line, *snapshot.lines[1:]]
    doc = xml_of(snapshot.model_copy(update={"lines": lines}))
    first_price = doc.xpath("(//ram:NetPriceProductTradePrice)[1]", namespaces=NS)[0]
    assert one(first_price, "ram:ChargeAmount") == "10.00"
    assert one(first_price, "ram:BasisQuantity") == "3"


@pytest.mark.parametrize("name", list(all_cases()))
def test_net_price_is_the_printed_unit_price_when_it_multiplies_back(name: str) -> None:
    doc = case_xml(name)
    items = doc.xpath("//ram:IncludedSupplyChainTradeLineItem", namespaces=NS)
    positive = [line for line in cases()[name].lines if line.total_excl >= 0]
    for item, line in zip(items, positive, strict=True):
        if line.unit_price_excl * line.quantity == line.total_excl + line.discount_excl:
            price = one(item, ".//ram:NetPriceProductTradePrice/ram:ChargeAmount")
            assert D(price) == line.unit_price_excl


def test_coupon_discounts_are_line_allowances() -> None:
    snapshot = cases()["b2c"]
    doc = xml_of(snapshot)
    first = doc.xpath("(//ram:IncludedSupplyChainTradeLineItem)[1]", namespaces=NS)[0]
    allowance = ".//ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeAllowanceCharge"
    assert one(first, f"{allowance}/ram:ChargeIndicator/udt:Indicator") == "false"
    assert one(first, f"{allowance}/ram:ActualAmount") == str(snapshot.lines[0].discount_excl)
    assert one(first, f"{allowance}/ram:ReasonCode") == "95"
    assert one(first, ".//ram:NetPriceProductTradePrice/ram:ChargeAmount") == "8.00"
    assert one(first, ".//ram:LineTotalAmount") == "21.60"


def test_negative_line_is_a_document_allowance_in_its_category() -> None:
    snapshot = cases()["b2c"]
    discount = InvoiceLine(
        kind="fee",
        description="Remise fidélité",
        quantity=D(1),
        unit_price_excl=D("-5.00"),
        total_excl=D("-5.00"),
        vat_rate=D(20),
        vat_amount=D("-1.00"),
        total_incl=D("-6.00"),
    )
    t = snapshot.totals
    totals = t.model_copy(
        update={
            "total_excl": t.total_excl - 5,
            "total_vat": t.total_vat - 1,
            "total_incl": t.total_incl - 6,
            "amount_paid": t.amount_paid - 6,
        }
    )
    changed = snapshot.model_copy(update={"lines": [*snapshot.lines, discount], "totals": totals})
    xml = build_cii(changed)
    check_xsd(xml)
    doc = etree.fromstring(xml)
    allowance = f"{SETTLEMENT}/ram:SpecifiedTradeAllowanceCharge"
    assert one(doc, f"{allowance}/ram:ActualAmount") == "5.00"
    assert one(doc, f"{allowance}/ram:Reason") == "Remise fidélité"
    assert one(doc, f"{allowance}/ram:CategoryTradeTax/ram:CategoryCode") == "S"
    assert one(doc, f"{TOTALS}/ram:AllowanceTotalAmount") == "5.00"
    assert len(doc.xpath("//ram:IncludedSupplyChainTradeLineItem", namespaces=NS)) == len(
        snapshot.lines
    )
    row = f"{SETTLEMENT}/ram:ApplicableTradeTax[ram:RateApplicablePercent='20.00']"
    assert one(doc, f"{row}/ram:BasisAmount") == "35.92"  # 40.92 of lines − 5.00


# --------------------------------------------------------------------------- VAT categories


def test_taxed_sale_is_standard_rated_per_rate() -> None:
    assert categories(case_xml("b2c")) == {
        ("S", "20.00", ""),
        ("S", "10.00", ""),
        ("S", "5.50", ""),
        ("S", "2.10", ""),
    }


def test_franchise_en_base_is_exempt_with_vatex_fr_franchise() -> None:
    snapshot = cases()["franchise"]
    doc = xml_of(snapshot)
    assert categories(doc) == {("E", "0.00", "VATEX-FR-FRANCHISE")}
    assert (
        one(doc, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:ExemptionReason")
        == (snapshot.legal["vat_franchise"])
    )


def test_intra_eu_goods_to_a_business_are_k_with_vatex_eu_ic() -> None:
    assert {"vat_reverse_charge", "vat_intra_eu_exemption"} <= set(cases()["intra_eu"].legal)
    assert categories(case_xml("intra_eu")) == {("K", "0.00", "VATEX-EU-IC")}
    assert set(texts(case_xml("intra_eu"), "//ram:LineTotalAmount/../../ram:ApplicableTradeTax/"
                     "ram:CategoryCode")) == {"K"}  # fmt: skip


def test_reverse_charged_services_to_the_eu_are_ae() -> None:
    snapshot = cases()["intra_eu"]
    legal = {k: v for k, v in snapshot.legal.items() if k != "vat_intra_eu_exemption"}
    services = snapshot.model_copy(update={"legal": legal, "nature": "services"})
    doc = xml_of(services)
    assert categories(doc) == {("AE", "0.00", "VATEX-EU-AE")}
    check_xsd(build_cii(services))


def test_export_is_g_with_vatex_eu_g() -> None:
    assert "vat_export_exemption" in cases()["export"].legal
    assert categories(case_xml("export")) == {("G", "0.00", "VATEX-EU-G")}


def services_export() -> InvoiceSnapshot:
    """export, but a consultation sold to a Swiss company: art. 259-1, outside French VAT."""
    order = export_order()
    customer = order.customer.model_copy(
        update={"company": "Meier Beratung AG", "vat_number": "CHE116281710"}
    )
    consultation = order.lines[0].model_copy(update={"nature": Nature.services})
    order = order.model_copy(
        update={"customer": customer, "lines": [consultation, *order.lines[1:]]}
    )
    return rebuilt("export", order=order)


def test_services_to_a_business_outside_the_eu_are_o_with_vatex_eu_o() -> None:
    snapshot = services_export()
    assert snapshot.nature == "services" and "vat_export_exemption" in snapshot.legal
    doc = xml_of(snapshot)
    rows = doc.xpath(f"{SETTLEMENT}/ram:ApplicableTradeTax", namespaces=NS)
    assert [one(row, "ram:CategoryCode") for row in rows] == ["O"]
    assert one(rows[0], "ram:ExemptionReasonCode") == "VATEX-EU-O"
    assert set(texts(doc, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/"
                     "ram:CategoryCode")) == {"O"}  # fmt: skip
    check_xsd(build_cii(snapshot))


def test_outside_scope_states_no_rate() -> None:
    assert texts(xml_of(services_export()), "//ram:RateApplicablePercent") == []


def test_outside_scope_states_no_vat_identifier_of_either_party() -> None:
    snapshot = services_export()
    assert snapshot.seller.vat_number and snapshot.buyer.vat_number
    doc = xml_of(snapshot)
    assert texts(doc, "//ram:SpecifiedTaxRegistration") == []


def test_owner_configured_exemption_is_e_with_its_text() -> None:
    terms = LegalTerms(
        late_payment_penalties=CASE_TERMS.late_payment_penalties,
        vat_exemption="Exonération de TVA, art. 261-4-4° du CGI (formation professionnelle)",
    )
    order = case_order("b2b")
    taxed = order.lines[1]
    training = taxed.model_copy(update={"taxes": []})
    order = order.model_copy(
        update={
            "lines": [order.lines[0], training, order.lines[2]],
            "total": order.total - taxed.tax,
            "total_tax": order.total_tax - taxed.tax,
        }
    )
    snapshot = rebuilt("b2b", order=order, terms=terms)
    assert "vat_exemption" in snapshot.legal
    doc = xml_of(snapshot)
    assert ("E", "0.00", "") in categories(doc)
    exempt = f"{SETTLEMENT}/ram:ApplicableTradeTax[ram:CategoryCode='E']/ram:ExemptionReason"
    assert one(doc, exempt) == terms.vat_exemption
    check_xsd(build_cii(snapshot))


def test_zero_rate_line_in_a_taxed_sale_without_exemption_is_z() -> None:
    snapshot = cases()["b2c"]
    rounding = InvoiceLine(
        kind="fee",
        description="Arrondi",
        quantity=D(1),
        unit_price_excl=D("0.01"),
        total_excl=D("0.01"),
        vat_rate=D(0),
        vat_amount=D(0),
        total_incl=D("0.01"),
    )
    doc = xml_of(snapshot.model_copy(update={"lines": [*snapshot.lines, rounding]}))
    assert ("Z", "0.00", "") in categories(doc)
    assert ("S", "20.00", "") in categories(doc)


def test_oss_distance_sale_is_standard_rated_at_the_destination_rate() -> None:
    snapshot = cases()["foreign_currency"]
    oss = snapshot.model_copy(update={"taxing_country": "IE"})
    assert {code for code, _, _ in categories(xml_of(oss))} == {"S"}


def test_breakdown_amounts_add_up_to_the_totals() -> None:
    for name, snapshot in cases().items():
        doc = xml_of(snapshot)
        rows = f"{SETTLEMENT}/ram:ApplicableTradeTax"
        base = sum((D(x) for x in texts(doc, f"{rows}/ram:BasisAmount")), D(0))
        vat = sum((D(x) for x in texts(doc, f"{rows}/ram:CalculatedAmount")), D(0))
        assert base == snapshot.totals.total_excl, name
        assert vat == snapshot.totals.total_vat, name


# --------------------------------------------------------------------------- payment


def test_paid_amount_is_the_grand_total_and_nothing_is_due() -> None:
    for name, snapshot in cases().items():
        doc = xml_of(snapshot)
        grand = one(doc, f"{TOTALS}/ram:GrandTotalAmount")
        assert grand == str(snapshot.totals.total_incl), name
        assert one(doc, f"{TOTALS}/ram:TotalPrepaidAmount") == grand, name
        assert one(doc, f"{TOTALS}/ram:DuePayableAmount") == "0.00", name


def test_due_date_is_the_payment_day() -> None:
    snapshot = cases()["b2b"]
    path = "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString"
    assert one(xml_of(snapshot), path) == f"{snapshot.payment.paid_on:%Y%m%d}"


@pytest.mark.parametrize(
    ("name", "code"),
    [("b2c", "48"), ("b2b", "42"), ("franchise", "68"), ("credit_note", "ZZZ")],
)
def test_payment_means_code_from_the_payment_method(name: str, code: str) -> None:
    doc = case_xml(name)
    assert one(doc, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == code
    assert one(doc, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:Information") == (
        cases()[name].payment.method_label
    )


# --------------------------------------------------------------------------- credit notes


def test_credit_note_references_the_invoice_it_corrects() -> None:
    invoice = cases()["b2b"]
    note = cases()["credit_note"]
    doc = xml_of(note)
    ref = f"{SETTLEMENT}/ram:InvoiceReferencedDocument"
    assert one(doc, f"{ref}/ram:IssuerAssignedID") == note.credited_number == invoice.number
    assert one(doc, f"{ref}/ram:FormattedIssueDateTime/qdt:DateTimeString") == (
        f"{invoice.issue_date:%Y%m%d}"
    )
    assert one(doc, f"{ref}/ram:FormattedIssueDateTime/qdt:DateTimeString/@format") == "102"


def test_credit_note_amounts_are_positive_and_its_reason_is_a_note() -> None:
    note = cases()["credit_note"]
    doc = xml_of(note)
    assert D(one(doc, f"{TOTALS}/ram:GrandTotalAmount")) == note.totals.total_incl > 0
    assert texts(doc, "//ram:IncludedNote/ram:Content")[0] == note.credit_reason


def test_invoice_has_no_referenced_invoice() -> None:
    assert texts(case_xml("b2b"), "//ram:InvoiceReferencedDocument") == []


def credit_note_without_refund() -> InvoiceSnapshot:
    """The b2b invoice cancelled in full with nothing paid back, as `quittance credit
    --no-refund` (and a reissue's cancellation) makes it: method "none", no reference."""
    invoice = cases()["b2b"]
    credit = Credit(
        source="manual:1", amount=invoice.totals.total_incl, at=ISSUED + timedelta(days=1),
        reason="Erreur de prix", method="none", lines=whole_invoice(invoice),
    )  # fmt: skip
    numbering = Numbering(series="AV", number="AV-2026-000002", sequence=2)
    return build_credit_note(invoice, credit, numbering, issued_at=credit.at)


PROCESS = "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"
TERMS = f"{SETTLEMENT}/ram:SpecifiedTradePaymentTerms"


def test_credit_note_paying_nothing_back_is_in_the_frame_not_already_paid() -> None:
    note = credit_note_without_refund()
    assert note.totals.amount_paid == 0 and note.nature == "both"
    assert one(xml_of(note), PROCESS) == "M1"


def test_credit_note_paying_nothing_back_leaves_its_whole_amount_due() -> None:
    # BR-CO-16: due = total − paid, though the snapshot stores amount_due 0.
    note = credit_note_without_refund()
    doc = xml_of(note)
    assert one(doc, f"{TOTALS}/ram:TotalPrepaidAmount") == "0.00"
    assert one(doc, f"{TOTALS}/ram:DuePayableAmount") == str(note.totals.total_incl)
    assert one(doc, f"{TOTALS}/ram:GrandTotalAmount") == str(note.totals.total_incl)


def test_credit_note_paying_nothing_back_is_due_on_its_issue_day() -> None:
    note = credit_note_without_refund()
    due = one(xml_of(note), f"{TERMS}/ram:DueDateDateTime/udt:DateTimeString")
    assert due == f"{note.issue_date:%Y%m%d}"


def test_credit_note_paying_nothing_back_says_its_amount_is_credited_to_the_customer() -> None:
    note = credit_note_without_refund()
    assert one(xml_of(note), f"{TERMS}/ram:Description") == "Montant porté au crédit du client"
    english = note.model_copy(update={"locale": "en"})
    assert one(xml_of(english), f"{TERMS}/ram:Description") == "Amount credited to the customer"


def test_refunded_credit_note_states_its_refund_as_payment_terms() -> None:
    note = cases()["credit_note"]
    doc = xml_of(note)
    assert one(doc, f"{TERMS}/ram:Description").startswith("Remboursé le ")
    assert one(doc, f"{TOTALS}/ram:DuePayableAmount") == "0.00"


def intra_eu_credit_note() -> InvoiceSnapshot:
    """A credit note on the intra_eu invoice (goods, K): its first line returned, refunded
    ten days after the invoice."""
    invoice = cases()["intra_eu"]
    picked = lines_of_invoice(invoice, [(1, None)])
    credit = Credit(
        source="refund:7", amount=sum((ln.amount + ln.tax for ln in picked), D(0)),
        at=ISSUED + timedelta(days=10), reason="Retour", reference="7", lines=picked,
    )  # fmt: skip
    numbering = Numbering(series="AV", number="AV-2026-000003", sequence=3)
    return build_credit_note(invoice, credit, numbering, issued_at=credit.at)


def test_intra_eu_credit_note_states_the_credited_supply_never_its_refund_date() -> None:
    note = intra_eu_credit_note()
    doc = xml_of(note)
    assert note.operation_date is None and note.credited_issue_date is not None
    assert texts(doc, "//ram:ActualDeliverySupplyChainEvent") == []
    ordered = note.order.ordered_at.astimezone(ZoneInfo(note.timezone)).date()
    assert one(doc, f"{BG14}/ram:StartDateTime/udt:DateTimeString") == f"{ordered:%Y%m%d}"
    end = f"{note.credited_issue_date:%Y%m%d}"
    assert one(doc, f"{BG14}/ram:EndDateTime/udt:DateTimeString") == end
    assert f"{note.payment.paid_on:%Y%m%d}" not in texts(doc, f"{BG14}//udt:DateTimeString")


# --------------------------------------------------------------------------- the schematrons


def franchise_to_a_french_business() -> InvoiceSnapshot:
    """franchise, sold to a French company: the seller has no VAT number (BT-32 = SIREN)."""
    order = franchise_order()
    customer = order.customer.model_copy(
        update={"company": "Bistrot du Port SARL", "siren": "552100554"}
    )
    return rebuilt(
        "franchise",
        seller=sole_trader_seller(),
        order=order.model_copy(update={"customer": customer}),
    )


def variants() -> dict[str, InvoiceSnapshot]:
    """The documents of this module's fixes that no case of cases.py is."""
    return {
        "services_export": services_export(),
        "franchise_b2b": franchise_to_a_french_business(),
        "intra_eu_dated_line": intra_eu_with_a_line_dated_apart(),
        "foreign_buyer_address": with_buyer_address("intra_eu", "9930:DE136695976"),
        "buyer_address_under_siren": with_buyer_address("b2b", "0225:552100554_COMPTA"),
        "buyer_address_with_a_plus": with_buyer_address("b2b", "0225:552100554+COMPTA"),
        "foreign_buyer_email_address": with_buyer_address("intra_eu", "EM:einkauf@example.de"),
        "seller_email_address": rebuilt(
            "b2b",
            seller=company_seller(regime="debits").model_copy(
                update={"electronic_address": "EM:factures@latheiere.example.fr"}
            ),
        ),
        "credit_note_without_refund": credit_note_without_refund(),
        "intra_eu_credit_note": intra_eu_credit_note(),
    }


@pytest.fixture(scope="module")
def variant_reports():
    docs = variants()
    reports = run_rules(
        [(name, build_cii(snap)) for name, snap in docs.items()],
        french=[needs_french_rules(snap) for snap in docs.values()],
    )
    return dict(zip(docs, reports, strict=True))


def test_franchise_seller_selling_to_a_french_business_gets_the_french_rules() -> None:
    snapshot = franchise_to_a_french_business()
    assert needs_french_rules(snapshot) and not snapshot.seller.vat_number
    fc = f"{SELLER}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']"
    assert one(xml_of(snapshot), fc) == snapshot.seller.siren


@pytest.mark.parametrize("name", list(variants()))
def test_variant_passes_en16931_and_french_rules_where_they_apply(name, variant_reports) -> None:
    report = variant_reports[name]
    assert report.errors == (), "\n".join(f.line() for f in report.errors)
