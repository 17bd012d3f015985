"""Snapshot → the plain, already formatted values the invoice template prints.

Everything locale-dependent (labels, money, dates, rates) is decided here, so templates stay
logic-free and a shop's override only arranges strings. The raw snapshot is passed alongside
(`snapshot`) for overrides that want more.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from bridge.invoicing.legal_forms import is_sole_trader_form
from bridge.invoicing.payment_labels import is_free_order_label
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot, PaymentSnapshot, VatRegime
from bridge.render.formatting import (
    country_name,
    format_date,
    format_exchange_rate,
    format_money,
    format_quantity,
    format_rate,
    format_unit_price,
)
from bridge.render.labels import labels

DEFAULT_BRAND = "#1f3a5f"
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
MAX_LOGO_BYTES = 2 * 1024 * 1024

# The refund sentence of a credit note, by the refund's method code: codes that name no means
# of payment get words of their own ("par avoir en boutique" would misstate a store credit);
# every other code prints its label ("Remboursé le … par Carte bancaire").
REFUND_WORDING = {
    "": "refund_original",  # the platform names no gateway: the money went back the way it came
    "store_credit": "refund_store_credit",
    "manual": "refund_manual",
}
REFUND_BY_METHOD = "refund_text"


@dataclass(frozen=True)
class LineView:
    description: str
    sku: str
    quantity: str
    unit_price: str
    discount: str  # "" when the line has none
    vat_rate: str
    total_excl: str


@dataclass(frozen=True)
class VatRow:
    rate: str
    base: str
    amount: str


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    strong: bool = False


@dataclass(frozen=True)
class EurVatView:
    """The VAT in euros of an invoice in another currency (CGI art. 242 nonies A, I-13°)."""

    title: str  # "TVA en euros"
    rate: str  # "1 EUR = 1,0842 USD, taux BCE du 27/11/2026"
    rows: list[Row]  # "TVA 20 %" → "16,60 €", for each rate that carries VAT
    total: str  # "Total TVA en euros : 16,60 €"


@dataclass(frozen=True)
class InvoiceView:
    locale: str
    L: dict[str, str]
    brand_color: str
    logo: str  # data: URI, or "" when there is no usable logo
    title: str
    number: str
    meta: list[Row]  # issue date, order, dates, nature
    credit_of: str
    seller_name: str
    seller_trade_name: str
    seller_legal: str  # "SAS au capital de 10 000 €" / "EI"
    seller_address: list[str]
    seller_ids: list[str]  # "SIREN 123456789", "RCS Paris", "N° TVA intracom. FR…"
    seller_contact: list[str]
    buyer_name: str
    buyer_company: str
    buyer_address: list[str]
    buyer_ids: list[str]
    buyer_email: str
    ship_address: list[str]  # empty when the delivery address is the billing one
    show_vat: bool  # False under the franchise en base: no VAT column, no VAT totals
    show_discount: bool
    show_sku: bool
    lines: list[LineView]
    vat_rows: list[VatRow]  # empty under the franchise
    totals: list[Row]
    shop_currency_note: str
    paid: bool
    stamp_title: str
    stamp_text: str
    mentions: list[str]
    seller_footer: str
    footer_legal: str  # the seller's legal identity on one line, printed on every page
    eur_vat: EurVatView | None = None  # an invoice in another currency charging VAT
    # A credit note: "Motif : Retour du Carnet A5" ("" without a reason) and the refund
    # sentence that stands where an invoice has its paid stamp ("" when nothing was paid back).
    # Its amounts are already signed (negative) in `lines`, `vat_rows`, `totals`, `eur_vat`.
    is_credit: bool = False
    credit_reason: str = ""
    refund_text: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _brand(color: str) -> str:
    return color if _COLOR.match(color or "") else DEFAULT_BRAND


@lru_cache(maxsize=8)
def _logo_uri_cached(path: str, mtime_ns: int, size: int) -> str:
    data = Path(path).read_bytes()
    for magic, mime in _IMAGE_MAGIC.items():
        if data.startswith(magic):
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return ""


def logo_data_uri(path: str) -> str:
    """The logo as a data: URI (PNG/JPEG/GIF), or "" when absent, unreadable or not an image."""
    if not path:
        return ""
    try:
        st = Path(path).stat()
        if not Path(path).is_file() or st.st_size > MAX_LOGO_BYTES:
            return ""
        return _logo_uri_cached(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        return ""


def rcs_text(rcs_city: str) -> str:
    """ "RCS Lyon" from "Lyon"; a value already naming its registry (RCS, RM, RSAC) as is."""
    rcs = rcs_city.strip()
    if not rcs:
        return ""
    return rcs if rcs.upper().startswith(("RCS", "RM", "RSAC")) else f"RCS {rcs}"


def _local_date(snapshot: InvoiceSnapshot) -> date:
    try:
        return snapshot.order.ordered_at.astimezone(ZoneInfo(snapshot.timezone)).date()
    except Exception:  # unknown zone name: the UTC date is still a true statement
        return snapshot.order.ordered_at.date()


def _address(lines: list[str], country: str, home_country: str, locale: str) -> list[str]:
    out = [x for x in lines if x.strip()]
    if country and country.upper() != home_country.upper():
        out.append(country_name(country, locale))
    return out


def shown(amount: Decimal, kind: DocumentKind) -> Decimal:
    """The amount as the document prints it: a credit note shows every amount negative.

    The snapshot stores a credit note positive (its kind says it is credited); the document
    mirrors the invoice figure by figure, as French practice has it (Dolibarr's avoirs: unit
    price and totals negated, quantity kept; pretix's cancellations: line and tax values
    negated), so that quantity × unit price = total still reads true and the accountant books
    the figures as printed. Zero stays zero: no "-0,00 €"."""
    return -amount if kind is DocumentKind.credit_note and amount else amount


def refund_wording(method: str) -> str:
    """The label key of the refund sentence for a refund method code (see `REFUND_WORDING`)."""
    return REFUND_WORDING.get(method.strip().lower(), REFUND_BY_METHOD)


def refund_sentence(payment: PaymentSnapshot, locale: str) -> str:
    """ "Remboursé le 3 décembre 2026 par Carte bancaire (réf. re_123)": a credit note's refund.

    A refund whose code has no wording of its own and that names no means either went back
    by the original means of payment (what the platforms do when they say nothing)."""
    L = labels(locale)
    key = refund_wording(payment.method)
    if key == REFUND_BY_METHOD and not payment.method_label.strip():
        key = "refund_original"
    text = L[key].format(
        date=format_date(payment.paid_on, locale, long=True), method=payment.method_label.strip()
    )
    if payment.reference:
        text += f" ({L['paid_ref'].format(reference=payment.reference)})"
    return text


def build_view(snapshot: InvoiceSnapshot) -> InvoiceView:
    s = snapshot
    loc = s.locale
    L = labels(loc)
    cur = s.currency

    def money(x: Decimal) -> str:
        return format_money(shown(x, s.kind), cur, loc)

    def day(d: date) -> str:
        return format_date(d, loc)

    seller = s.seller
    buyer = s.buyer
    show_vat = seller.vat_regime is not VatRegime.franchise
    is_credit = s.kind is DocumentKind.credit_note
    # A credit note that gives money back says when and how; one that gives nothing back (a
    # correction cancelling the invoice to issue it again) has no refund to state.
    refunded = is_credit and s.totals.amount_paid != 0

    meta = [Row(L["issue_date"], day(s.issue_date))]
    if s.order.reference:
        meta.append(Row(L["order"], s.order.reference))
    meta.append(Row(L["order_date"], day(_local_date(s))))
    if not is_credit:
        meta.append(Row(L["payment_date"], day(s.payment.paid_on)))
    elif refunded:
        meta.append(Row(L["refund_date"], day(s.payment.paid_on)))
    # CGI art. 242 nonies A, I-7°: the date of the operation, when it is not the issue date.
    if s.operation_date is not None and s.operation_date != s.issue_date:
        meta.append(Row(L["operation_date"], day(s.operation_date)))
    nature_key = f"nature_{s.nature}"
    if nature_key in L:
        meta.append(Row(L["nature"], L[nature_key]))

    credit_of = ""
    if is_credit and s.credited_number:
        if s.credited_issue_date:
            credit_of = L["credit_of"].format(
                number=s.credited_number, date=day(s.credited_issue_date)
            )
        else:
            credit_of = L["credit_of_nodate"].format(number=s.credited_number)

    legal = seller.legal_form
    seller_name = seller.legal_name
    if seller.legal_form and seller.share_capital:
        legal = L["capital"].format(form=seller.legal_form, capital=seller.share_capital)
    elif is_sole_trader_form(seller.legal_form):
        # the law (14 Feb 2022) wants "EI" right before or after the trader's name
        form = seller.legal_form.strip()
        if seller_name.upper().split()[-1:] != [form.upper()]:
            seller_name = f"{seller_name} {form}"
        legal = L["sole_trader"]
    ids = []
    if seller.siren:
        ids.append(f"{L['siren']} {seller.siren}")
    if seller.siret:
        ids.append(f"{L['siret']} {seller.siret}")
    rcs = rcs_text(seller.rcs_city)
    if rcs:
        ids.append(rcs)
    if seller.vat_number:
        ids.append(f"{L['vat_number']} {seller.vat_number}")
    contact = [x for x in (seller.email, seller.phone, seller.website) if x]

    buyer_ids = []
    if buyer.vat_number:
        buyer_ids.append(f"{L['buyer_vat']} {buyer.vat_number}")
    if buyer.siren:
        buyer_ids.append(f"{L['buyer_siren']} {buyer.siren}")

    show_discount = any(line.discount_excl for line in s.lines)
    lines = [
        LineView(
            description=line.description,
            sku=line.sku,
            quantity=format_quantity(line.quantity, loc),
            unit_price=format_unit_price(shown(line.unit_price_excl, s.kind), cur, loc),
            discount=money(-line.discount_excl) if line.discount_excl else "",
            vat_rate=format_rate(line.vat_rate, loc),
            total_excl=money(line.total_excl),
        )
        for line in s.lines
    ]

    t = s.totals
    totals: list[Row] = []
    if show_vat:
        if t.discount_excl:
            totals.append(Row(L["total_discount"], money(-t.discount_excl)))
        totals.append(Row(L["total_excl"], money(t.total_excl)))
        totals.append(Row(L["total_vat"], money(t.total_vat)))
        totals.append(Row(L["total_incl"], money(t.total_incl), strong=True))
    else:
        if t.discount_excl:
            totals.append(Row(L["discount_franchise"], money(-t.discount_excl)))
        totals.append(Row(L["total_franchise"], money(t.total_incl), strong=True))
    if not is_credit:
        totals.append(Row(L["amount_paid"], money(t.amount_paid)))
        if t.refunded:
            totals.append(Row(L["refunded"], money(t.refunded)))
        totals.append(Row(L["amount_due"], money(t.amount_due)))

    eur_vat = eur_vat_view(s) if show_vat else None
    shop_note = ""
    # The shop's own euro figures (Shopify's, at its checkout rate) print only on documents
    # without the ECB conversion, as they always did: two VAT amounts in euros would contradict
    # each other, and the law's is the ECB one. They stay in the snapshot for reconciliation.
    if t.shop_currency and t.shop_currency_total_incl is not None and eur_vat is None:
        vat = t.shop_currency_total_vat if t.shop_currency_total_vat is not None else Decimal(0)
        shop_note = L["shop_currency"].format(
            currency=t.shop_currency,
            total=format_money(shown(t.shop_currency_total_incl, s.kind), t.shop_currency, loc),
            vat=format_money(shown(vat, s.kind), t.shop_currency, loc),
        )

    pay = s.payment
    # A free order was paid by nothing: "soldée le … : commande gratuite, aucun paiement".
    sentence = L["free_text"] if is_free_order_label(pay.method_label) else L["paid_text"]
    stamp_text = sentence.format(date=day(pay.paid_on), method=pay.method_label)
    if pay.reference:
        stamp_text += f" ({L['paid_ref'].format(reference=pay.reference)})"

    footer = " · ".join(
        x for x in (seller.legal_name, f"{L['siren']} {seller.siren}" if seller.siren else "") if x
    )
    footer_legal = " · ".join(
        x
        for x in (
            seller_name,
            legal,
            ", ".join(seller.address_lines),
            f"{L['siren']} {seller.siren}" if seller.siren else "",
            rcs,
            f"{L['vat_number']} {seller.vat_number}" if seller.vat_number else "",
        )
        if x
    )

    return InvoiceView(
        locale=loc,
        L=L,
        brand_color=_brand(seller.brand_color),
        logo=logo_data_uri(seller.logo_path),
        title=L["credit_note_title"] if is_credit else L["invoice_title"],
        number=s.number,
        meta=meta,
        credit_of=credit_of,
        seller_name=seller_name,
        seller_trade_name=seller.trade_name if seller.trade_name != seller.legal_name else "",
        seller_legal=legal,
        seller_address=_address(seller.address_lines, seller.country, "FR", loc),
        seller_ids=ids,
        seller_contact=contact,
        buyer_name=buyer.name,
        buyer_company=buyer.company,
        buyer_address=_address(buyer.billing_lines, buyer.billing_country, seller.country, loc),
        buyer_ids=buyer_ids,
        buyer_email=buyer.email,
        ship_address=_address(buyer.shipping_lines, buyer.shipping_country, seller.country, loc),
        show_vat=show_vat,
        show_discount=show_discount,
        show_sku=any(line.sku for line in s.lines),
        lines=lines,
        vat_rows=[
            VatRow(format_rate(b.rate, loc), money(b.base), money(b.amount))
            for b in s.vat_breakdown
        ]
        if show_vat
        else [],
        totals=totals,
        shop_currency_note=shop_note,
        paid=not is_credit and t.amount_due == 0,
        stamp_title=L["paid_stamp"],
        stamp_text=stamp_text,
        mentions=list(s.mentions),
        seller_footer=footer,
        footer_legal=footer_legal,
        eur_vat=eur_vat,
        is_credit=is_credit,
        credit_reason=(
            f"{L['credit_reason']}{L['colon']} {s.credit_reason.strip()}"
            if is_credit and s.credit_reason.strip()
            else ""
        ),
        refund_text=refund_sentence(s.payment, loc) if refunded else "",
    )


def eur_vat_view(s: InvoiceSnapshot) -> EurVatView | None:
    """What the document prints of `s.eur`: the rate, its date, each rate's VAT in euros."""
    if s.eur is None:
        return None
    L = labels(s.locale)
    x = s.eur.exchange
    rate = L["eur_rate"].format(
        rate=format_exchange_rate(x.rate, s.locale),
        currency=x.currency,
        date=format_date(x.published_on, s.locale),
    )
    rows = [
        Row(
            f"{L['vat_short']} {format_rate(row.rate, s.locale)}",
            euros(shown(row.amount, s.kind), s.locale),
        )
        for row in s.eur.vat_by_rate
        if row.amount
    ]
    total_vat = euros(shown(s.eur.total_vat, s.kind), s.locale)
    total = f"{L['eur_total_vat']}{L['colon']} {total_vat}"
    return EurVatView(title=L["eur_vat"], rate=rate, rows=rows, total=total)


def euros(amount: Decimal, locale: str) -> str:
    return format_money(amount, "EUR", locale)
