"""The accountant's export: one ZIP with every document of a period and the files an
accountant loads (see docs/EXPORT.md for what each holds and why).

    quittance-<from>_<to>/
        LISEZMOI.txt               what is here, the FEC's choices, the accounts, any problem
        SHA256SUMS                 `sha256sum -c SHA256SUMS` checks every other file
        numerotation.txt           first/last number per series and period, and any gap
        journal-des-ventes.csv     one row per document
        <SIREN>FEC<YYYYMMDD>.txt   the sales and receipts entries, one file per fiscal year
        e-reporting/transactions-b2c.csv, .json   the daily B2C aggregates
        factures/<number>.pdf, avoirs/<number>.pdf

One pass over the documents, in issue order, a page at a time: each PDF goes straight into the
ZIP, the FEC lines and journal rows to files beside it, so memory stays flat whatever the
period. The ZIP is written as `<out>.part` and renamed when complete: a failed export leaves no
half file under the asked name. The documents are the archive's own bytes, checked against
their SHA-256 as they are read; a missing or altered one is named in LISEZMOI.txt and the
export goes on (the result says so, and `quittance export` exits 1).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from bridge.accounting import fec
from bridge.accounting.description import description_text
from bridge.accounting.entries import Booked, NoEuroRate, RateLookup, book_document
from bridge.accounting.ereporting import CSV_HEADER as EREPORTING_HEADER
from bridge.accounting.ereporting import EReporting, as_json, csv_rows
from bridge.accounting.export_files import ExportRequest, ExportResult
from bridge.accounting.journal import (
    DELIMITER,
    ENCODING,
    JournalRow,
    journal_cells,
    journal_header,
    journal_row,
    sorted_rates,
)
from bridge.accounting.numbering import NumberingReport
from bridge.archive import Archive, ArchiveCorruptError
from bridge.config import Settings
from bridge.ecb import Rates, RatesFileError, eur_rate_on, newest_rates
from bridge.failures import OutsideFactUnavailable
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot
from bridge.store import Store
from bridge.store.records import InvoiceRecord

Progress = Callable[[int, int], None]  # (documents done, documents expected)
_CHUNK = 1 << 20


# The years a sale in Quittance can be dated: none before 2000, and a later year than 2999 is
# a typo. Held to, a period's window (a day wider each side, in any zone) stays inside what
# `datetime` can hold: 0001-01-01 or 9999-12-31 would raise OverflowError, not be refused.
SALE_YEARS = range(2000, 3000)


def check_period(first: date, last: date) -> None:
    """Raises `ValueError` saying why `first`..`last` is not a period of sales."""
    for option, day in (("--from", first), ("--to", last)):
        if day.year not in SALE_YEARS:
            raise ValueError(
                f"{option} {day}: a day from {SALE_YEARS[0]} to {SALE_YEARS[-1]} is expected"
            )
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")


def utc_window(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants whose local date (in the seller's zone) is within [first, last], a day
    wider each side: a document's own issue date (its zone at issue) then decides."""
    zone = ZoneInfo(timezone)
    since = datetime.combine(first - timedelta(days=1), time(), zone).astimezone(UTC)
    until = datetime.combine(last + timedelta(days=2), time(), zone).astimezone(UTC)
    return since, until


def documents_of_period(
    store: Store,
    settings: Settings,
    first: date,
    last: date,
    shop: str | None,
    on_progress: Progress | None = None,
) -> Iterator[InvoiceRecord]:
    """The documents issued from `first` to `last` (their own issue dates), in issue order."""
    check_period(first, last)
    since, until = utc_window(first, last, settings.seller.timezone)
    expected = store.count_issued(since, until, shop)
    # Pages of 200: the previous page is alive while the next is read.
    for done, record in enumerate(store.iter_issued(since, until, shop, page_size=200), 1):
        if first <= record.snapshot.issue_date <= last:
            yield record
        if on_progress is not None:
            on_progress(done, expected)


