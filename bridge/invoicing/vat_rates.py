"""The VAT rates that exist, and the check that an order uses only those of where it is taxed.

Pure functions over a dated table bundled with the package (`data/vat_rates.toml`: every EU member
state and the French territories, sourced from the European Commission's Taxes in Europe Database
— its header says when the data was checked). The only I/O is reading that file, once.

Until now an order line could carry any rate from 0 to 100 % and be invoiced: 99 %, 7 % and 19.6 %
were issued for a French seller. `check_rates` refuses a positive rate that is not in force, on the
day of the supply, in the territory that taxes the sale.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib.resources import files
from typing import Any

from stdnum.eu import vat as eu_vat

from bridge.invoicing.amounts import Inconsistency
from bridge.model import Address, Line, Nature, Order

RULE = "vat_rate"
# Also the vat_rate rule's remedy in legal.REMEDIES: one wording for issuing and check-invoice.
RATE_REMEDY = (
    "fix the tax rate on the shop (WooCommerce: WooCommerce → Settings → Tax; Shopify: "
    "Settings → Taxes and duties), or the delivery address if it is in the wrong territory, "
    "then `quittance retry --all`"
)
ADDRESS_REMEDY = "fix the delivery address on the shop, then `quittance retry --all`"
OLD_ORDER_REMEDY = "check the rate by hand against the law of that day before issuing"

KINDS = frozenset({"standard", "reduced", "super_reduced", "parking", "particular"})
FRANCE = "FR"
# VIES and TEDB write Greece EL; ISO 3166-1, which addresses and this table use, says GR.
_ALIASES = {"EL": "GR"}

# Postcodes that are not where their three-digit prefix suggests: Saint-Barthélemy and
# Saint-Martin kept Guadeloupe's 971 range when they left it in 2007, but French VAT does not
# apply there.
_FRENCH_POSTCODES = {"97133": "FR-BL", "97150": "FR-MF"}
# The overseas ranges of La Poste's postcodes. 980 is Monaco, which belongs to the French VAT
# territory (Franco-Monegasque convention of 1963) and applies the metropolitan rates.
_FRENCH_PREFIXES = {
    "971": "FR-GP",
    "972": "FR-MQ",
    "973": "FR-GF",
    "974": "FR-RE",
    "975": "FR-PM",
    "976": "FR-YT",
    "980": FRANCE,
    "984": "FR-TF",
    "986": "FR-WF",
    "987": "FR-PF",
    "988": "FR-NC",
}
# ISO 3166-1 codes a platform may give an overseas address instead of FR + postcode (WooCommerce
# and Shopify both list Guadeloupe, La Réunion… as countries). They are French addresses all the
# same, and must land on the same territory as FR + their postcode would.
_FRENCH_COUNTRIES = {
    "MC": FRANCE,
    "GP": "FR-GP",
    "MQ": "FR-MQ",
    "GF": "FR-GF",
    "RE": "FR-RE",
    "YT": "FR-YT",
    "BL": "FR-BL",
    "MF": "FR-MF",
    "PM": "FR-PM",
    "WF": "FR-WF",
    "PF": "FR-PF",
    "NC": "FR-NC",
    "TF": "FR-TF",
}


class UnknownTerritory(ValueError):
    """Not an EU member state, nor a French territory this table knows."""


class DateNotCovered(ValueError):
    """The table does not go back that far for this territory: it cannot say which rates applied."""


@dataclass(frozen=True)
class _Rate:
    kind: str
    rate: Decimal
    valid_from: date
    valid_to: date | None
    region: str

    def applies_on(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


@dataclass(frozen=True)
class _Territory:
    key: str
    name: str
    part_of: str | None
    covered_from: date
    rates: tuple[_Rate, ...]

    @property
    def is_french(self) -> bool:
        return self.key == FRANCE or self.part_of == FRANCE


# --- the table --------------------------------------------------------------------------------


@cache
def _table() -> Mapping[str, _Territory]:
    """The bundled table, read and validated once: a wrong entry must fail loudly, not pass."""
    resource = files("bridge.invoicing") / "data" / "vat_rates.toml"
    raw = tomllib.loads(resource.read_text(encoding="utf-8"))
    return {key: _parse_territory(key, entry) for key, entry in raw["territories"].items()}


def _parse_territory(key: str, entry: Mapping[str, Any]) -> _Territory:
    covered_from = _date(entry["covered_from"], f"{key}.covered_from")
    rates = tuple(
        _parse_rate(f"{key}.rates[{index}]", item) for index, item in enumerate(entry["rates"])
    )
    return _Territory(key, entry["name"], entry.get("part_of"), covered_from, rates)


def _parse_rate(where: str, item: Mapping[str, Any]) -> _Rate:
    kind = item["kind"]
    if kind not in KINDS:
        raise ValueError(f"vat_rates.toml {where}: unknown kind {kind!r}")
    valid_from = _date(item["valid_from"], f"{where}.valid_from")
    valid_to = _date(item["valid_to"], f"{where}.valid_to") if "valid_to" in item else None
    if valid_to is not None and valid_to < valid_from:
        raise ValueError(f"vat_rates.toml {where}: valid_to {valid_to} before {valid_from}")
    return _Rate(
        kind, _percentage(item["rate"], where), valid_from, valid_to, item.get("region", "")
    )


def _percentage(value: object, where: str) -> Decimal:
    # A string only: a TOML float (5.5) would reach Decimal already rounded to binary.
    if not isinstance(value, str):
        raise ValueError(f'vat_rates.toml {where}: write the rate as a string, e.g. "5.5"')
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"vat_rates.toml {where}: {value!r} is not a number") from None
    if not rate.is_finite() or not 0 < rate < 100:
        raise ValueError(f"vat_rates.toml {where}: {value!r} is not a positive percentage")
    return rate


def _date(value: object, where: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"vat_rates.toml {where}: expected a TOML date such as 2024-01-01")
    return value


def _territory(territory: str) -> _Territory:
    key = territory.strip().upper()
    key = _ALIASES.get(key, key)
    try:
        return _table()[key]
    except KeyError:
        known = ", ".join(sorted(_table()))
        raise UnknownTerritory(
            f"{territory!r} is neither an EU member state nor a French territory of the VAT "
            f"rates table (known: {known})"
        ) from None


def _in_force(entry: _Territory, on: date) -> tuple[_Rate, ...]:
    if isinstance(on, datetime):
        # A datetime would compare as a date in some places and fail in others; which day a
        # supply falls on is the caller's decision (and its time zone's), not a silent cast here.
        raise TypeError(f"pass the day of the supply as a date, not the datetime {on}")
    if on < entry.covered_from:
        raise DateNotCovered(
            f"the VAT rates table covers {entry.key} only from {entry.covered_from}, not {on}"
        )
    return tuple(rate for rate in entry.rates if rate.applies_on(on))


# --- public look-ups ----------------------------------------------------------------------------


def member_states() -> frozenset[str]:
    """The EU member states of the table (ISO 3166-1 codes, Greece as GR)."""
    return frozenset(key for key, entry in _table().items() if entry.part_of is None)


def rates_in_force(territory: str, on: date) -> frozenset[Decimal]:
    """The positive VAT rates (percent) of a member state or FR-* territory on a day.

    Rates compare by value (`Decimal("20.00") in rates` is true). Raises `UnknownTerritory` for a
    key the table does not know, `DateNotCovered` for a day before its `covered_from`.
    """
    return frozenset(rate.rate for rate in _in_force(_territory(territory), on))


def standard_rate(territory: str, on: date) -> Decimal | None:
    """The national standard rate on a day; None where French VAT does not apply (FR-GF…)."""
    entry = _territory(territory)
    national = [
        rate.rate for rate in _in_force(entry, on) if rate.kind == "standard" and not rate.region
    ]
    if len(national) > 1:
        raise ValueError(f"vat_rates.toml: {entry.key} has two standard rates on {on}: {national}")
    return national[0] if national else None


def french_territory(postcode: str) -> str:
    """The French territory of a postcode: FR, FR-COR, FR-GP, FR-MQ, FR-GF, FR-RE, FR-YT…

    Monaco (98000) is FR: it is taxed as metropolitan France. Saint-Barthélemy (97133),
    Saint-Martin (97150), Saint-Pierre-et-Miquelon (975), the TAAF (984), Wallis-et-Futuna (986),
    French Polynesia (987) and New Caledonia (988) get their own FR-* key, where French VAT does
    not apply. Raises `UnknownTerritory` for a postcode that is not a French one.
    """
    code = "".join(postcode.split())
    if not code:
        # Nothing to place the sale with (a download, an order without address): the general
        # rule for a sale to a consumer is the seller's place, metropolitan France for a French
        # shop; a DOM rate on such an order is then refused and points at the missing address.
        return FRANCE
    if len(code) != 5 or not (code.isascii() and code.isdigit()):
        raise UnknownTerritory(f"{postcode!r} is not a French postcode (five digits)")
    if code in _FRENCH_POSTCODES:
        return _FRENCH_POSTCODES[code]
    if code.startswith("20"):
        # 20000–20999 are the two Corsican departments (2A, 2B).
        return "FR-COR"
    if code[:3] in _FRENCH_PREFIXES:
        return _FRENCH_PREFIXES[code[:3]]
    if 1 <= int(code[:2]) <= 95:
        return FRANCE
    # 00…, 96…, 99… and the unassigned 97x/98x ranges: guessing metropolitan France here could
    # accept 20 % on a parcel to the other side of the world.
    raise UnknownTerritory(f"{postcode!r} is in no French department or territory")


def delivery_address(order: Order) -> Address:
    """Where the goods go: the shipping address when given and non-empty, else the billing one."""
    shipping = order.customer.shipping
    if shipping is not None and not shipping.is_empty():
        return shipping
    return order.customer.billing


def taxing_territory(
    order: Order, seller_country: str, *, oss: bool = False, seller_postcode: str = ""
) -> str | None:
    """The territory whose VAT rates the order's goods (and their shipping and fees) must use —
    the rule as built.

    - A French seller's sale delivered to a French address (FR, Monaco, or an overseas code such
      as GP or RE) is taxed in the French territory of the delivery postcode (`french_territory`;
      an overseas country code decides on its own). An address without country is taken as FR.
    - Delivered to a consumer in another EU member state (a distance sale, CGI art. 258 A):
      "FR", the seller's French VAT, while the seller's EU distance sales stay under the
      10 000 € a year threshold (`[seller] eu_distance_sales = "french_vat"`); the customer's
      country once the seller declares them through the One-Stop Shop (`oss=True`). A business
      buyer with a VAT number buys exempt (intra-EU supply): its 0 % lines are checked
      elsewhere, any rate it was charged is French.
    - Delivered outside the EU: None. There is no VAT territory: 0 % is expected, and another
      rule checks the exemption.
    - A seller established in another member state: its own country code.

    Not modelled yet: goods sent from metropolitan France to a DOM are an export (CGI art. 294-2)
    rather than a DOM sale; the DOM rates fit a seller established there.

    Raises `UnknownTerritory` when `seller_country` is not a member state, or when a French
    delivery postcode is in no French territory.
    """
    address = delivery_address(order)
    consumer = not _eu_business(order.customer.vat_number, seller_country)
    return territory_of(
        seller_country,
        address.country,
        address.postcode,
        destination=oss and consumer,
        seller_postcode=seller_postcode,
    )


def _eu_business(vat_number: str, seller_country: str) -> bool:
    """A buyer with a checksum-valid VAT number of another member state buys as a business
    (an intra-EU supply); anything else typed in the field ("N/A", a French number) does not
    make a consumer a business."""
    number = vat_number.strip()
    if not number:
        return False
    try:
        if not eu_vat.is_valid(number):
            return False
        prefix = eu_vat.compact(number)[:2].upper()
    except Exception:  # stdnum raises on some malformed inputs instead of returning False
        return False
    return _ALIASES.get(prefix, prefix) != _ALIASES.get(seller_country, seller_country)


def territory_of(
    seller_country: str,
    country: str,
    postcode: str,
    *,
    destination: bool = False,
    seller_postcode: str = "",
) -> str | None:
    """`taxing_territory` for a delivery to `country` / `postcode` (what a snapshot keeps);
    `destination`: an EU distance sale is taxed in the customer's member state (OSS)."""
    seller = _member_state(seller_country)
    if seller != FRANCE:
        return seller
    place = french_place(country, postcode)
    if place is not None:
        return place if _same_vat_area(place, _seller_place(seller_postcode)) else None
    if country in member_states():
        return country if destination else FRANCE
    return None


