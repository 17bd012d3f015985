"""Export bench: the accountant's ZIP of a whole period at 100 000 documents, written by the
real `quittance export` in a child process: wall time, documents per second, its peak memory.

    .venv/bin/python bench/export.py                        # 100 000 documents, SQLite
    .venv/bin/python bench/export.py --documents 2000       # a quick run, seconds
    .venv/bin/python bench/export.py --db postgresql --repeat 3
    .venv/bin/python bench/export.py --pdf-kb 50            # PDFs the size of real ones (big ZIP)

The fixture, timed apart: a fresh store (a SQLite file in a temp folder, or a fresh PostgreSQL
schema at $QUITTANCE_TEST_PG, dropped at the end) and its archive, holding N documents issued
evenly over two calendar years (so two fiscal years, two FEC files), about 90 % invoices and
10 % credit notes. Their snapshots are copies of real `build_invoice` / `build_credit_note`
snapshots of bridge/invoicing/cases.py (B2C at two rates with a coupon and shipping; ten lines
at four rates; partly refunded; B2B goods + services + fee; intra-EU B2B; export outside the EU;
USD with its ECB euro conversion), each given its own number, sequence, order, issue time,
customer and payment with `model_copy`; a credit note is its template's credit note (a line
returned, or 5,00 pro rata) made on an earlier invoice of that template, whose number, date,
order and buyer it takes. They are not issued through `issue_invoice` (one transaction each,
with its jobs, events and portal rows: that is bench/pipeline.py's subject): the rows go
straight into `invoices` with SQLAlchemy Core, BATCH to a transaction, each followed by its
series counter's update, so that the database's own guards (migration 0006: a document follows
its counter) accept them and numbering is gapless per series and year. The links are plain
SHA-256 (`chain_hash` without a key), not the service's keyed HMAC: the export does not check
the chain, `quittance verify` would flag every link. The PDFs are not rendered: each document
gets its own small valid PDF (one page with its number, padded to --pdf-kb; real ones are about
50 KB, 100 000 of them a 5 GB ZIP), put in the archive by `Archive.put` (fsync and alias
included, as the render job does) and its SHA-256 set on the row.

Then, timed: `quittance export --from --to --out -c <config>` as a child process (the config
by tests/support/config.py `write_config`: the demo seller, this store and archive), its wall
time from spawn to exit (interpreter start-up included) and its peak RSS (`ru_maxrss`, KB on
Linux), both taken by a small go-between interpreter that starts it (see LAUNCHER: read from
this bench itself, the figure would start at the bench's own RSS). The whole period --repeat
times (medians), then once each: one month of the same store and an empty period (the floor:
start-up, imports, the count query), so that the growth of memory with the period shows. The
ZIP is opened afterwards and checked: one PDF per document, numbering intact, two FEC files.
The temp folder is removed at the end (--keep keeps it: config, store, archive, ZIPs).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pikepdf  # noqa: E402
from sqlalchemy import bindparam, insert, update  # noqa: E402

from bridge.archive import Archive  # noqa: E402
from bridge.invoicing.build import Numbering  # noqa: E402
from bridge.invoicing.cases import ISSUED, case_snapshot, lines_snapshot  # noqa: E402
from bridge.invoicing.credit import (  # noqa: E402
    Credit,
    CreditNotIssuable,
    build_credit_note,
    lines_of_invoice,
)
from bridge.invoicing.snapshot import InvoiceSnapshot  # noqa: E402
from bridge.store import GENESIS_HASH, Store  # noqa: E402
from bridge.store.invoices import chain_hash  # noqa: E402
from bridge.store.schema import invoices, series_counters  # noqa: E402
from tests.support.config import stand_in_rates, write_config  # noqa: E402
from tests.support.postgres import drop_schema, new_schema_url  # noqa: E402

FIRST_YEAR, YEARS = 2025, 2
ZONE = ZoneInfo("Europe/Paris")  # the demo seller's (bridge/samples/demo.toml)
CREDIT_SHARE = 0.10
BATCH = 2000  # documents per transaction
ARCHIVE_THREADS = 8
TARGET_MB = 200
QUITTANCE = ROOT / ".venv" / "bin" / "quittance"
# Invoice templates: case, weight (share of the invoices), B2C.
CASES = (
    ("b2c", 42), ("ten_lines", 20), ("refunded", 5), ("b2b", 15),
    ("intra_eu", 7), ("export", 7), ("foreign_currency", 4),
)  # fmt: skip
NAMES = (
    "Marie Dupont", "Lucas Martin", "Chloé Bernard", "Hugo Petit", "Léa Moreau",
    "Nathan Laurent", "Emma Girard", "Louis Roux", "Inès Fournier", "Jules Lefèvre",
)  # fmt: skip


@dataclass(frozen=True)
class Template:
    name: str
    weight: int
    invoice: InvoiceSnapshot
    credit_notes: tuple[InvoiceSnapshot, ...]


def templates() -> list[Template]:
    """The real snapshots every document copies: each case's invoice and two credit notes."""
    out = []
    for name, weight in CASES:
        invoice = lines_snapshot(10) if name == "ten_lines" else case_snapshot(name)
        at = ISSUED + timedelta(days=1)
        line = lines_of_invoice(invoice, [(1, None)])
        credits = (
            Credit("refund:1", line[0].amount + line[0].tax, at, reason="Retour d'un article",
                   method=invoice.payment.method, lines=line),
            Credit("refund:2", Decimal("5.00"), at, reason="Geste commercial",
                   method=invoice.payment.method),
        )  # fmt: skip
        notes = []
        for credit in credits:
            numbering = Numbering(series="AV", number="AV-2026-000001", sequence=1)
            try:
                notes.append(build_credit_note(invoice, credit, numbering, issued_at=at))
            except CreditNotIssuable:
                continue
        out.append(Template(name, weight, invoice, tuple(notes)))
    return out


