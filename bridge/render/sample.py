"""A realistic invoice snapshot built by hand, for the render bench and for eyeballing output.

`sample_snapshot(n_lines=10)` — a SAS seller, a business buyer with a different delivery
address, lines at 20 % and 5,5 % (one discounted), paid by card. Amounts add up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from bridge.invoicing.snapshot import (
    BuyerSnapshot,
    InvoiceLine,
    InvoiceSnapshot,
    OrderRef,
    PaymentSnapshot,
    SellerSnapshot,
    Totals,
    VatBucket,
)

CENT = Decimal("0.01")

_PRODUCTS = [
    ("Thé vert Sencha bio — 100 g", "TH-SEN-100", Decimal("8.50"), Decimal("5.5")),
    ("Théière en fonte émaillée « Œuvre » 0,8 L", "TP-FON-08", Decimal("49.00"), Decimal("20")),
    (
        "Coffret découverte crème brûlée & façon pâtissière",
        "CF-DEC-01",
        Decimal("24.90"),
        Decimal("5.5"),
    ),
    ("Tasse en grès — bleu céleste", "TS-GRE-BL", Decimal("12.00"), Decimal("20")),
    ("Infuseur inox à suspendre", "IN-INO-01", Decimal("6.75"), Decimal("20")),
]


def _q(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def sample_snapshot(n_lines: int = 10, *, locale: str = "fr") -> InvoiceSnapshot:
    lines = []
    for i in range(n_lines):
        desc, sku, price, rate = _PRODUCTS[i % len(_PRODUCTS)]
        qty = Decimal(1 + i % 3)
        discount = _q(price * qty * Decimal("0.10")) if i == 1 else Decimal(0)
        total = _q(price * qty - discount)
        vat = _q(total * rate / 100)
        lines.append(
            InvoiceLine(
                kind="product",
                description=f"{desc}" if n_lines <= len(_PRODUCTS) else f"{desc} #{i + 1}",
                sku=sku,
                quantity=qty,
                unit_price_excl=price,
                discount_excl=discount,
                total_excl=total,
                vat_rate=rate,
                vat_amount=vat,
                total_incl=total + vat,
            )
        )
    buckets: dict[Decimal, list[Decimal]] = {}
    for line in lines:
        b = buckets.setdefault(line.vat_rate, [Decimal(0), Decimal(0)])
        b[0] += line.total_excl
        b[1] += line.vat_amount
    breakdown = [VatBucket(rate=r, base=b, amount=a) for r, (b, a) in sorted(buckets.items())]
    total_excl = sum((line.total_excl for line in lines), Decimal(0))
    total_vat = sum((line.vat_amount for line in lines), Decimal(0))
    total_incl = total_excl + total_vat
    paid_at = datetime(2026, 11, 27, 9, 41, tzinfo=UTC)
    return InvoiceSnapshot(
        series="FA",
        number="FA-2026-000042",
        sequence=42,
        issued_at=datetime(2026, 11, 27, 9, 45, tzinfo=UTC),
        issue_date=date(2026, 11, 27),
        timezone="Europe/Paris",
        locale=locale,
        currency="EUR",
        seller=SellerSnapshot(
            legal_name="Les Thés de Léonie SAS",
            trade_name="Maison Léonie",
            legal_form="SAS",
            share_capital="10 000 €",
            address_lines=["12 rue de la Paix", "75002 Paris"],
            siren="123456789",
            siret="12345678900012",
            rcs_city="RCS Paris",
            vat_number="FR32123456789",
            email="bonjour@leonie.example",
            phone="+33 1 23 45 67 89",
            website="leonie.example",
            brand_color="#7a3b2e",
        ),
        buyer=BuyerSnapshot(
            name="François Lefèvre",
            company="Garçon & Cie SARL",
            email="francois@garcon.example",
            billing_lines=["3 place du Marché", "69001 Lyon"],
            billing_country="FR",
            shipping_lines=["Entrepôt Nord", "14 allée des Tilleuls", "59000 Lille"],
            shipping_country="FR",
            vat_number="FR45987654321",
            siren="987654321",
            is_business=True,
        ),
        order=OrderRef(
            shop="leonie",
            platform="woocommerce",
            order_id="1042",
            reference="#1042",
            ordered_at=datetime(2026, 11, 26, 22, 30, tzinfo=UTC),
        ),
        lines=lines,
        vat_breakdown=breakdown,
        totals=Totals(
            discount_excl=sum((line.discount_excl for line in lines), Decimal(0)),
            total_excl=total_excl,
            total_vat=total_vat,
            total_incl=total_incl,
            amount_paid=total_incl,
            amount_due=Decimal("0.00"),
        ),
        payment=PaymentSnapshot(
            method="stripe",
            method_label="carte bancaire" if locale == "fr" else "credit card",
            paid_at=paid_at,
            paid_on=date(2026, 11, 27),
            reference="ch_3PqA2B",
        ),
        nature="goods",
        mentions=[
            "Pénalités de retard : trois fois le taux d'intérêt légal",
            "Indemnité forfaitaire pour frais de recouvrement : 40 €",
            "Pas d'escompte pour paiement anticipé",
        ],
    )