def export_period(
    store: Store,
    archive: Archive,
    settings: Settings,
    request: ExportRequest,
    *,
    now: datetime,
    on_progress: Progress | None = None,
) -> ExportResult:
    """Write the export ZIP of `request`'s period (see the module doc). Raises `ValueError`
    for a period that ends before it starts or is not of SALE_YEARS."""
    check_period(request.first, request.last)  # before any file is written
    documents = documents_of_period(
        store, settings, request.first, request.last, request.shop, on_progress
    )
    part = request.out.with_name(request.out.name + ".part")
    result = ExportResult(path=request.out)
    try:
        with (
            tempfile.TemporaryDirectory(prefix=".export-", dir=request.out.parent) as scratch,
            zipfile.ZipFile(part, "w", allowZip64=True) as zf,
            # Every scratch file the writer opens is closed on the way out, a failure's too
            # (a finally), before its folder is removed: no descriptor is left open.
            contextlib.ExitStack() as files,
        ):
            writer = _Writer(zf, Path(scratch), settings, request, now, result, store, files)
            for record in documents:
                writer.add(record, archive)
            writer.finish()
        os.replace(part, request.out)
    finally:
        part.unlink(missing_ok=True)
    return result


def ereporting_of_period(
    store: Store, settings: Settings, first: date, last: date, shop: str | None
) -> tuple[EReporting, list[str]]:
    """The B2C e-reporting aggregates of a period, and the documents that could not be counted."""
    report = EReporting(ecb_lookup(settings))
    problems: list[str] = []
    for record in documents_of_period(store, settings, first, last, shop):
        credited = record.credited_invoice_id
        invoice = store.get_invoice_by_id(credited) if credited is not None else None
        try:
            report.add(record.snapshot, invoice.snapshot if invoice is not None else None)
        except NoEuroRate as exc:
            problems.append(f"{exc}; left out of the e-reporting")
    return report, problems


