"""What "gapless" means when a run may cross New Year: 1..n within each series and period.

A test that runs for a minute can straddle midnight on 31 December (Paris); with a yearly
reset the numbers then restart at 1 in the new period, which is right, not a gap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from bridge.store import InvoiceRecord


def sequences_by_period(invoices: Iterable[InvoiceRecord]) -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = defaultdict(list)
    for invoice in invoices:
        found[(invoice.series, invoice.period)].append(invoice.sequence)
    return {key: sorted(seqs) for key, seqs in found.items()}


def assert_gapless(invoices: Iterable[InvoiceRecord], count: int) -> None:
    """`count` invoices in all, numbered 1..n without a gap or a repeat in each period."""
    periods = sequences_by_period(invoices)
    assert sum(len(seqs) for seqs in periods.values()) == count, periods
    for key, seqs in periods.items():
        assert seqs == list(range(1, len(seqs) + 1)), (key, seqs)
