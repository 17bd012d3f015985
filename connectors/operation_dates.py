"""The date of the operation as a shop states it on a line: a workshop's "Date", a booking's
"Booking Date", a pre-order's "Date de livraison". Pure, shared by the platforms' mappings.

A French invoice must give the date the goods are delivered or the service is done when it is
not the issue date (CGI art. 242 nonies A, I-7°). Platforms have no field for it: the date
lives in a line property a plugin, an app or the owner chose, in whatever format it wrote.
So a property is found by its name (the shop's own `operation_date_property` first, then the
names below), and its value is read only when it is unmistakably a date. Anything else gives
no date: printing none is what the invoice did before, printing a wrong one is worse.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date

# Names plugins and owners give the property, matched without case, accents or a final colon.
# Only visible names: a hidden key ("_booking_start") is read when the shop configures it.
DEFAULT_PROPERTIES = (
    "Date de l'opération",
    "Date de la prestation",
    "Date de livraison",
    "Date de livraison prévue",
    "Date de réservation",
    "Date",
    "Booking Date",
    "Delivery date",
    "Date of service",
    "Date of supply",
)

_MONTHS = {
    # French (accents already removed) and English, full and abbreviated.
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4, "avr": 4,
    "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9, "sept": 9,
    "octobre": 10, "novembre": 11, "decembre": 12, "dec": 12,
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12,
}  # fmt: skip

# Each pattern yields (year, month, day) groups by name; all of them are tried on the text.
_PATTERNS = (
    re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)"),  # 2026-12-12[T…]
    # Day first, as a French shop writes it: 12/12/2026, 12.12.2026, 12-12-2026.
    re.compile(r"(?<!\d)(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})(?!\d)"),
    # 12 décembre 2026, samedi 1er déc. 2026, 12 December 2026
    re.compile(
        r"(?<!\d)(?P<d>\d{1,2})(?:er|st|nd|rd|th)?\s+(?P<mn>[a-z]+)\.?,?\s+(?P<y>\d{4})(?!\d)"
    ),
    # December 12, 2026 / Dec 12th 2026
    re.compile(r"\b(?P<mn>[a-z]+)\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})(?!\d)"),
)


def _plain(text: str) -> str:
    """Case, accents, curly quotes, spacing and a trailing colon do not tell two names apart."""
    text = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(text.split()).rstrip(" :")


def property_names(configured: str = "") -> tuple[str, ...]:
    """The names to look for, the shop's own first."""
    own = (configured.strip(),) if configured.strip() else ()
    return own + DEFAULT_PROPERTIES


def parse_date(value: object) -> date | None:
    """The date a property's value states, or None when it states no real date.

    A value naming several dates ("du 12 au 14/12/2026" cannot be read, "12/12/2026 –
    14/12/2026" can) gives the last one: the law asks for the day the operation is completed.
    """
    if not isinstance(value, str):
        return None
    text = _plain(value)
    found: list[date] = []
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            parts = match.groupdict()
            month = _MONTHS.get(parts["mn"]) if parts.get("mn") else int(parts["m"])
            if month is None:
                continue
            try:
                found.append(date(int(parts["y"]), month, int(parts["d"])))
            except ValueError:  # 31/02/2026: not a date, whatever the pattern says
                continue
    return max(found) if found else None


def find_operation_date(
    properties: Iterable[tuple[str, object]], names: Iterable[str]
) -> tuple[date | None, str]:
    """(the date, the property's name as the shop wrote it) from a line's (name, value)
    pairs; the first of `names` present with a readable date wins. (None, "") when none."""
    pairs = [(name, value) for name, value in properties if name]
    for wanted in names:
        key = _plain(wanted)
        for name, value in pairs:
            if _plain(name) == key:
                when = parse_date(value)
                if when is not None:
                    return when, name
    return None, ""
