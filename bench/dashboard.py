"""Dashboard bench: how long the owner waits for each page over a large history — the
overview, the documents list, a search by customer, by number and by order, a document, the
failures, the deliveries log, the audit log — answered by the real app (in-process, through
Starlette's TestClient, signed in as an owner), medians over --repeat requests each.

    .venv/bin/python bench/dashboard.py                     # 100 000 documents, SQLite
    .venv/bin/python bench/dashboard.py --documents 5000    # a quick run
    .venv/bin/python bench/dashboard.py --db postgresql

The store is bench/export.py's fixture (N documents over two calendar years, about 10 %
credit notes, real snapshots of bridge/invoicing/cases.py given their own numbers, orders and
buyers), built apart and not timed. The searches look for a customer and a number that exist
and one customer that does not (the worst case: nothing stops the scan early).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import export as fixtures  # noqa: E402  (bench/export.py: the shared large store)

from bridge.archive import Archive  # noqa: E402
from bridge.config import load_settings  # noqa: E402
from bridge.services import Services  # noqa: E402
from tests.support.config import stand_in_rates, write_config  # noqa: E402
from tests.support.dashboard import signed_in  # noqa: E402

TARGET_MS = 500  # a page an owner waits for, on a phone over the network on top


def pages(svc: Services) -> list[tuple[str, str]]:
    """(what, path) of each page timed, naming documents that exist in this store."""
    newest = svc.store.find_documents(_query(), limit=1)[0]
    email = newest.snapshot.buyer.email
    number = quote(newest.number, safe="")
    return [
        ("overview", "/"),
        ("documents, newest 50", "/documents"),
        ("search by customer (found)", f"/documents?customer={quote(email)}"),
        ("search by customer (none)", "/documents?customer=nobody-at-all"),
        ("search by number", f"/documents?number={newest.number[-6:]}"),
        ("search by order", f"/documents?order={quote(newest.order_id)}"),
        ("a document", f"/documents/{number}"),
        ("failures", "/failures"),
        ("deliveries", "/deliveries"),
        ("audit log", "/audit"),
    ]


def _query():  # -> DocumentQuery (the empty search)
    from bridge.store.search import DocumentQuery

    return DocumentQuery()


def timed(client, path: str, repeat: int) -> list[float]:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - start)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=15, help="requests per page")
    args = parser.parse_args()
    print(f"$ .venv/bin/python bench/dashboard.py {shlex.join(sys.argv[1:])}".rstrip())
    folder = Path(tempfile.mkdtemp(prefix="quittance-bench-dashboard-"))
    url, schema = (
        (f"sqlite:///{folder}/q.db", "") if args.db == "sqlite" else fixtures.new_schema_url()
    )
    try:
        config = write_config(
            folder / "quittance.toml", database_url=url, archive_dir=folder / "archive",
            currency={"rates_file": shutil.copy(stand_in_rates(), folder)},
        )  # fmt: skip
        fixture = fixtures.build_fixture(url, Archive(folder / "archive"), args.documents, 1, 1)
        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            client = signed_in(svc, "owner")
            results = [(what, timed(client, path, args.repeat)) for what, path in pages(svc)]
        finally:
            svc.close()
    finally:
        if schema:
            fixtures.drop_schema(schema)
        shutil.rmtree(folder, ignore_errors=True)
    n = fixture.invoices + fixture.credit_notes
    store = "a SQLite file in a temp folder" if args.db == "sqlite" else "a PostgreSQL schema"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, store: {store}, "
          f"code: {fixtures.code_version()}")  # fmt: skip
    print(f"{n} documents; each page requested {args.repeat} times, in-process (no network)")
    print(f"{'page':<30} {'median ms':>10} {'max ms':>8}")
    worst = 0.0
    for what, seconds in results:
        median = statistics.median(seconds) * 1000
        worst = max(worst, median)
        print(f"{what:<30} {median:10.1f} {max(seconds) * 1000:8.1f}")
    verdict = "OK" if worst < TARGET_MS else "OVER"
    print(f"target: every page's median under {TARGET_MS} ms -> slowest {worst:.0f} ms {verdict}")


if __name__ == "__main__":
    main()
