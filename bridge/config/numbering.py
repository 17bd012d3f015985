"""`[numbering]`: how invoice numbers look (series, template, yearly reset), checked so that
every number the template can produce is legal (35 characters from A-Za-z0-9+-_/)."""

from __future__ import annotations

import re
import string
from datetime import date

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from bridge.settings_types import (
    Section,
    fail,
    fail_field,
)

MAX_NUMBER_LENGTH = 35  # French e-invoicing rule BR-FR-01/02
NUMBER_CHARS = "A-Za-z0-9+-_/"
_NUMBER_LITERAL = re.compile(r"[A-Za-z0-9+\-_/]*")
_SEQ_SPEC = re.compile(r"0([1-9][0-9]?)d")
_WORST_SEQ_DIGITS = 9  # seq = 999 999 999


class NumberingConfig(Section):
    """How invoice numbers look. Numbers come from the store's counter, gapless per series."""

    series: str = Field(
        default="FA",
        pattern=r"^[A-Za-z0-9+\-_/]{1,20}$",
        description=f"the series name: 1-20 characters from {NUMBER_CHARS}",
    )
    format: str = Field(
        default="FA-{year}-{seq:06d}",
        description="the number template, e.g. 'FA-{year}-{seq:06d}'",
    )
    yearly_reset: bool = Field(
        default=True, description="true to restart at 1 every 1 January (format needs {year})"
    )
    # Credit notes (avoirs) have their own gapless series: numbered apart from the invoices,
    # so that neither series shows a gap when a refund comes between two sales.
    credit_note_series: str = Field(
        default="AV",
        pattern=r"^[A-Za-z0-9+\-_/]{1,20}$",
        description=f"the credit notes' series name: 1-20 characters from {NUMBER_CHARS}",
    )
    credit_note_format: str = Field(
        default="AV-{year}-{seq:06d}",
        description="the credit note number template, e.g. 'AV-{year}-{seq:06d}'",
    )

    @field_validator("format", "credit_note_format")
    @classmethod
    def _format(cls, value: str) -> str:
        _check_number_format(value)
        return value

    @model_validator(mode="after")
    def _credit_notes_apart(self) -> NumberingConfig:
        if self.credit_note_series == self.series:
            raise fail_field(
                "credit_note_series",
                self.credit_note_series,
                f"a series other than the invoices' ({self.series!r}): credit notes are "
                "numbered in their own gapless series, e.g. 'AV'",
            )
        # Numbers of the two series must never be equal, for any year or sequence: a fixed
        # beginning of each, neither the start of the other, guarantees it. Invoice numbers
        # that start with a placeholder start with a digit: a credit note's letter does.
        ours, theirs = _fixed_start(self.credit_note_format), _fixed_start(self.format)
        apart = (
            not ours[0].isdigit() if ours and not theirs
            else bool(ours) and not ours.startswith(theirs) and not theirs.startswith(ours)
        )  # fmt: skip
        if not apart:
            raise fail_field(
                "credit_note_format",
                self.credit_note_format,
                "a template that starts with fixed text of its own, not the beginning of the "
                f"invoices' format {self.format!r} (so no credit note number can ever equal an "
                "invoice number), e.g. 'AV-{year}-{seq:06d}'",
            )
        return self

    def for_credit_notes(self) -> NumberingConfig:
        """The same rules applied to the credit notes' series and template."""
        return self.model_copy(
            update={"series": self.credit_note_series, "format": self.credit_note_format}
        )

    @model_validator(mode="after")
    def _reset_needs_year(self) -> NumberingConfig:
        for key in ("format", "credit_note_format"):
            if self.yearly_reset and "year" not in _placeholders(getattr(self, key)):
                raise fail_field(
                    key,
                    getattr(self, key),
                    "a format containing {year} when yearly_reset = true (otherwise numbers "
                    "would repeat every January): add {year}, e.g. 'FA-{year}-{seq:06d}', or "
                    "set yearly_reset = false",
                )
        return self

    def period_for(self, issued_local_date: date) -> str:
        """The counter period the date belongs to: "2026" with a yearly reset, else ""."""
        return f"{issued_local_date.year:04d}" if self.yearly_reset else ""

    def format_number(self, seq: int, issued_local_date: date) -> str:
        """Render the invoice number of sequence `seq` issued on `issued_local_date`."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise ValueError(f"sequence must be a positive integer, got {seq!r}")
        number = _render_number(self.format, seq, issued_local_date)
        if len(number) > MAX_NUMBER_LENGTH:
            raise ValueError(
                f"invoice number {number!r} is longer than {MAX_NUMBER_LENGTH} characters"
            )
        return number


def _render_number(fmt: str, seq: int, day: date) -> str:
    return fmt.format(year=f"{day.year:04d}", month=f"{day.month:02d}", seq=seq)


def _fixed_start(fmt: str) -> str:
    """The literal text before the first placeholder ('FA-' of 'FA-{year}-{seq:06d}')."""
    return fmt.split("{", 1)[0]


def _placeholders(fmt: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(fmt) if name is not None]
    except ValueError:
        return []


def _check_number_format(fmt: str) -> None:
    help_ = "e.g. 'FA-{year}-{seq:06d}'"
    try:
        parts = list(string.Formatter().parse(fmt))
    except ValueError:
        raise fail(f"a format with balanced braces, {help_}") from None
    length = 0
    has_seq = False
    for literal, name, spec, conversion in parts:
        if not _NUMBER_LITERAL.fullmatch(literal):
            bad = "".join(sorted({c for c in literal if not _NUMBER_LITERAL.fullmatch(c)}))
            raise fail(
                f"only the characters {NUMBER_CHARS} outside placeholders (found {bad!r}), {help_}"
            )
        length += len(literal)
        if name is None:
            continue
        if name not in ("year", "month", "seq") or conversion:
            raise fail(
                f"only the placeholders {{year}}, {{month}} and {{seq}} (found {{{name}}}), {help_}"
            )
        if name == "seq":
            has_seq = True
            match = _SEQ_SPEC.fullmatch(spec or "") if spec else None
            if spec and not match:
                raise fail(f"{{seq}} or {{seq:0Nd}} for N digits with leading zeros, {help_}")
            length += max(_WORST_SEQ_DIGITS, int(match.group(1)) if match else 0)
        else:
            if spec:
                raise fail(
                    f"{{{name}}} without a format spec ({{year}} is always 4 digits, {{month}} "
                    f"always 2), {help_}"
                )
            length += 4 if name == "year" else 2
    if not has_seq:
        raise fail(f"a format containing {{seq}} (the sequential number), {help_}")
    if length > MAX_NUMBER_LENGTH:
        raise fail(
            f"a format whose numbers fit in {MAX_NUMBER_LENGTH} characters; the longest one it "
            f"can produce (year 9999, sequence 999999999) has {length}: shorten the fixed text "
            "or the {seq} padding"
        )
