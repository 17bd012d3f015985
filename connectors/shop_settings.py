"""What every `[[shops]]` entry has, whatever its platform; each platform package adds its own
keys in its `settings` module, and `bridge.config` assembles them through the registry."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from bridge.settings_types import Section, Text, lower

SHOP_NAME = r"^[a-z0-9][a-z0-9_-]{0,49}$"


class ShopSettings(Section):
    platform: str  # each platform's schema narrows it to its own name
    name: str = Field(pattern=SHOP_NAME, description="short id used in URLs: a-z 0-9 _ -")
    enabled: bool = Field(default=True, description="false = ignore this shop")
    poll_interval_seconds: int = Field(default=300, ge=10, description="safety-net polling")
    poll_overlap_seconds: int = Field(
        default=600, ge=0, description="how far back each poll re-reads, for clock skew"
    )
    default_locale: Annotated[Literal["fr", "en", ""], BeforeValidator(lower)] = Field(
        default="", description="invoice language when the order has none ('' = seller's)"
    )
    send_email: bool = Field(default=True, description="email the invoice to the customer")
    timeout_seconds: float = Field(default=20.0, gt=0, le=120, description="HTTP timeout")
    operation_date_property: Text = Field(
        default="",
        description="the name of the line property holding the date of the operation, "
        "looked for before the usual ones (Date, Date de la prestation…)",
    )
