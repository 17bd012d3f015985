"""Realistic orders for each kind of invoice the law distinguishes, issued through the real
`build_invoice` (so they pass every legal rule). Used by `quittance preview`, and by tests that
read the rendered PDFs back.

Cases: b2c (two rates, coupon, shipping, gift delivery address), b2b (company buyer, goods and
services, VAT on debits, seller's own terms), franchise (EI in franchise en base, services),
intra_eu (German company, no VAT, autoliquidation), export (Swiss buyer, no VAT, art. 262 I),
foreign_currency (USD, English, EUR counter-value), refunded (partly refunded before issue),
hundred_lines (100 lines, long names and addresses).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from bridge.config import AddressConfig, SellerConfig
from bridge.invoicing.build import (
    NO_FACTS,
    IssueFacts,
    Numbering,
    build_invoice,
    local_date,
)
from bridge.invoicing.mentions import LegalTerms
from bridge.invoicing.snapshot import EurRate, InvoiceSnapshot, VatCheck
from bridge.model import (
    Address,
    Coupon,
    Line,
    LineKind,
    Nature,
    Order,
    Party,
    Payment,
    Refund,
    TaxLine,
)

D = Decimal
CENT = D("0.01")
PAID = datetime(2026, 11, 27, 9, 41, tzinfo=UTC)
ISSUED = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # the day after: sale date ≠ issue date


def _c(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def company_seller(*, logo: Path | None = None, regime: str = "normal") -> SellerConfig:
    return SellerConfig(
        legal_name="La Théière Lyonnaise SAS",
        trade_name="La Théière",
        legal_form="SAS",
        share_capital=D("10000"),
        address=AddressConfig(line1="8 rue Mercière", postcode="69002", city="Lyon"),
        siren="732829320",
        siret="73282932000074",
        rcs_city="Lyon",
        vat_number="FR44732829320",
        vat_regime=regime,
        email="bonjour@latheiere.example.fr",
        phone="+33 4 72 00 00 00",
        website="latheiere.example.fr",
        logo=logo,
        brand_color="#2f5d50",
    )


def sole_trader_seller(*, logo: Path | None = None) -> SellerConfig:
    return SellerConfig(
        legal_name="Camille Roux",
        trade_name="Atelier Céramique Camille",
        legal_form="micro-entreprise",
        address=AddressConfig(line1="5 chemin des Potiers", postcode="26220", city="Dieulefit"),
        siren="404833048",
        vat_regime="franchise",
        email="camille@atelier-ceramique.example.fr",
        logo=logo,
        brand_color="#8a4b2a",
    )


def _line(
    name: str,
    unit_incl: str,
    rate: str,
    qty: str = "1",
    *,
    sku: str = "",
    attrs: dict[str, str] | None = None,
    discount_incl: str = "0",
    kind: LineKind = LineKind.product,
    nature: Nature = Nature.goods,
    prices_include_tax: bool = True,
) -> Line:
    """A line the way a platform sends it: prices incl. VAT (or excl.), per-line tax amount."""
    r = D(rate)
    if prices_include_tax:
        gross_sub = D(unit_incl) * D(qty)
        gross = gross_sub - D(discount_incl)
        tax = _c(gross * r / (100 + r))
        total_excl = gross - tax
        subtotal = _c(gross_sub * 100 / (100 + r)) if D(discount_incl) else total_excl
        subtotal = max(subtotal, total_excl)
    else:
        subtotal = D(unit_incl) * D(qty)
        total_excl = subtotal - D(discount_incl)
        tax = _c(total_excl * r / 100)
    return Line(
        kind=kind,
        name=name,
        sku=sku,
        attributes=attrs or {},
        quantity=D(qty),
        subtotal=subtotal,
        discount=subtotal - total_excl,
        taxes=[TaxLine(rate=r, amount=tax)] if r or tax else [],
        nature=nature,
    )


def _order(order_id: str, customer: Party, lines: list[Line], **extra) -> Order:
    total = sum((_c(ln.total) + _c(ln.tax) for ln in lines), D(0))
    fields: dict = dict(
        shop="demo",
        platform="woocommerce",
        order_id=order_id,
        reference=f"#{order_id}",
        created_at=datetime(2026, 11, 26, 22, 30, tzinfo=UTC),
        customer=customer,
        lines=lines,
        total=total,
        total_tax=sum((_c(ln.tax) for ln in lines), D(0)),
        payment=Payment(
            method="stripe",
            method_label="Carte bancaire (Stripe)",
            paid_at=PAID,
            transaction_ref="ch_3QxYz2Lk9P",
        ),
    )
    fields.update(extra)
    return Order(**fields)


def b2c_order() -> Order:
    return _order(
        "1001",
        Party(
            first_name="Marie",
            last_name="Dupont",
            email="marie.dupont@example.fr",
            billing=Address(line1="12 rue des Lilas", postcode="69003", city="Lyon"),
            shipping=Address(
                line1="4 impasse du Moulin",
                line2="Chez Mme Dupont mère",
                postcode="38000",
                city="Grenoble",
            ),
        ),
        [
            _line(
                "Tisane verveine bio",
                "8.44",
                "5.5",
                "3",
                sku="TIS-VER-100",
                attrs={"Format": "100 g"},
                discount_incl="2.53",
            ),
            _line(
                "Théière en fonte « Kyoto »",
                "48.00",
                "20",
                sku="THE-KYO-08",
                attrs={"Couleur": "noir"},
                discount_incl="4.80",
            ),
            _line("Livre « L'art du thé »", "22.00", "5.5", sku="LIV-ART-01"),
            _line("Journal « Le Monde du Thé » n° 12", "6.50", "2.1", sku="JRN-012"),
            _line(
                "Atelier dégustation (en ligne)",
                "15.00",
                "10",
                sku="ATL-DEG",
                nature=Nature.services,
            ),
            _line("Livraison Colissimo", "5.90", "20", kind=LineKind.shipping),
        ],
        coupons=[Coupon(code="BIENVENUE10", amount=D("6.10"))],
    )


def b2b_order() -> Order:
    return _order(
        "1002",
        Party(
            first_name="Jean",
            last_name="Martin",
            company="Bistrot du Port SARL",
            email="compta@bistrot-du-port.example.fr",
            vat_number="FR96552100554",
            siren="552100554",
            billing=Address(line1="2 quai de la Fosse", postcode="44000", city="Nantes"),
        ),
        [
            _line(
                "Café en grains Éthiopie Sidamo",
                "18.00",
                "5.5",
                "10",
                sku="CAF-SID-1K",
                attrs={"Poids": "1 kg", "Mouture": "grains"},
                prices_include_tax=False,
            ),
            _line(
                "Formation barista (demi-journée)",
                "250.00",
                "20",
                sku="FORM-BAR-H",
                nature=Nature.services,
                prices_include_tax=False,
            ).model_copy(update={"operation_date": (PAID + timedelta(days=30)).date()}),
            # paid now, the training in a month: the date of the operation is printed
            _line("Frais de dossier", "15.00", "20", kind=LineKind.fee, prices_include_tax=False),
        ],
        prices_include_tax=False,
        payment=Payment(
            method="bacs",
            method_label="Virement bancaire",
            paid_at=PAID,
            transaction_ref="VIR-20261127-0042",
        ),
    )


def franchise_order() -> Order:
    return _order(
        "2001",
        Party(
            first_name="Léa",
            last_name="Bernard",
            email="lea.bernard@example.fr",
            billing=Address(line1="3 rue du Four", postcode="26000", city="Valence"),
        ),
        [
            _line(
                "Cours de tournage — initiation (2 h)", "45.00", "0", "2", nature=Nature.services
            ),
            _line("Bol émaillé « Nuit bleue »", "28.00", "0", sku="BOL-NB"),
        ],
        payment=Payment(method="paypal", paid_at=PAID, transaction_ref="8MC585209K746392H"),
    )


def intra_eu_order() -> Order:
    return _order(
        "1004",
        Party(
            first_name="Anna",
            last_name="Schmidt",
            company="Teehaus Schmidt GmbH",
            email="einkauf@teehaus-schmidt.example.de",
            vat_number="DE136695976",
            billing=Address(line1="Hauptstraße 12", postcode="10115", city="Berlin", country="DE"),
        ),
        [
            _line("Théière en fonte « Kyoto »", "40.00", "0", "6", sku="THE-KYO-08"),
            _line("Tisane verveine bio — 1 kg", "32.00", "0", "4", sku="TIS-VER-1K"),
            _line("Transport UE (DHL)", "25.00", "0", kind=LineKind.shipping),
        ],
        locale="de_DE",
        payment=Payment(
            method="bacs", paid_at=PAID, transaction_ref="SEPA-7731", method_label="Überweisung"
        ),
    )


def export_order() -> Order:
    return _order(
        "1005",
        Party(
            first_name="Luca",
            last_name="Meier",
            email="luca.meier@example.ch",
            billing=Address(line1="Bahnhofstrasse 1", postcode="8001", city="Zürich", country="CH"),
        ),
        [
            _line("Coffret découverte 12 thés", "35.00", "0", "2", sku="COF-12"),
            _line("Expédition internationale", "18.00", "0", kind=LineKind.shipping),
        ],
        locale="fr_CH",
    )


def foreign_currency_order() -> Order:
    return _order(
        "1003",
        Party(
            first_name="Emily",
            last_name="Clarke",
            email="emily.clarke@example.ie",
            billing=Address(
                line1="18 Merrion Square", postcode="D02 VX29", city="Dublin", country="IE"
            ),
        ),
        [
            _line(
                "Linen apron", "36.00", "20", "2", sku="APR-LIN-NAT", attrs={"Colour": "natural"}
            ),
            _line("Matcha whisk (chasen)", "18.00", "20", sku="MAT-WHI"),
            _line("International shipping", "18.00", "20", kind=LineKind.shipping),
        ],
        currency="USD",
        locale="en_IE",
        shop_currency_total=D("101.12"),
        shop_currency_tax=D("16.85"),
        payment=Payment(
            method="paypal", method_label="PayPal", paid_at=PAID, transaction_ref="8MC58520"
        ),
    )


def refunded_order() -> Order:
    order = b2c_order()
    return order.model_copy(
        update={
            "order_id": "1006",
            "reference": "#1006",
            "refunds": [Refund(amount=D("6.50"), reason="Journal abîmé", created_at=PAID)],
        }
    )


def hundred_lines_order() -> Order:
    return many_lines_order(100)


def many_lines_order(count: int, *, long_names: bool = True) -> Order:
    """`count` lines (the last one shipping), four VAT rates; long names wrap (layout stress)."""
    rates = ["20", "5.5", "10", "2.1"]
    lines = [
        _line(
            (
                f"Article de démonstration n° {i:03d} — désignation longue pour vérifier le "
                f"retour à la ligne : thé « Œillet & Émeraude », édition limitée"
                if long_names
                else f"Thé « Émeraude » n° {i:03d} — 100 g"
            ),
            f"{(i % 17) + 1}.{i % 100:02d}",
            rates[i % 4],
            str(1 + i % 3),
            sku=f"SKU-{i:03d}",
        )
        for i in range(1, count)
    ]
    lines.append(_line("Livraison Chronopost 13 h", "14.90", "20", kind=LineKind.shipping))
    return _order(
        "1100",
        Party(
            first_name="Marie-Amélie",
            last_name="de La Rochefoucauld-Montmorency",
            company="Association des Amateurs de Thé de Saint-Rémy-de-Provence et des Alpilles",
            email="tresorerie@amateurs-the-saint-remy.example.fr",
            siren="123456782",
            billing=Address(
                line1="Résidence « Les Oliviers », bâtiment C, escalier 4, appartement 1207",
                line2="145 avenue du Maréchal de Lattre de Tassigny prolongée",
                postcode="13210",
                city="Saint-Rémy-de-Provence",
            ),
        ),
        lines,
    )


CASE_BUILDERS = {
    "b2c": (b2c_order, "company"),
    "b2b": (b2b_order, "company-debits"),
    "franchise": (franchise_order, "franchise"),
    "intra_eu": (intra_eu_order, "company"),
    "export": (export_order, "company"),
    "foreign_currency": (foreign_currency_order, "company"),
    "refunded": (refunded_order, "company"),
    "hundred_lines": (hundred_lines_order, "company"),
}

CASE_TERMS = LegalTerms(
    late_payment_penalties="Pénalités de retard : 3 fois le taux d'intérêt légal, exigibles dès "
    "le lendemain de l'échéance",
    late_payment_penalties_en="Late payment penalties: three times the French legal interest "
    "rate, due from the day after the due date",
    legal_guarantee="Garantie légale de conformité (art. L217-3 à L217-20 du Code de la "
    "consommation) : 2 ans à compter de la livraison. Garantie des vices cachés (art. 1641 "
    "du Code civil).",
    legal_guarantee_en="Legal guarantee of conformity (French Consumer Code, art. L217-3 to "
    "L217-20): 2 years from delivery. Guarantee against hidden defects (Civil Code, art. 1641).",
)


def case_order(name: str) -> Order:
    return CASE_BUILDERS[name][0]()


def case_seller(name: str, *, logos: Mapping[str, Path] | None = None) -> SellerConfig:
    """The seller of a case; `logos` maps "company" / "franchise" to a logo file."""
    kind = CASE_BUILDERS[name][1]
    logos = logos or {}
    if kind == "franchise":
        return sole_trader_seller(logo=logos.get("franchise"))
    return company_seller(
        logo=logos.get("company"), regime="debits" if kind == "company-debits" else "normal"
    )


# VIES's answer for the intra_eu buyer, as the issue step records it (a fixed sample
# consultation number: previews and tests never ask the real VIES).
SAMPLE_CONSULTATION_NUMBER = "WAPIAAAAW1234567"


def sample_vat_check(number: str = "DE136695976", *, at: datetime = ISSUED) -> VatCheck:
    return VatCheck(
        number=number,
        valid=True,
        checked_at=at,
        consultation_number=SAMPLE_CONSULTATION_NUMBER,
        name="Teehaus Schmidt GmbH",
        address="Hauptstraße 12, 10115 Berlin",
    )


# The ECB rate of the foreign_currency case: a sample figure dated its payment day (a
# publication day), standing for what bridge/ecb.py reads from the ECB's file.
SAMPLE_USD_RATE = D("1.0842")


def sample_eur_rate(paid_on: date, currency: str = "USD") -> EurRate:
    return EurRate(currency=currency, rate=SAMPLE_USD_RATE, published_on=paid_on)


def case_facts(name: str, *, at: datetime = ISSUED) -> IssueFacts:
    """What the issue step reads from outside for the case, as of `at` (just before issue)."""
    if name == "intra_eu":
        return IssueFacts(vat_check=sample_vat_check(case_order(name).customer.vat_number, at=at))
    if name == "foreign_currency":  # paid the day before issue, as the case moved to `at` is
        paid = PAID + (at - ISSUED)
        return IssueFacts(eur_rate=sample_eur_rate(local_date(paid, case_seller(name).timezone)))
    return NO_FACTS


def case_snapshot(
    name: str, *, sequence: int = 1, logos: Mapping[str, Path] | None = None
) -> InvoiceSnapshot:
    seller = case_seller(name, logos=logos)
    series = "FA"
    numbering = Numbering(series=series, number=f"{series}-2026-{sequence:06d}", sequence=sequence)
    return build_invoice(
        case_order(name),
        seller,
        numbering,
        issued_at=ISSUED,
        terms=CASE_TERMS,
        facts=case_facts(name),
    )


def lines_snapshot(count: int) -> InvoiceSnapshot:
    """A real `build_invoice` snapshot with `count` ordinary lines (what bench/render.py
    measures: the document the app produces, legal mentions included)."""
    numbering = Numbering(series="FA", number="FA-2026-000001", sequence=1)
    order = many_lines_order(count, long_names=False)
    return build_invoice(order, company_seller(), numbering, issued_at=ISSUED, terms=CASE_TERMS)


def credit_note_snapshot(invoice: InvoiceSnapshot) -> InvoiceSnapshot:
    """A credit note on the b2b case's invoice: its first line returned and a goodwill amount
    spread over its rates, refunded the day after issue, as a refund would make it."""
    from bridge.invoicing.credit import Credit, build_credit_note, lines_of_invoice

    at = ISSUED + timedelta(days=1)
    credit = Credit(
        source="refund:1", amount=sum((ln.amount + ln.tax for ln in lines_of_invoice(
            invoice, [(1, None)])), D("5.00")), at=at, reason="Retour d'un article",
        method="", reference="1", lines=lines_of_invoice(invoice, [(1, None)]),
    )  # fmt: skip
    numbering = Numbering(series="AV", number="AV-2026-000001", sequence=1)
    return build_credit_note(invoice, credit, numbering, issued_at=at)


def all_cases(*, logos: Mapping[str, Path] | None = None) -> dict[str, InvoiceSnapshot]:
    """Every case's invoice, and a credit note (the documents a template must handle)."""
    out = {
        name: case_snapshot(name, sequence=i, logos=logos)
        for i, name in enumerate(CASE_BUILDERS, start=101)
    }
    return {**out, "credit_note": credit_note_snapshot(out["b2b"])}