# Metropolitan France and Corsica: one VAT territory, where a metropolitan seller charges VAT.
METROPOLITAN = frozenset({FRANCE, "FR-COR"})
# ISO 3166's reserved code for metropolitan France: what a delivery there counts as, seen
# from a seller established overseas (outside the EU VAT area, hence an export for them).
METROPOLITAN_CODE = "FX"


def _seller_place(seller_postcode: str) -> str:
    try:
        return french_territory(seller_postcode) if seller_postcode.strip() else FRANCE
    except UnknownTerritory:
        return FRANCE


def _same_vat_area(delivery: str, seller: str) -> bool:
    """Goods taxed where they are delivered only within the seller's own VAT area: metropolitan
    France with Corsica, or the seller's own overseas department. From one to the other they
    are exported (CGI art. 294-2): no French VAT territory, 0 % expected."""
    if delivery in METROPOLITAN:
        return seller in METROPOLITAN
    return delivery == seller


def french_place(country: str, postcode: str) -> str | None:
    """The French territory of an address (FR, Monaco, an overseas code or FR + 97x postcode),
    None when the address is not French. Raises `UnknownTerritory` for an unplaceable French
    postcode."""
    country = (country or FRANCE).upper()
    if country in _FRENCH_COUNTRIES:
        return _FRENCH_COUNTRIES[country]
    if country == FRANCE:
        return french_territory(postcode)
    return None


