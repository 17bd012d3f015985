"""What an export is asked for and what it wrote: plain data shared by the export
(bridge/export.py), its description file and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ExportRequest:
    first: date
    last: date
    out: Path
    shop: str | None = None


@dataclass(slots=True)
class ExportResult:
    path: Path
    invoices: int = 0
    credit_notes: int = 0
    pdfs: int = 0
    pdf_bytes: int = 0
    files: list[tuple[str, int]] = field(default_factory=list)  # the other files: (name, bytes)
    fec_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    numbering_intact: bool = True  # no gap and no number out of order
    numbering_gaps: bool = False
    numbering_out_of_order: list[str] = field(default_factory=list)  # the numbers
    # --shop and no number out of order: the series are shared with the other shops, whose
    # numbers look missing here, so the gaps say nothing wrong; a number out of order does,
    # whichever shop took it, and leaves this False.
    numbering_shared: bool = False

    @property
    def numbering_failed(self) -> bool:
        """A rupture of numbering the export must fail on (`quittance export` exits 1)."""
        return not (self.numbering_intact or self.numbering_shared)

    @property
    def documents(self) -> int:
        return self.invoices + self.credit_notes
