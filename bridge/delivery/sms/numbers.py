"""The customer's phone number as an SMS gateway takes it: E.164 (+33612345678), and only
when it is a mobile.

Shops pass on whatever the customer typed ("06 12 34 56 78", "+44 7911 123456", "0033…").
A number written without its country code is read as one of the shop's `default_region`; one
written with it keeps its own country. Landlines, toll-free and premium-rate numbers cannot
receive a text: better to say so to the shop owner, with the number, than to pay a gateway to
refuse it.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

# Where a country's numbering plan cannot tell mobiles from landlines (the US, Canada),
# libphonenumber says FIXED_LINE_OR_MOBILE: the gateway has the last word there.
_TEXTABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_WHAT_IT_IS = {
    PhoneNumberType.FIXED_LINE: "a landline",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.VOIP: "an internet (VoIP) line",
    PhoneNumberType.PAGER: "a pager",
    PhoneNumberType.VOICEMAIL: "a voicemail number",
}
_QUOTED_MAX = 40  # a pasted address in the phone field should not flood the owner's alert


class NotAMobile(ValueError):
    """The order's phone number cannot receive a text; `reason` says why, for the owner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _quoted(raw: str) -> str:
    text = " ".join(raw.split())
    if len(text) > _QUOTED_MAX:
        text = text[: _QUOTED_MAX - 1] + "…"
    return f"'{text}'"


def _written_nationally(raw: str) -> bool:
    return not raw.lstrip().startswith(("+", "00"))


def mobile_e164(raw: str, region: str) -> str:
    """+33612345678 for "06 12 34 56 78" (region FR); `NotAMobile` when it is not one."""
    if not raw.strip():
        raise NotAMobile("no phone number on the order")
    try:
        number = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException:
        raise NotAMobile(f"{_quoted(raw)} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        reason = f"{_quoted(raw)} is not a phone number"
        # A plausible length read in the wrong country: the likeliest case is a foreign
        # customer who left out their country code.
        if _written_nationally(raw) and phonenumbers.is_possible_number(number):
            reason += f" in {region.upper()} (a number from another country needs its +code)"
        raise NotAMobile(reason)
    kind = phonenumbers.number_type(number)
    if kind not in _TEXTABLE:
        what = _WHAT_IT_IS.get(kind)
        if what is None:
            raise NotAMobile(f"{_quoted(raw)} is not a mobile number")
        raise NotAMobile(f"{_quoted(raw)} is {what}, not a mobile")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
