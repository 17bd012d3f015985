"""Only VAT rates that exist, on the day, where the sale is taxed: 99 %, 7 % and 19.6 % were
invoiced for a French seller; 8.5 % shipped to Lyon would have been too."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.resources import files

import pytest

from bridge.invoicing.amounts import cents
from bridge.invoicing.vat_rates import (
    DateNotCovered,
    UnknownTerritory,
    check_rates,
    french_place,
    french_territory,
    member_states,
    rates_in_force,
    standard_rate,
    taxing_territory,
)
from bridge.model import Address, Line, Order, Party, Payment, TaxLine

D = Decimal
TODAY = date.today()
PAID_AT = datetime.now(UTC)
LYON = Address(line1="1 rue de la République", postcode="69001", city="Lyon")
AJACCIO = Address(line1="2 cours Napoléon", postcode="20000", city="Ajaccio")
SAINT_DENIS = Address(line1="3 rue de Paris", postcode="97400", city="Saint-Denis")
EU_MEMBER_STATES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})  # fmt: skip


def line(rate: str, *, name: str = "Thé vert", excl: str = "10.00") -> Line:
    return Line(
        name=name, subtotal=D(excl),
        taxes=[TaxLine(rate=D(rate), amount=cents(D(excl) * D(rate) / 100))],
    )  # fmt: skip


def order(*rates: str, billing: Address = LYON, shipping: Address | None = None) -> Order:
    """One line per rate, billed (and shipped, when given) to the addresses."""
    lines = [line(rate) for rate in rates]
    tax = sum((ln.tax for ln in lines), D(0))
    return Order(
        shop="t", order_id="1", created_at=PAID_AT,
        customer=Party(first_name="Ana", last_name="Silva", billing=billing, shipping=shipping),
        lines=lines, total=sum((ln.total for ln in lines), tax), total_tax=tax,
        payment=Payment(method="stripe", paid_at=PAID_AT, transaction_ref="ch_1"),
    )  # fmt: skip


def refused(
    o: Order, *, seller: str = "FR", on: date = TODAY, seller_postcode: str = ""
) -> list[str]:
    found = check_rates(o, seller_country=seller, on=on, seller_postcode=seller_postcode)
    return [problem.message for problem in found]


REUNION_SELLER = "97490"  # a seller established in La Réunion charges its rates there


def test_19_6_percent_is_refused_for_a_french_sale_after_2014() -> None:
    (message,) = refused(order("19.6"))
    assert message.startswith(f"vat_rate: 19.6 % is not a VAT rate of FR on {TODAY}")
    assert "(valid: 2.1, 5.5, 10, 20)" in message
    assert "stopped applying in FR after 2013-12-31" in message


def test_french_rates_change_on_1_january_2014() -> None:
    # 19.6 → 20 % and 7 → 10 %: facts of the past, hence fixed dates.
    assert rates_in_force("FR", date(2013, 12, 31)) == {D("19.6"), D("7"), D("5.5"), D("2.1")}
    assert rates_in_force("FR", date(2014, 1, 1)) == {D("20"), D("10"), D("5.5"), D("2.1")}
    assert refused(order("19.6", "7"), on=date(2013, 12, 31)) == []


def test_99_percent_is_refused() -> None:
    assert len(refused(order("99"))) == 1


def test_refusal_names_the_line_the_rate_the_territory_the_valid_rates_and_the_remedy() -> None:
    (problem,) = check_rates(order("20", "7"), seller_country="FR", on=TODAY)
    assert problem.field == "lines[1] ('Thé vert')"
    assert problem.message.startswith("vat_rate: 7 % is not a VAT rate of FR on ")
    assert "(valid: 2.1, 5.5, 10, 20)" in problem.message
    assert "WooCommerce → Settings → Tax" in problem.message
    assert "Shopify: Settings → Taxes and duties" in problem.message
    assert problem.message.endswith("then `quittance retry --all`")


def test_rate_compares_by_value() -> None:
    assert refused(order("20", "20.0", "20.00", "5.5", "5.50", "2.10")) == []


def test_zero_rate_lines_are_left_to_the_exemption_rules() -> None:
    assert refused(order("0", "0.00")) == []


def test_corsican_13_percent_is_accepted_for_delivery_in_ajaccio() -> None:
    assert refused(order("13", "0.9", "20", billing=AJACCIO)) == []


def test_corsican_13_percent_is_refused_for_delivery_in_lyon() -> None:
    (message,) = refused(order("13"))
    assert "is not a VAT rate of FR on" in message
    assert "13 % is a rate of FR-COR: check the delivery address" in message


def test_reunion_8_5_percent_is_refused_for_delivery_in_lyon() -> None:
    (message,) = refused(order("8.5"))
    assert message.startswith("vat_rate: 8.5 % is not a VAT rate of FR on ")
    assert "8.5 % is a rate of FR-GP, FR-MQ, FR-RE" in message


def test_reunion_8_5_percent_is_accepted_from_a_seller_in_reunion() -> None:
    assert refused(order("8.5", "2.1", billing=SAINT_DENIS), seller_postcode=REUNION_SELLER) == []


def test_metropolitan_20_percent_is_refused_in_reunion_from_a_seller_there() -> None:
    (message,) = refused(order("20", billing=SAINT_DENIS), seller_postcode=REUNION_SELLER)
    assert "is not a VAT rate of FR-RE on" in message
    assert "(valid: 1.05, 1.75, 2.1, 8.5)" in message


def test_goods_from_metropolitan_france_to_reunion_are_an_export_without_vat() -> None:
    (message,) = refused(order("8.5", billing=SAINT_DENIS))
    assert "exported (CGI art. 294-2): no VAT is due" in message
    assert refused(order("0", billing=SAINT_DENIS)) == []


def test_the_shipping_address_decides_over_the_billing_one() -> None:
    assert (
        refused(order("8.5", billing=LYON, shipping=SAINT_DENIS), seller_postcode=REUNION_SELLER)
        == []
    )
    assert len(refused(order("8.5", billing=SAINT_DENIS, shipping=LYON))) == 1


def test_a_postcode_typo_on_a_french_address_keeps_the_metropolitan_rates() -> None:
    typo = LYON.model_copy(update={"postcode": "6900"})
    assert refused(order("20", billing=typo)) == []
    (message,) = refused(order("8.5", billing=typo))
    assert "could not be placed" in message


def test_a_monaco_seller_charges_the_french_rates() -> None:
    assert refused(order("20"), seller="MC") == []


def test_an_empty_shipping_address_falls_back_to_billing() -> None:
    empty = Address()
    assert refused(order("8.5", billing=SAINT_DENIS, shipping=empty), seller_postcode="97490") == []


def test_guyane_and_mayotte_have_no_positive_rate() -> None:
    assert rates_in_force("FR-GF", TODAY) == frozenset()
    assert rates_in_force("FR-YT", TODAY) == frozenset()
    cayenne = Address(line1="4 avenue du Général de Gaulle", postcode="97300", city="Cayenne")
    (message,) = refused(order("8.5", billing=cayenne), seller_postcode="97300")
    assert "is not a VAT rate of FR-GF on" in message
    assert "(valid: none)" in message


@pytest.mark.parametrize(
    ("postcode", "territory"),
    [
        ("75001", "FR"),
        ("69 001", "FR"),
        ("20000", "FR-COR"),
        ("20200", "FR-COR"),
        ("97110", "FR-GP"),
        ("97200", "FR-MQ"),
        ("97300", "FR-GF"),
        ("97400", "FR-RE"),
        ("97600", "FR-YT"),
        ("98000", "FR"),
        ("97133", "FR-BL"),
        ("97150", "FR-MF"),
        ("98800", "FR-NC"),
        ("", "FR"),
    ],
)
def test_french_territory_of_a_postcode(postcode: str, territory: str) -> None:
    assert french_territory(postcode) == territory


@pytest.mark.parametrize("postcode", ["7500", "ABCDE", "96000", "97900", "99999"])
def test_a_postcode_in_no_french_territory_is_a_clear_error(postcode: str) -> None:
    with pytest.raises(UnknownTerritory, match="French"):
        french_territory(postcode)


def test_an_unplaceable_french_postcode_is_named_when_a_rate_does_not_fit() -> None:
    nowhere = Address(line1="5 rue Inconnue", postcode="97900", city="?")
    (problem,) = check_rates(order("8.5", "20", billing=nowhere), seller_country="FR", on=TODAY)
    assert problem.field == "lines[0] ('Thé vert')"
    assert "the delivery address could not be placed" in problem.message


def test_monaco_is_taxed_as_france() -> None:
    monaco = Address(line1="6 boulevard des Moulins", postcode="98000", city="Monaco", country="MC")
    assert taxing_territory(order("20", billing=monaco), "FR") == "FR"
    assert (
        taxing_territory(order("20", billing=monaco.model_copy(update={"country": "FR"})), "FR")
        == "FR"
    )


def test_an_overseas_country_code_is_the_same_french_territory_as_its_postcode() -> None:
    assert french_place("RE", "97400") == french_place("FR", "97400") == "FR-RE"


def test_a_french_sale_to_another_member_state_is_taxed_as_french_for_now() -> None:
    berlin = Address(line1="Unter den Linden 1", postcode="10117", city="Berlin", country="DE")
    assert taxing_territory(order("20", billing=berlin), "FR") == "FR"
    assert len(refused(order("19", billing=berlin))) == 1


def test_sale_outside_the_eu_has_no_vat_territory() -> None:
    boston = Address(line1="1 Main St", postcode="02108", city="Boston", country="US")
    assert taxing_territory(order("0", billing=boston), "FR") is None
    assert refused(order("20", billing=boston)) == []


def test_a_seller_of_another_member_state_is_taxed_in_its_own_country() -> None:
    assert taxing_territory(order("19"), "DE") == "DE"
    assert refused(order("19", "7"), seller="DE") == []
    (message,) = refused(order("20"), seller="DE")
    assert "is not a VAT rate of DE on" in message


def test_a_seller_outside_the_eu_is_a_configuration_error() -> None:
    with pytest.raises(UnknownTerritory):
        check_rates(order("20"), seller_country="US", on=TODAY)


def test_finnish_rate_changes_on_its_date() -> None:
    assert standard_rate("FI", date(2024, 8, 31)) == D("24")
    assert standard_rate("FI", date(2024, 9, 1)) == D("25.5")
    assert D("24") not in rates_in_force("FI", date(2024, 9, 1))


def test_finnish_reduced_rate_changes_on_1_january_2026() -> None:
    assert rates_in_force("FI", date(2025, 12, 31)) == {D("25.5"), D("14"), D("10")}
    assert rates_in_force("FI", date(2026, 1, 1)) == {D("25.5"), D("13.5"), D("10")}


def test_slovak_rates_change_on_1_january_2025() -> None:
    assert rates_in_force("SK", date(2024, 12, 31)) == {D("20"), D("10"), D("5")}
    assert rates_in_force("SK", date(2025, 1, 1)) == {D("23"), D("19"), D("5")}


def test_estonian_standard_rate_changes_on_1_july_2025() -> None:
    assert standard_rate("EE", date(2024, 1, 1)) == D("22")
    assert standard_rate("EE", date(2025, 6, 30)) == D("22")
    assert standard_rate("EE", date(2025, 7, 1)) == D("24")


def test_romanian_rates_change_on_1_august_2025() -> None:
    assert rates_in_force("RO", date(2025, 7, 31)) == {D("19"), D("9"), D("5")}
    # 9 % survives for new dwellings under the transitional rule until 2026-07-31.
    assert rates_in_force("RO", date(2025, 8, 1)) == {D("21"), D("11"), D("9")}
    assert rates_in_force("RO", date(2026, 8, 1)) == {D("21"), D("11")}


def test_czech_reduced_rates_merge_on_1_january_2024() -> None:
    assert rates_in_force("CZ", date(2023, 12, 31)) == {D("21"), D("15"), D("10")}
    assert rates_in_force("CZ", date(2024, 1, 1)) == {D("21"), D("12")}


def test_the_table_has_every_member_state() -> None:
    assert member_states() == EU_MEMBER_STATES


@pytest.mark.parametrize("country", sorted(EU_MEMBER_STATES))
def test_every_member_state_has_a_standard_rate_today(country: str) -> None:
    rate = standard_rate(country, TODAY)
    # The VAT Directive (art. 97) sets no standard rate below 15 %, and no other rate above it.
    assert rate is not None and rate >= 15
    assert rate == max(rates_in_force(country, TODAY))


def test_greece_is_gr_and_el_is_understood() -> None:
    assert rates_in_force("EL", TODAY) == rates_in_force("GR", TODAY)
    assert standard_rate("GR", TODAY) == D("24")


def test_unknown_territory_is_a_clear_error() -> None:
    with pytest.raises(UnknownTerritory, match="'US' is neither an EU member state") as caught:
        rates_in_force("US", TODAY)
    assert isinstance(caught.value, ValueError)


def test_a_day_before_the_table_is_a_clear_error_not_an_empty_answer() -> None:
    with pytest.raises(DateNotCovered, match="covers DE only from 2024-01-01"):
        rates_in_force("DE", date(2019, 6, 1))
    (message,) = refused(order("20"), on=date(2011, 6, 1))
    assert "cannot be checked" in message


def test_the_bundled_table_cites_its_source() -> None:
    text = (files("bridge.invoicing") / "data" / "vat_rates.toml").read_text(encoding="utf-8")
    assert "Taxes in Europe Database (TEDB)" in text
    assert "Data checked on: " in text
