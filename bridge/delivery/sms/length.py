"""How long a text is as an SMS: its encoding, its length in that encoding, and the segments
(each billed as one message) it is sent in.

A text written only with the GSM 03.38 alphabet travels in GSM-7: a character of the basic
table is one septet, one of the extension table (€ [ ] { } ~ \\ | ^ and form feed) two, as it
is sent as ESC + code. One character outside both tables (ç, ê, ’, an emoji) sends the whole
text in UCS-2, counted in UTF-16 code units (an emoji outside the BMP counts two).

One segment carries 160 septets or 70 UCS-2 units. A longer text is split into parts that
each lose room to the concatenation header: 153 septets or 67 units per part. A part never
ends in the middle of a character (an ESC sequence or a surrogate pair moves whole to the
next part), so a text can take one more part than its length divided by 153 says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 basic table, in code order (0x00-0x7F), without ESC (0x1B): an ESC written in a
# text is no character of the alphabet, it would start an extension sequence.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"  # 0x10-0x1F, ESC (0x1B) between Ξ and Æ left out
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each is sent as ESC + its code, two septets.
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"GSM-7": 160, "UCS-2": 70}  # one segment alone
PER_PART = {"GSM-7": 153, "UCS-2": 67}  # each part of a concatenated text


@dataclass(frozen=True, slots=True)
class SmsLength:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int  # 0 for an empty text


def is_gsm7(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def _costs(text: str, encoding: Encoding) -> list[int]:
    """What each character takes in `encoding`: septets, or UTF-16 code units."""
    if encoding == "GSM-7":
        return [2 if ch in GSM_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _parts(costs: Iterable[int], per_part: int) -> int:
    """Parts needed when no character may be split between two of them."""
    parts, room = 0, 0
    for cost in costs:
        if cost > room:
            parts, room = parts + 1, per_part
        room -= cost
    return parts


def measure(text: str) -> SmsLength:
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    costs = _costs(text, encoding)
    units = sum(costs)
    if units == 0:
        segments = 0
    elif units <= SINGLE[encoding]:
        segments = 1
    else:
        segments = _parts(costs, PER_PART[encoding])
    return SmsLength(encoding=encoding, units=units, segments=segments)
