"""What the pages read from a query string or a form and hand to the store: a page's row id
and a day. Both are checked before any query: a value the database cannot hold (a 25-digit
id, the year 1) would raise in the driver or in date arithmetic, a 500 instead of a message."""

from __future__ import annotations

import re
from datetime import date

from bridge.export import SALE_YEARS

# ASCII [0-9]: str.isdigit takes "²", which int() refuses, and \d takes "١".
_ROW_ID = re.compile(r"[0-9]{1,18}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def page_id(text: str) -> int | None:
    """A `before` row id; ASCII digits only, and few enough for a 64-bit column (a longer
    one would overflow the driver, not just match nothing)."""
    return int(text) if _ROW_ID.fullmatch(text) else None


def sale_day(text: str) -> date | None:
    """`text` as a YYYY-MM-DD day of SALE_YEARS, else None (not a day, or out of range)."""
    if not _DAY.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:  # 2025-02-30: the right shape, not a day
        return None
    return day if day.year in SALE_YEARS else None