class _Writer:
    """The export being written: the ZIP, and the files that are complete only at the end."""

    def __init__(
        self,
        zf: zipfile.ZipFile,
        scratch: Path,
        settings: Settings,
        request: ExportRequest,
        now: datetime,
        result: ExportResult,
        store: Store,
        files: contextlib.ExitStack,
    ) -> None:
        self.zf, self.scratch, self.settings, self.request, self.result = (
            zf,
            scratch,
            settings,
            request,
            result,
        )
        self.root = f"quittance-{request.first.isoformat()}_{request.last.isoformat()}" + (
            f"-{request.shop}" if request.shop else ""
        )
        self.stamp = now.astimezone(settings.seller.zoneinfo)
        self.zip_time = _zip_time(self.stamp)
        # Per-document lines go to files, not lists: memory must not grow with the period.
        self.files = files  # what closes the scratch files, on success or failure
        self.sums = files.enter_context(
            (scratch / "SHA256SUMS").open("w", encoding="utf-8", newline="")
        )
        self.numbering = NumberingReport()
        self.lookup = ecb_lookup(settings)
        self.invoice_by_id = store.get_invoice_by_id
        self.ereporting = EReporting(self.lookup)
        self.rates: set[Decimal] = set()
        self.journal = files.enter_context((scratch / "journal.pickle").open("wb"))
        self.fec: dict[str, IO[str]] = {}
        self.separator = fec.SEPARATORS[settings.accounting.fec_separator]
        self.encoding = settings.accounting.fec_encoding

    def add(self, record: InvoiceRecord, archive: Archive) -> None:
        snap = record.snapshot
        if snap.kind is DocumentKind.credit_note:
            self.result.credit_notes += 1
        else:
            self.result.invoices += 1
        self.numbering.add(record.series, record.period, record.sequence, record.number)
        row = journal_row(snap)
        self.rates.update(row.base_by_rate)
        pickle.dump(row, self.journal, protocol=pickle.HIGHEST_PROTOCOL)
        credited = self._credited(record)
        # Each is tried on its own, so the problem names only what the document is left out
        # of: a business buyer's is never in the e-reporting, and is not left out of it.
        left_out: list[str] = []
        unknown_rate: NoEuroRate | None = None
        try:
            booked = book_document(
                snap,
                rates=self.lookup,
                credited=credited,
                document_id=record.id,
                source=record.source,
                accounting=self.settings.accounting,
            )
        except NoEuroRate as exc:
            unknown_rate = exc
            left_out.append("the FEC")
        else:
            self._book(snap.seller.siren or self.settings.seller.siren, booked)
            if booked.problem:
                self.result.problems.append(booked.problem)
        try:
            self.ereporting.add(snap, credited)
        except NoEuroRate as exc:
            unknown_rate = exc
            left_out.append("the e-reporting")
        if unknown_rate is not None:
            self.result.problems.append(f"{unknown_rate}; left out of {' and '.join(left_out)}")
        self._add_pdf(record, archive)

    def _credited(self, record: InvoiceRecord) -> InvoiceSnapshot | None:
        """A credit note's invoice (read once per credit note: a tenth of the documents)."""
        if record.credited_invoice_id is None:
            return None
        invoice = self.invoice_by_id(record.credited_invoice_id)
        return invoice.snapshot if invoice is not None else None

    def _book(self, siren: str, booked: Booked) -> None:
        """Each entry goes to the FEC of its own fiscal year (its EcritureDate): a FEC holds
        only its year's entries, so a payment received on 31 December for an invoice of 2
        January is in the old year's file, the invoice in the new one's. The lettering code is
        the document's, so the two still match across the files."""
        if booked.sale is None:
            return
        for entry in (booked.sale, booked.money):
            if entry is not None:
                self._fec_file(siren, entry.day).writelines(
                    fec.entry_lines(entry, self.separator, self.encoding)
                )

    def _fec_file(self, siren: str, day: date) -> IO[str]:
        name = fec.fec_filename(siren, self.settings.accounting.closing_date(day))
        handle = self.fec.get(name)
        if handle is None:
            handle = self.fec[name] = self.files.enter_context(
                (self.scratch / name).open("w", encoding=self.encoding, newline="")
            )
            handle.write(fec.header(self.separator))
        return handle

    def _add_pdf(self, record: InvoiceRecord, archive: Archive) -> None:
        if record.pdf_sha256 is None:
            self.result.problems.append(
                f"{record.number}: no PDF archived yet (its render is pending or failed: "
                "see `quittance failures`); it is in the journal and the FEC"
            )
            return
        try:
            data = archive.read(record.pdf_sha256)
        except ArchiveCorruptError as exc:
            self.result.problems.append(
                f"{record.number}: PDF left out, {exc} (run `quittance verify`)"
            )
            return
        folder = "avoirs" if record.snapshot.kind is DocumentKind.credit_note else "factures"
        # "/" is allowed in numbers but not in a file name; "%" is never in a number, so
        # "%2F" cannot make two numbers one name.
        name = f"{folder}/{record.number.replace('/', '%2F')}.pdf"
        # PDFs are compressed already: stored as they are, and the ZIP's CRC is cheap.
        self._write(name, data, zipfile.ZIP_STORED)
        self.result.pdfs += 1
        self.result.pdf_bytes += len(data)
        self.sums.write(f"{record.pdf_sha256}  {name}\n")

    def _write(self, name: str, data: bytes, compress: int) -> None:
        # Every entry shares one time tuple, the export's: the ZIP keeps a record per file
        # until it closes, and a tuple per document is 11 MB per 100 000 documents.
        info = zipfile.ZipInfo(f"{self.root}/{name}", self.zip_time)
        info.compress_type = compress
        self.zf.writestr(info, data)

    def _add_file(self, name: str, path: Path) -> None:
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
        info = zipfile.ZipInfo(f"{self.root}/{name}", self.zip_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        with path.open("rb") as source, self.zf.open(info, "w", force_zip64=True) as target:
            while chunk := source.read(_CHUNK):
                target.write(chunk)
        self.sums.write(f"{digest.hexdigest()}  {name}\n")
        self.result.files.append((name, path.stat().st_size))

    def _add_text(self, name: str, text: str, encoding: str = "utf-8") -> None:
        path = self.scratch / name.replace("/", "_")
        path.write_text(text, encoding=encoding, newline="")
        self._add_file(name, path)

    def finish(self) -> None:
        self.journal.close()
        for name, handle in sorted(self.fec.items()):
            handle.close()
            self._add_file(name, self.scratch / name)
            self.result.fec_files.append(name)
        self._add_file("journal-des-ventes.csv", self._journal_csv())
        self._add_ereporting()
        self.result.numbering_intact = self.numbering.intact
        self.result.numbering_gaps = self.numbering.has_gaps
        self.result.numbering_out_of_order = self.numbering.out_of_order
        # Only gaps are explained by the other shops sharing the series (see ExportResult).
        self.result.numbering_shared = (
            self.request.shop is not None and not self.result.numbering_out_of_order
        )
        self._add_text("numerotation.txt", "\n".join(self.numbering.lines()) + "\n")
        self._add_text(
            "LISEZMOI.txt", description_text(self.settings, self.request, self.result, self.stamp)
        )
        self.sums.close()
        info = zipfile.ZipInfo(f"{self.root}/SHA256SUMS", self.zip_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        # force_zip64 as in `_add_file`: the manifest's size is unknown when its entry opens,
        # and past 2 GiB zipfile refuses a stream it had not sized for ZIP64.
        with (
            (self.scratch / "SHA256SUMS").open("rb") as sums,
            self.zf.open(info, "w", force_zip64=True) as out,
        ):
            shutil.copyfileobj(sums, out, _CHUNK)

    def _journal_csv(self) -> Path:
        rates = sorted_rates(self.rates)
        path = self.scratch / "journal.csv"
        with (
            (self.scratch / "journal.pickle").open("rb") as rows,
            path.open("w", encoding=ENCODING, newline="") as out,
        ):
            writer = csv.writer(out, delimiter=DELIMITER, lineterminator="\r\n")
            writer.writerow(journal_header(rates))
            while True:
                try:
                    row: JournalRow = pickle.load(rows)  # our own file, written above
                except EOFError:
                    break
                writer.writerow(journal_cells(row, rates))
        return path

    def _add_ereporting(self) -> None:
        groups = self.ereporting.groups()
        text = io.StringIO()
        writer = csv.writer(text, delimiter=DELIMITER, lineterminator="\r\n")
        writer.writerow(EREPORTING_HEADER)
        writer.writerows(csv_rows(groups))
        self._add_text("e-reporting/transactions-b2c.csv", "\ufeff" + text.getvalue())
        data = as_json(
            groups,
            siren=self.settings.seller.siren,
            first=self.request.first,
            last=self.request.last,
            left_out_lines=self.ereporting.left_out_lines,
        )
        self._add_text(
            "e-reporting/transactions-b2c.json",
            json.dumps(data, ensure_ascii=False, indent=2) + "\n",
        )


def ecb_lookup(settings: Settings) -> RateLookup:
    """The ECB rate of a day from the rates file issuing reads, opened on first need."""
    opened: list[Rates | None] = []
    found: dict[tuple[str, date], Decimal | None] = {}  # a few currencies × days

    def lookup(currency: str, day: date) -> Decimal | None:
        if not opened:
            try:
                opened.append(newest_rates(settings))
            except (RatesFileError, OSError):
                opened.append(None)
        rates = opened[0]
        if rates is None:
            return None
        if (currency, day) not in found:
            try:
                found[(currency, day)] = eur_rate_on(rates, currency, day, timedelta(0)).rate
            except OutsideFactUnavailable:
                found[(currency, day)] = None
        return found[(currency, day)]

    return lookup


def _zip_time(local: datetime) -> tuple[int, int, int, int, int, int]:
    if local.year < 1980:  # the ZIP format starts in 1980
        return (1980, 1, 1, 0, 0, 0)
    return (local.year, local.month, local.day, local.hour, local.minute, local.second)
