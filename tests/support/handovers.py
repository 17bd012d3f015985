"""A document as every channel is handed it (`bridge.delivery.channel.Handover`), for the
channel modules' own tests: a French invoice of 42,00 €, whatever a test changes."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from bridge.delivery.channel import Handover


def handover(**changes: Any) -> Handover:
    doc = Handover(
        shop="boutique",
        number="FA-2026-000042",
        kind="invoice",
        locale="fr",
        amount=Decimal("42.00"),
        currency="EUR",
        order_reference="#1042",
        customer_name="Marie Dupont",
        customer_email="marie@example.fr",
        customer_phone="",
        link="",
        pdf=b"%PDF-1.7\n",
        filename="FA-2026-000042.pdf",
    )
    return dataclasses.replace(doc, **changes)