def vat_country(country: str, postcode: str, *, seller_postcode: str = "") -> str:
    """The country a delivery counts as for VAT, seen from a French seller: "FR" within the
    seller's VAT area (Monaco included), the overseas code ("RE", "GF"…) for a French address
    outside it (an export), the address's own country otherwise. An unplaceable French
    postcode counts as metropolitan France (the rates check says so when it matters)."""
    try:
        place = french_place(country, postcode)
    except UnknownTerritory:
        return FRANCE
    if place is None:
        return (country or FRANCE).upper()
    seller_place = _seller_place(seller_postcode)
    if _same_vat_area(place, seller_place):
        return FRANCE
    if place in METROPOLITAN:  # from an overseas seller to metropolitan France: an export
        return METROPOLITAN_CODE
    return place.removeprefix("FR-") if place.startswith("FR-") else place


def line_territory(line: Line, goods_territory: str | None) -> str | None:
    """A service to a consumer is taxed where the seller is established (CGI art. 259, 2°): in
    France even when the goods of the same order go to another member state under OSS.
    (Electronically supplied services, taxed where the consumer is, are not told apart yet.)"""
    abroad = goods_territory is not None and not _territory(goods_territory).is_french
    return FRANCE if line.nature is Nature.services and abroad else goods_territory


