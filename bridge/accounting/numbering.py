"""The numbering report of an export: per series and numbering period, the first and last
number, how many documents, and every gap between them (none is expected: numbers are taken
in the transaction that issues the document). Pure: documents in the order they were issued.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SeriesRun:
    series: str
    period: str
    first_number: str
    first_sequence: int
    last_number: str = ""
    last_sequence: int = 0
    count: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # missing sequences, inclusive
    out_of_order: list[str] = field(default_factory=list)


class NumberingReport:
    """Fed each document of the period, in issue order (`add`), then read (`runs`, `lines`)."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], SeriesRun] = {}

    def add(self, series: str, period: str, sequence: int, number: str) -> None:
        run = self._runs.get((series, period))
        if run is None:
            run = self._runs[(series, period)] = SeriesRun(series, period, number, sequence)
        elif sequence <= run.last_sequence:
            run.out_of_order.append(number)
            return
        elif sequence != run.last_sequence + 1:
            run.gaps.append((run.last_sequence + 1, sequence - 1))
        run.last_number, run.last_sequence = number, sequence
        run.count += 1

    def runs(self) -> list[SeriesRun]:
        return sorted(self._runs.values(), key=lambda run: (run.series, run.period))

    @property
    def intact(self) -> bool:
        return not self.has_gaps and not self.out_of_order

    # Gaps and numbers out of order are told apart: an export of one shop sees the numbers
    # the other shops took in a shared series as gaps, but never a number out of order.
    @property
    def has_gaps(self) -> bool:
        return any(run.gaps for run in self._runs.values())

    @property
    def out_of_order(self) -> list[str]:
        """Every number that came after a higher one of its series and period."""
        return [number for run in self.runs() for number in run.out_of_order]

    def lines(self) -> list[str]:
        """The report as text, one paragraph per series and period (French: for the
        accountant)."""
        if not self._runs:
            return ["Aucun document dans la période."]
        out: list[str] = []
        for run in self.runs():
            out.append(
                f"Série {run.series}, période {run.period} : {run.count} document(s), "
                f"de {run.first_number} à {run.last_number}"
            )
            out.extend(
                f"  MANQUANT : séquences {a} à {b}" if a != b else f"  MANQUANT : séquence {a}"
                for a, b in run.gaps
            )
            out.extend(f"  HORS D'ORDRE : {number}" for number in run.out_of_order)
            if not run.gaps and not run.out_of_order:
                out.append("  aucune rupture de numérotation")
        return out
