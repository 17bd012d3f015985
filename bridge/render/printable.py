"""Can the invoice font print what the order says? Checked before a number is taken.

Our font (Bitstream Vera) has no glyph for Greek, Cyrillic, CJK or Arabic letters, among
others: a buyer's name or address written only in such letters would print blank, and the
invoice would lack a mandatory mention once numbered and immutable. A field some of whose
letters print (an emoji in a product name, one Ł in a Polish street) is printed as it can be;
a field none of whose letters print quarantines the order, naming it, so the owner can write
it in Latin letters on the shop before anything is issued.
"""

from __future__ import annotations

from bridge.invoicing.amounts import Inconsistency
from bridge.model import Address, Order
from bridge.render.pdf import drawable_code_points


def unprintable_fields(order: Order) -> list[Inconsistency]:
    """Each field of `order` the invoice would print blank."""
    customer = order.customer
    fields = [("customer.name", customer.full_name), ("customer.company", customer.company)]
    fields += _address("customer.billing", customer.billing)
    if customer.shipping is not None:
        fields += _address("customer.shipping", customer.shipping)
    fields += [(f"lines[{i}] name", line.name) for i, line in enumerate(order.lines)]
    return [
        Inconsistency(
            field,
            f"{text!r} uses only letters the invoice font cannot print (it would come out "
            "blank): write it in Latin letters on the shop, then `quittance retry --all`",
        )
        for field, text in fields
        if _prints_blank(text)
    ]


def _address(where: str, address: Address) -> list[tuple[str, str]]:
    return [(f"{where}.{name}", getattr(address, name)) for name in ("line1", "city")]


def _prints_blank(text: str) -> bool:
    letters = [c for c in text if c.isalnum()]
    return bool(letters) and not any(ord(c) in drawable_code_points() for c in letters)