def _member_state(country: str) -> str:
    if country.upper() == "MC":  # Monaco is in the French VAT territory (convention of 1963)
        return FRANCE
    entry = _territory(country)
    if entry.part_of is not None:
        raise UnknownTerritory(f"{country!r} is a French territory, not a seller's country")
    return entry.key


# --- the check ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TaxedRate:
    index: int
    line: Line
    rate: Decimal

    @property
    def where(self) -> str:
        # The same naming as the other checks of an order's lines (amounts.check_order).
        return f"lines[{self.index}] ({self.line.name!r})"


def check_rates(
    order: Order,
    *,
    seller_country: str,
    on: date,
    oss: bool = False,
    seller_postcode: str = "",
) -> list[Inconsistency]:
    """Every positive tax rate of the order that is not in force on `on` where the sale is taxed.

    Empty list = every rate exists there that day. Zero rates are left to the exemption rules,
    and so are sales with no VAT territory (see `taxing_territory`). Raises `UnknownTerritory`
    when `seller_country` is not a member state: a configuration error, not the order's.
    """
    seller = _member_state(seller_country)
    taxed = [
        _TaxedRate(index, line, tax.rate)
        for index, line in enumerate(order.lines)
        for tax in line.taxes
        if tax.rate != 0
    ]
    if not taxed:
        return []
    unplaced = ""
    try:
        goods_territory = taxing_territory(order, seller, oss=oss, seller_postcode=seller_postcode)
    except UnknownTerritory as error:
        # A postcode typo ("7500", "92400 CEDEX") on a French address: its rates are
        # metropolitan unless a rate says otherwise, and then the address is named.
        goods_territory, unplaced = FRANCE, f" (the delivery address could not be placed: {error})"
    exported = goods_territory is None and _is_french_address(order)
    problems: list[Inconsistency] = []
    for item in taxed:
        territory = line_territory(item.line, goods_territory)
        if exported and item.line.nature is Nature.services:
            # a service to a consumer is taxed where the seller is established (art. 259, 2°)
            territory = _seller_place(seller_postcode)
        elif exported:
            problems.append(_exported(item))
            continue
        if territory is None:
            continue
        try:
            valid = rates_in_force(territory, on)
        except DateNotCovered as error:
            return [_unchecked(taxed[0], str(error), OLD_ORDER_REMEDY)]
        if item.rate not in valid:
            refusal = _refusal(item, territory, valid, on)
            problems.append(Inconsistency(refusal.field, refusal.message + unplaced))
    return problems