def tiny_pdf(number: str, size: int, rng: random.Random) -> bytes:
    """A valid one-page PDF with `number` on it, its content stream padded with comment lines
    of random hex to about `size` bytes (distinct per document, as archived PDFs are)."""
    text = f"BT /F1 18 Tf 72 760 Td ({number}) Tj ET\n".encode()
    pad = max(0, size - 620 - len(text))
    filler = b"".join(b"% " + rng.randbytes(32).hex().encode() + b"\n" for _ in range(pad // 67))
    content = text + filler
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Title (%s) /Producer (bench/export.py) >>" % number.encode(),
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def check_pdf(data: bytes) -> None:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        problems = pdf.check_pdf_syntax()
        assert not problems and len(pdf.pages) == 1, problems


@dataclass
class Issued:
    """An invoice of the fixture a later credit note may correct."""

    id: int
    template: Template
    snapshot: InvoiceSnapshot


def invoice_copy(
    template: Template, *, number: str, sequence: int, at: datetime, order_id: str, customer: int
) -> InvoiceSnapshot:
    base = template.invoice
    issue_date = at.astimezone(ZONE).date()
    paid_at = at - timedelta(minutes=2 + customer % 1800)  # paid up to 30 h before issue
    first = datetime(FIRST_YEAR, 1, 1, tzinfo=ZONE)
    paid_at = max(paid_at, min(at, first))  # not before the period: no third fiscal year
    paid_on = paid_at.astimezone(ZONE).date()
    update: dict[str, object] = {
        "number": number,
        "sequence": sequence,
        "issued_at": at,
        "issue_date": issue_date,
        "order": base.order.model_copy(
            update={
                "order_id": order_id,
                "reference": f"#{order_id}",
                "ordered_at": paid_at - timedelta(minutes=3),
            }
        ),
        "payment": base.payment.model_copy(
            update={
                "paid_at": paid_at,
                "paid_on": paid_on,
                "reference": f"{base.payment.reference}-{order_id}",
            }
        ),
    }
    if not base.buyer.is_business:
        name = NAMES[customer % len(NAMES)]
        buyer = {"name": name, "email": f"client{customer}@example.fr"}
        if base.buyer.shipping_name:
            buyer["shipping_name"] = name
        update["buyer"] = base.buyer.model_copy(update=buyer)
    if base.eur is not None:
        exchange = base.eur.exchange.model_copy(update={"published_on": paid_on})
        update["eur"] = base.eur.model_copy(update={"exchange": exchange})
    if base.vat_check is not None:
        update["vat_check"] = base.vat_check.model_copy(update={"checked_at": paid_at})
    if base.operation_date is not None:
        update["operation_date"] = issue_date + (base.operation_date - base.issue_date)
    return base.model_copy(update=update)


def credit_copy(
    note: InvoiceSnapshot, invoice: InvoiceSnapshot, *, number: str, sequence: int, at: datetime
) -> InvoiceSnapshot:
    update: dict[str, object] = {
        "number": number,
        "sequence": sequence,
        "issued_at": at,
        "issue_date": at.astimezone(ZONE).date(),
        "order": invoice.order,
        "buyer": invoice.buyer,
        "vat_check": invoice.vat_check,
        "payment": note.payment.model_copy(
            update={"paid_at": at, "paid_on": at.astimezone(ZONE).date()}
        ),
        "credited_number": invoice.number,
        "credited_issue_date": invoice.issue_date,
    }
    if note.eur is not None and invoice.eur is not None:
        update["eur"] = note.eur.model_copy(update={"exchange": invoice.eur.exchange})
    return note.model_copy(update=update)


@dataclass
class Fixture:
    invoices: int = 0
    credit_notes: int = 0
    pdf_bytes: int = 0
    made_s: float = 0.0  # snapshots, their JSON and links, the PDFs: in memory
    archive_s: float = 0.0
    rows_s: float = 0.0
    total_s: float = 0.0


def documents(
    n: int, pdf_kb: float, rng: random.Random, fixture: Fixture
) -> Iterator[tuple[dict, bytes]]:
    """The N documents in issue order: each its `invoices` row and its PDF (module doc)."""
    kinds = templates()
    weights = [t.weight for t in kinds]
    first = datetime(FIRST_YEAR, 1, 1, tzinfo=ZONE).astimezone(UTC)
    step = (datetime(FIRST_YEAR + YEARS, 1, 1, tzinfo=ZONE).astimezone(UTC) - first) / n
    heads = {"FA": ("", 0, GENESIS_HASH), "AV": ("", 0, GENESIS_HASH)}  # the series counters
    recent: deque[Issued] = deque(maxlen=400)  # uncredited invoices a credit note may pick
    for i in range(n):
        at = first + step * (i + rng.uniform(0.05, 0.95))  # in order: ids follow issue times
        year = at.astimezone(ZONE).year
        credit = bool(recent) and rng.random() < CREDIT_SHARE
        series = "AV" if credit else "FA"
        period, last, prev_hash = heads[series]
        sequence = last + 1 if period == str(year) else 1
        number = f"{series}-{year}-{sequence:06d}"
        if credit:
            target = recent[rng.randrange(len(recent))]
            recent.remove(target)
            note = rng.choice(target.template.credit_notes)
            snap = credit_copy(note, target.snapshot, number=number, sequence=sequence, at=at)
            source, credited = f"refund:{i + 1}", target.id
            fixture.credit_notes += 1
        else:
            template = rng.choices(kinds, weights)[0]
            snap = invoice_copy(
                template,
                number=number,
                sequence=sequence,
                at=at,
                order_id=str(100000 + i),
                customer=rng.randrange(10**6),
            )
            source, credited = "", None
            if template.credit_notes:
                recent.append(Issued(i + 1, template, snap))
            fixture.invoices += 1
        snapshot_json = snap.canonical_json()
        digest = chain_hash(prev_hash, snapshot_json)  # plain SHA-256 (see the module doc)
        heads[series] = (str(year), sequence, digest)
        pdf = tiny_pdf(number, int(pdf_kb * 1024), rng)
        fixture.pdf_bytes += len(pdf)
        row = {
            "id": i + 1,
            "shop": snap.order.shop,
            "order_id": snap.order.order_id,
            "kind": snap.kind.value,
            "series": series,
            "period": str(year),
            "sequence": sequence,
            "number": number,
            "issued_at": at,
            "snapshot": snapshot_json,
            "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
            "prev_hash": prev_hash,
            "hash": digest,
            "source": source,
            "credited_invoice_id": credited,
            "link_key": "",
        }
        yield row, pdf


# A counter moves to the document just inserted after its head (the guard of migration 0006).
MOVE_COUNTER = (
    update(series_counters)
    .where(series_counters.c.series == bindparam("b_series"))
    .values(
        period=bindparam("b_period"),
        last_sequence=bindparam("b_sequence"),
        last_hash=bindparam("b_hash"),
    )
)


def build_fixture(url: str, archive: Archive, n: int, pdf_kb: float, seed: int) -> Fixture:
    """N documents in the store at `url` and their PDFs in `archive` (see the module doc)."""
    start = time.perf_counter()
    rng = random.Random(seed)
    check_pdf(tiny_pdf("FA-2025-000001", int(pdf_kb * 1024), rng))
    fixture = Fixture()
    made = documents(n, pdf_kb, rng, fixture)
    store = Store.open(url)  # migrated as the service does it
    try:
        with store.engine.begin() as conn:
            counters = [
                {"series": s, "period": str(FIRST_YEAR), "last_sequence": 0,
                 "last_hash": GENESIS_HASH} for s in ("FA", "AV")
            ]  # fmt: skip
            conn.execute(insert(series_counters), counters)
        with ThreadPoolExecutor(ARCHIVE_THREADS) as pool:
            while True:
                t0 = time.perf_counter()
                batch = list(itertools.islice(made, BATCH))
                if not batch:
                    break
                t1 = time.perf_counter()
                # Archive.put fsyncs each file; fsync lets go of the GIL, so threads overlap.
                put = pool.map(lambda doc: archive.put(doc[1], number=doc[0]["number"]), batch)
                assert [p.sha256 for p in put] == [row["pdf_sha256"] for row, _ in batch]
                t2 = time.perf_counter()
                with store.engine.begin() as conn:
                    for row, _ in batch:  # one at a time: each follows its counter's head
                        conn.execute(insert(invoices), row)
                        head = {"b_series": row["series"], "b_period": row["period"],
                                "b_sequence": row["sequence"], "b_hash": row["hash"]}  # fmt: skip
                        conn.execute(MOVE_COUNTER, head)
                fixture.made_s += t1 - t0
                fixture.archive_s += t2 - t1
                fixture.rows_s += time.perf_counter() - t2
                if sys.stderr.isatty():
                    done = fixture.invoices + fixture.credit_notes
                    print(f"\rfixture: {done}/{n}", end="", file=sys.stderr, flush=True)
        if sys.stderr.isatty():
            print("\r", end="", file=sys.stderr)
        since = datetime(FIRST_YEAR - 1, 12, 1, tzinfo=UTC)
        assert store.count_issued(since, datetime(FIRST_YEAR + YEARS, 2, 1, tzinfo=UTC)) == n
    finally:
        store.close()
    fixture.total_s = time.perf_counter() - start
    return fixture


@dataclass
class Run:
    seconds: float
    peak_mb: float
    code: int
    out: str
    err: str


# Runs the export and reports its wall time and peak RSS. A go-between, because on Linux a
# child's ru_maxrss starts from its parent's RSS at fork (kept across exec): spawned from this
# bench (100+ MB of snapshots and imports) every export would seem to take at least that much.
# This small interpreter forks it instead; its own few MB are below any export's.
LAUNCHER = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
seconds = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write(f"{seconds} {peak_kb}")
sys.exit(code)
"""


def run_export(config: Path, first: date, last: date, out: Path) -> tuple[list[str], Run]:
    """`quittance export` of [first, last] as a child process; its wall time and peak RSS."""
    out.unlink(missing_ok=True)
    command = [str(QUITTANCE), "export", "--from", first.isoformat(), "--to", last.isoformat(),
               "--out", str(out), "-c", str(config)]  # fmt: skip
    env = {**os.environ, "COLUMNS": "400"}  # the CLI's summary on one line
    report = out.with_suffix(".rusage")
    done = subprocess.run([sys.executable, "-c", LAUNCHER, str(report), *command],
                          capture_output=True, text=True, env=env)  # fmt: skip
    seconds, peak_kb = report.read_text().split()
    run = Run(float(seconds), int(peak_kb) / 1024, done.returncode, done.stdout.strip(),
              done.stderr.strip())  # fmt: skip
    return command, run


def check_zip(path: Path, fixture: Fixture) -> list[str]:
    """What the ZIP holds, in a few words; AssertionError when it is not the whole fixture."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pdfs = [name for name in names if name.endswith(".pdf")]
        fec = sorted(name.rsplit("/", 1)[1] for name in names if "FEC" in name)
        (numbering,) = [name for name in names if name.endswith("/numerotation.txt")]
        report = zf.read(numbering).decode()
    n = fixture.invoices + fixture.credit_notes
    assert len(pdfs) == n, f"{len(pdfs)} PDFs in the ZIP for {n} documents"
    assert "MANQUANT" not in report and "HORS D'ORDRE" not in report, report
    assert len(fec) == YEARS, fec
    return [f"{len(names)} files ({len(pdfs)} PDFs)", "numbering intact", "FEC " + ", ".join(fec)]


def documents_of(run: Run) -> int:
    """The documents the CLI's summary line counts."""
    found = re.search(r"(\d+) invoice\(s\), (\d+) credit note\(s\)", run.out)
    assert found, run.out
    return int(found[1]) + int(found[2])


def code_version() -> str:
    """The commit measured, and whether bridge/ had uncommitted changes (read-only git)."""
    git = ["git", "--no-optional-locks", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "bridge"], capture_output=True,
                           text=True)  # fmt: skip
    if head.returncode != 0:
        return "not a git checkout"
    return head.stdout.strip() + (" + uncommitted changes in bridge/" if dirty.stdout else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=1, help="exports of the whole period")
    parser.add_argument("--pdf-kb", type=float, default=4.0, help="size of each PDF")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder, print it")
    args = parser.parse_args()
    print(f"$ .venv/bin/python bench/export.py {shlex.join(sys.argv[1:])}".rstrip(), flush=True)
    code = code_version()  # before the run: what the export processes import
    folder = Path(tempfile.mkdtemp(prefix="quittance-bench-export-"))
    url, schema = (f"sqlite:///{folder}/q.db", "") if args.db == "sqlite" else new_schema_url()
    first, last = date(FIRST_YEAR, 1, 1), date(FIRST_YEAR + YEARS - 1, 12, 31)
    month = date(FIRST_YEAR + YEARS - 1, 6, 1), date(FIRST_YEAR + YEARS - 1, 6, 30)
    try:
        config = write_config(
            folder / "quittance.toml",
            database_url=url,
            archive_dir=folder / "archive",
            currency={"rates_file": shutil.copy(stand_in_rates(), folder)},  # kept by --keep
        )
        fixture = build_fixture(url, Archive(folder / "archive"), args.documents, args.pdf_kb,
                                args.seed)  # fmt: skip
        runs = []
        for _ in range(args.repeat):
            command, run = run_export(config, first, last, folder / "export.zip")
            assert run.code == 0, (run.out, run.err)
            runs.append(run)
        zip_size = (folder / "export.zip").stat().st_size
        contents = check_zip(folder / "export.zip", fixture)
        _, month_run = run_export(config, *month, folder / "month.zip")
        _, empty_run = run_export(config, date(2001, 1, 1), date(2001, 1, 31),
                                  folder / "empty.zip")  # fmt: skip
        assert month_run.code == 0 and empty_run.code == 0, (month_run.err, empty_run.err)
    finally:
        if schema:
            drop_schema(schema)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    n = fixture.invoices + fixture.credit_notes
    seconds = statistics.median(r.seconds for r in runs)
    peak = statistics.median(r.peak_mb for r in runs)
    highest = max(r.peak_mb for r in runs)
    store = "a SQLite file in a temp folder" if args.db == "sqlite" else "a PostgreSQL schema"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, store: {store}, code: {code}")
    print(
        f"fixture: {n} documents ({fixture.invoices} invoices, {fixture.credit_notes} credit "
        f"notes) issued {first} to {last}; PDFs {fixture.pdf_bytes / n / 1024:.1f} KB each "
        f"(hand-made, one page, distinct), {fixture.pdf_bytes / 1e6:.0f} MB in all"
    )
    print(
        f"fixture built in {fixture.total_s:.1f} s (not timed below): snapshots and PDFs made "
        f"{fixture.made_s:.1f} s, PDFs into the archive {fixture.archive_s:.1f} s "
        f"({ARCHIVE_THREADS} threads), rows {fixture.rows_s:.1f} s ({BATCH} a transaction)"
    )
    command[0] = str(QUITTANCE.relative_to(ROOT))
    where = f"kept: {folder}" if args.keep else "removed at the end, --keep keeps it"
    print(f"$ {shlex.join(command)}".replace(str(folder), "$TMP") + f"    # $TMP: {where}")
    print(f"  {runs[-1].out}".replace(str(folder), "$TMP"))
    print(f"  ZIP checked: {zip_size / 1e6:.1f} MB, " + ", ".join(contents))
    label = f"median of {len(runs)} runs" if len(runs) > 1 else "1 run"
    print(f"whole period, {n} documents ({label}; a child process, start-up included):")
    print(f"  wall time   {seconds:8.2f} s")
    print(f"  documents/s {n / seconds:8.0f}")
    print(
        f"  peak RSS    {peak:8.1f} MB" + (f" (highest {highest:.1f} MB)" if len(runs) > 1 else "")
    )
    for what, run in ((f"one month, {month[0]:%Y-%m}", month_run), ("empty period", empty_run)):
        print(
            f"{what + ',':<18} {documents_of(run):5} documents: {run.seconds:6.2f} s, "
            f"peak RSS {run.peak_mb:6.1f} MB"
        )
    verdict = "OK" if highest < TARGET_MB else "OVER"
    print(f"target: peak memory under {TARGET_MB} MB whatever the period -> {highest:.1f} MB "
          f"{verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
