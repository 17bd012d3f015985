"""Credit-note bench: what numbering an avoir costs beside numbering an invoice, in one run.

    .venv/bin/python bench/credit_notes.py                  # 300 orders, SQLite + PostgreSQL
    .venv/bin/python bench/credit_notes.py --orders 100 --db sqlite

For each database: a fresh store (a SQLite file in a temp folder, or a fresh PostgreSQL schema
at $QUITTANCE_TEST_PG), then, for N distinct sample orders in turn: the invoice issued
(`accept_order`: checks, number, snapshot, chain link, one transaction), a first credit note
for one line of it and a second one for an amount spread pro rata (`issue_credit`: the
invoice's earlier credit notes are read under the credit series lock, so the second pays for
reading the first). Each call is timed alone; the medians and their ratio are printed, with
the command. Nothing is rendered or sent: the render and email steps are the same jobs for
both kinds (bench/pipeline.py measures them).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.crediting import issue_credit  # noqa: E402
from bridge.invoicing.credit import Credit, lines_of_invoice  # noqa: E402
from bridge.logs import configure_logging  # noqa: E402
from bridge.pipeline import accept_order  # noqa: E402
from bridge.services import Services  # noqa: E402
from tests.support.config import settings_for  # noqa: E402
from tests.support.orders import distinct_orders  # noqa: E402
from tests.support.postgres import drop_schema, new_schema_url  # noqa: E402


def timed(call):  # -> (seconds, result)
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def run(url: str, orders: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        svc = Services.from_settings(settings_for(Path(tmp), url))
        took: dict[str, list[float]] = {"invoice": [], "credit 1 (a line)": [],
                                        "credit 2 (pro rata)": []}  # fmt: skip
        try:
            for order in distinct_orders(orders):
                seconds, result = timed(lambda o=order: accept_order(svc, o, then=[]))
                took["invoice"].append(seconds)
                invoice = result.invoice
                line = lines_of_invoice(invoice.snapshot, [(1, None)])
                first = Credit("refund:1", line[0].amount + line[0].tax, svc.store.clock(),
                               lines=line)  # fmt: skip
                seconds, _ = timed(lambda i=invoice, c=first: issue_credit(svc, i, c, then=[]))
                took["credit 1 (a line)"].append(seconds)
                second = Credit("refund:2", Decimal("1.00"), svc.store.clock())
                seconds, _ = timed(lambda i=invoice, c=second: issue_credit(svc, i, c, then=[]))
                took["credit 2 (pro rata)"].append(seconds)
            assert svc.store.chain_problems() == []
        finally:
            svc.close()
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    print("$ .venv/bin/python bench/credit_notes.py " + shlex.join(sys.argv[1:]))
    configure_logging("WARNING", "json")
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory() as tmp:
            url, schema = (f"sqlite:///{tmp}/bench.db", "") if db == "sqlite" else new_schema_url()
            try:
                took = run(url, args.orders)
            finally:
                if schema:
                    drop_schema(schema)
        base = statistics.median(took["invoice"])
        print(f"{db}: {args.orders} orders, median per document")
        for what, seconds in took.items():
            median = statistics.median(seconds)
            print(f"  {what:<20} {median * 1000:7.2f} ms   ×{median / base:.2f} of an invoice")


if __name__ == "__main__":
    main()