def _is_french_address(order: Order) -> bool:
    address = delivery_address(order)
    try:
        return french_place(address.country, address.postcode) is not None
    except UnknownTerritory:
        return True


def _exported(item: _TaxedRate) -> Inconsistency:
    return Inconsistency(
        item.where,
        f"{RULE}: {_percent(item.rate)} % charged, but goods delivered overseas from the "
        "seller's VAT area are exported (CGI art. 294-2): no VAT is due; fix the shop's tax "
        "zone for the overseas departments (0 %), then `quittance retry --all`",
    )


def _unchecked(item: _TaxedRate, reason: str, remedy: str) -> Inconsistency:
    return Inconsistency(
        item.where, f"{RULE}: {_percent(item.rate)} % cannot be checked: {reason}; {remedy}"
    )


def _refusal(
    item: _TaxedRate, territory: str, valid: frozenset[Decimal], on: date
) -> Inconsistency:
    listing = ", ".join(_percent(rate) for rate in sorted(valid)) or "none"
    hints = "".join(f"; {hint}" for hint in _hints(item.rate, territory, on))
    return Inconsistency(
        item.where,
        f"{RULE}: {_percent(item.rate)} % is not a VAT rate of {territory} on {on.isoformat()} "
        f"(valid: {listing}){hints}; {RATE_REMEDY}",
    )


def _hints(rate: Decimal, territory: str, on: date) -> list[str]:
    """What the owner most likely got wrong: a rate of another French territory, or an old one."""
    entry = _territory(territory)
    hints: list[str] = []
    ended = [r.valid_to for r in entry.rates if r.rate == rate and r.valid_to and r.valid_to < on]
    if ended:
        hints.append(f"{_percent(rate)} % stopped applying in {entry.key} after {max(ended)}")
    if entry.is_french:
        elsewhere = [
            other.key
            for other in _table().values()
            if other.is_french and other.key != entry.key and _has_rate(other, rate, on)
        ]
        if elsewhere:
            hints.append(
                f"{_percent(rate)} % is a rate of {', '.join(sorted(elsewhere))}: "
                "check the delivery address"
            )
    return hints


def _has_rate(entry: _Territory, rate: Decimal, on: date) -> bool:
    return on >= entry.covered_from and any(r.rate == rate for r in _in_force(entry, on))


def _percent(rate: Decimal) -> str:
    """20.00 → "20", 5.50 → "5.5": the rate as a person writes it."""
    return format(rate.normalize(), "f")
