"""The FEC (fichier des écritures comptables, art. A47 A-1 du LPF): entries as its 18 columns.

Choices, as A47 A-1 allows them and as `LISEZMOI.txt` in the export states:
- a flat file, the first line the field names, one posting per line ending in CR LF;
- fields separated by a tab (or "|" with `[accounting] fec_separator = "pipe"`);
- encoded in UTF-8 without a byte order mark (A47 A-1 XII 1° allows ASCII, ISO 8859-15 or
  UTF-8: UTF-8 writes every customer's name as it is); `fec_encoding = "iso-8859-15"` for an
  older accounting package, where a character outside Latin-9 is written as its unaccented
  letter, else "?";
- dates as YYYYMMDD; amounts with a decimal comma, two decimals, no thousands separator and
  no sign, in a Debit and a Credit column;
- labels cleaned of the separators, line breaks and control characters (a customer's name
  with a tab or a "|" would otherwise shift every column after it).

Pure: entries in, text lines out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from functools import lru_cache

from bridge.accounting.entries import Entry

COLUMNS = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
)
LATIN9 = "iso-8859-15"
LINE_END = "\r\n"
SEPARATORS = {"tab": "\t", "pipe": "|"}
# Tabs, pipes, line breaks (including Unicode's), every other control character.
_UNSAFE = re.compile(r"[\t|\r\n\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]+")
_SPACES = re.compile(r"\s+")


def fec_filename(siren: str, closing: date) -> str:
    """`{SIREN}FEC{closing date of the fiscal year, YYYYMMDD}.txt`, as A47 A-1 names it."""
    return f"{siren}FEC{closing:%Y%m%d}.txt"


@lru_cache(maxsize=4096)  # journal and account names recur on every posting
def clean_label(text: str, encoding: str = "utf-8") -> str:
    """A label safe in any FEC field: no separator or line break, one space between words,
    only characters `encoding` can write."""
    flat = _SPACES.sub(" ", _UNSAFE.sub(" ", text)).strip()
    if encoding != LATIN9:
        return flat
    return "".join(_latin9(char) for char in flat)


def _latin9(char: str) -> str:
    try:
        char.encode(LATIN9)
        return char
    except UnicodeEncodeError:
        base = unicodedata.normalize("NFKD", char).encode(LATIN9, "ignore").decode(LATIN9)
        base = _UNSAFE.sub("", base).strip()  # NFKD may decompose to a space or a control
        return base or "?"


def fec_amount(amount: Decimal) -> str:
    """1234.5 → "1234,50": decimal comma, two decimals, no sign (the side says it)."""
    return f"{abs(amount):.2f}".replace(".", ",")


@lru_cache(maxsize=4096)
def fec_date(day: date | None) -> str:
    return f"{day:%Y%m%d}" if day is not None else ""


def header(separator: str) -> str:
    return separator.join(COLUMNS) + LINE_END


def entry_lines(entry: Entry, separator: str, encoding: str = "utf-8") -> Iterator[str]:
    """One FEC line per posting of `entry`, its labels fit for `encoding`."""

    def clean(text: str) -> str:
        return clean_label(text, encoding)

    for posting in entry.postings:
        fields = (
            clean(entry.journal),
            clean(entry.journal_label),
            clean(entry.number),
            fec_date(entry.day),
            clean(posting.account),
            clean(posting.account_label),
            "",
            "",
            clean(entry.piece),
            fec_date(entry.piece_date),
            clean(posting.label),
            fec_amount(posting.debit),
            fec_amount(posting.credit),
            posting.letter,
            fec_date(entry.lettered_on) if posting.letter else "",
            fec_date(entry.valid_date),
            fec_amount(posting.in_currency) if posting.in_currency is not None else "",
            posting.currency,
        )
        yield separator.join(fields) + LINE_END
