"""A customer's words as the owner will read them (`quittance stats`, an alert): one line,
no control or bidirectional-formatting character, which a terminal would obey (clear the
screen, write the clipboard, show a line reversed)."""

from __future__ import annotations

import re
import unicodedata

_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain_line(text: str, limit: int) -> str:
    kept = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(_BIDI.sub("", kept).split())[:limit]
