"""Reading a FEC back the way a checker of art. A47 A-1 does: the header, 18 fields per line,
dates as YYYYMMDD, amounts with a decimal comma, and every entry balanced. Tests read what
the export wrote with it, never the entries in memory."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from bridge.accounting.fec import COLUMNS

AMOUNT = re.compile(r"\d+,\d{2}")  # no sign, no thousands separator, decimal comma
DATE = re.compile(r"\d{8}")


@dataclass(frozen=True)
class FecLine:
    fields: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.fields[name]

    @property
    def debit(self) -> Decimal:
        return amount(self["Debit"])

    @property
    def credit(self) -> Decimal:
        return amount(self["Credit"])


def amount(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


def fec_date(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()


def read_fec(data: bytes, *, separator: str = "\t", encoding: str = "utf-8") -> list[FecLine]:
    """The lines of a FEC; AssertionError naming the line and field for any breach of form."""
    text = data.decode(encoding)
    assert not text.startswith("\ufeff"), "no byte order mark"
    records = text.split("\r\n")
    assert records[-1] == "", "every record ends in CR LF"
    header, *body = records[:-1]
    assert header.split(separator) == list(COLUMNS), f"header: {header!r}"
    lines = []
    for n, record in enumerate(body, 2):
        assert "\n" not in record and "\r" not in record, f"line {n}: a line break inside"
        fields = record.split(separator)
        assert len(fields) == len(COLUMNS), f"line {n}: {len(fields)} fields: {record!r}"
        line = FecLine(dict(zip(COLUMNS, fields, strict=True)))
        for name in ("EcritureDate", "PieceDate", "ValidDate"):
            assert DATE.fullmatch(line[name]), f"line {n}: {name} {line[name]!r}"
            fec_date(line[name])
        for name in ("Debit", "Credit"):
            assert AMOUNT.fullmatch(line[name]), f"line {n}: {name} {line[name]!r}"
        assert (line.debit == 0) != (line.credit == 0), f"line {n}: one side only"
        assert bool(line["EcritureLet"]) == bool(line["DateLet"]), f"line {n}: lettering"
        if line["Montantdevise"]:
            assert AMOUNT.fullmatch(line["Montantdevise"]) and line["Idevise"], f"line {n}"
        assert re.fullmatch(r"[0-9]{3}[0-9A-Za-z]*", line["CompteNum"]), f"line {n}: account"
        lines.append(line)
    return lines


def entries(lines: list[FecLine]) -> dict[tuple[str, str], list[FecLine]]:
    """The postings of each entry, keyed by (JournalCode, EcritureNum)."""
    grouped: dict[tuple[str, str], list[FecLine]] = defaultdict(list)
    for line in lines:
        grouped[(line["JournalCode"], line["EcritureNum"])].append(line)
    return dict(grouped)


def unbalanced(lines: list[FecLine]) -> list[tuple[str, str]]:
    """The entries whose debits and credits differ (none expected)."""
    return [
        key
        for key, postings in entries(lines).items()
        if sum(p.debit for p in postings) != sum(p.credit for p in postings)
    ]
