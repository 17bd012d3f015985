"""VAT rates of a WooCommerce order: from `rate_percent` when the payload has it, from the
shop's tax settings (`/taxes/<id>`) or derived from the amounts and snapped to a known EU
rate when it has not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bridge.model import TaxLine
from connectors.woocommerce.values import ZERO, MappingError, dec, text

# VAT rates a derived rate is snapped to: French ones are preferred (the shop is French),
# then other EU standard/reduced rates.
FRENCH_RATES = tuple(
    Decimal(r) for r in ("20", "10", "5.5", "2.1", "0", "8.5", "13", "1.75", "1.05", "0.9")
)


OTHER_RATES = tuple(
    Decimal(r)
    for r in (
        "21",
        "19",
        "7",
        "22",
        "23",
        "24",
        "25",
        "27",
        "9",
        "6",
        "12",
        "15",
        "16",
        "17",
        "18",
        "3",
        "4",
        "5",
        "8",
        "13.5",
        "14",
        "4.8",
        "7.5",
    )
)


@dataclass
class _RateAcc:
    tax: Decimal = ZERO
    base: Decimal = ZERO
    lines: int = 0


def derive_rate(tax: Decimal, base: Decimal, lines: int = 1) -> Decimal | None:
    """The VAT percent that turned `base` into `tax` (summed over `lines` rounded lines).

    Snapped to a known rate when it explains the amounts within the rounding error (half a
    cent per line) — French rates first, then other EU rates; otherwise the raw ratio to 2
    decimals (and `check_order` will say whether the line adds up). None when the base is
    zero (nothing to learn from)."""
    if base == 0:
        return None
    ratio = tax / base * 100
    slack = Decimal("0.005") * max(lines, 1) + Decimal("0.000001")  # half a cent per line

    def explains(rate: Decimal) -> bool:
        return abs(base * rate / 100 - tax) <= slack

    for family in (FRENCH_RATES, OTHER_RATES):
        fits = [r for r in family if explains(r)]
        if fits:
            return min(fits, key=lambda r: abs(r - ratio))
    return ratio.quantize(Decimal("0.01"))


def _taxed_items(raw: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for key in ("line_items", "shipping_lines", "fee_lines"):
        for item in raw.get(key) or []:
            if isinstance(item, Mapping):
                yield item


def rate_table(
    raw: Mapping[str, Any], known: Mapping[int, Decimal] | None = None
) -> tuple[dict[int, Decimal], dict[int, str]]:
    """rate_id → percent and rate_id → label, for every rate the order's lines use.

    Priority: `tax_lines[].rate_percent`, then `known` (from `GET /taxes/<id>`), then a rate
    derived from the order's own amounts."""
    percents: dict[int, Decimal] = {}
    labels: dict[int, str] = {}
    for tl in raw.get("tax_lines") or []:
        if not isinstance(tl, Mapping) or tl.get("rate_id") in (None, ""):
            continue
        rid = int(tl["rate_id"])
        labels[rid] = text(tl.get("label") or tl.get("rate_code"))
        if tl.get("rate_percent") not in (None, ""):
            percents[rid] = dec(tl["rate_percent"], f"tax_lines[{rid}].rate_percent")
    for rid, pct in (known or {}).items():
        percents.setdefault(int(rid), pct)
    acc: dict[int, _RateAcc] = {}
    for item in _taxed_items(raw):
        for tax in item.get("taxes") or []:
            if not isinstance(tax, Mapping) or tax.get("id") in (None, ""):
                continue
            rid = int(tax["id"])
            if rid in percents or tax.get("total") in (None, ""):
                continue
            a = acc.setdefault(rid, _RateAcc())
            a.tax += dec(tax.get("total"))
            a.base += dec(item.get("total"))
            a.lines += 1
    for rid, a in acc.items():
        derived = derive_rate(a.tax, a.base, a.lines)
        if derived is None:
            if a.tax == 0:
                percents[rid] = ZERO
                continue
            raise MappingError(
                f"tax rate {rid}: no rate_percent in tax_lines and no taxed base to derive it "
                f"from (tax {a.tax} on a zero base)"
            )
        percents[rid] = derived
    return percents, labels


def missing_rate_ids(raw: Mapping[str, Any]) -> set[int]:
    """Rate ids used by lines whose percent the payload does not state (ask /taxes/<id>)."""
    stated = {
        int(tl["rate_id"])
        for tl in raw.get("tax_lines") or []
        if isinstance(tl, Mapping)
        and tl.get("rate_id") not in (None, "")
        and tl.get("rate_percent") not in (None, "")
    }
    used = {
        int(t["id"])
        for item in _taxed_items(raw)
        for t in item.get("taxes") or []
        if isinstance(t, Mapping) and t.get("id") not in (None, "") and t.get("total") not in ("",)
    }
    return used - stated


def line_taxes(
    item: Mapping[str, Any], percents: Mapping[int, Decimal], labels: Mapping[int, str], where: str
) -> list[TaxLine]:
    taxes: list[TaxLine] = []
    for tax in item.get("taxes") or []:
        if not isinstance(tax, Mapping) or tax.get("total") in (None, ""):
            continue  # "" = this rate does not apply to the line (compound/zero setups)
        rid = int(tax["id"])
        amount = dec(tax.get("total"), f"{where}.taxes[{rid}].total")
        if rid not in percents:
            raise MappingError(f"{where}: tax rate id {rid} is not in the order's tax_lines")
        taxes.append(TaxLine(rate=percents[rid], amount=amount, label=labels.get(rid, "")))
    if not taxes:
        # No per-rate split: an untaxed line, or a plugin that only fills total_tax.
        total_tax = dec(item.get("total_tax"), f"{where}.total_tax")
        if total_tax != 0:
            rate = derive_rate(total_tax, dec(item.get("total"))) or ZERO
            taxes.append(TaxLine(rate=rate, amount=total_tax))
    return taxes
