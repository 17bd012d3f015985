"""`quittance export` end to end: real documents issued and rendered from the sample orders on
a config in tmp_path, the ZIP written by the CLI, then opened and read back like the accountant
would (the FEC through a checker of its form, the manifest with SHA-256, the PDFs' bytes)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import struct
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from bridge.archive import Archive
from bridge.cli import app
from bridge.config import Settings
from bridge.export import ExportRequest, export_period
from bridge.invoicing import cases
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.model import Order
from bridge.pipeline import accept_order
from bridge.services import Services
from bridge.store import Store
from bridge.store.records import InvoiceRecord
from bridge.worker import work
from tests.support.config import load_settings, write_config
from tests.support.fec_file import entries, fec_date, read_fec, unbalanced
from tests.support.orders import sample_path
from tests.support.smtp import SMTPServer
from tests.support.snapshots import case

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
NUMBER = re.compile(r"(?:FA|AV)-\d{4}-\d{6}")


@pytest.fixture(autouse=True)
def _wide_consoles(wide_consoles: None) -> None:
    """Every test here reads the CLI's output unwrapped."""


def cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    structlog.reset_defaults()
    return result.exit_code, " ".join((result.output or "").split())


def drain(config: Path) -> None:
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        work(svc, once=True)
    finally:
        svc.close()


def issue(config: Path, prefix: str) -> str:
    code, text = cli("issue", "-c", config, "--order", sample_path(prefix))
    assert code == 0, text
    return NUMBER.search(text).group(0)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """Four invoices (B2C card, B2B transfer, B2C in USD, B2C without email) and a credit
    note with money given back, rendered and archived; built once for the module."""
    folder = tmp_path_factory.mktemp("export")
    with SMTPServer() as smtp:
        config = write_config(folder / "quittance.toml", smtp_port=smtp.port)
        numbers = [issue(config, prefix) for prefix in ("01_", "02_", "03_", "04_")]
        code, text = cli("credit", numbers[0], "-c", config, "--reason", "Geste", "--amount", "5")
        assert code == 0, text
        numbers.append(re.search(r"AV-\d{4}-\d{6}", text).group(0))  # type: ignore[union-attr]
        drain(config)
        yield config, numbers


def today() -> date:
    return datetime.now(UTC).date()


def exported(config: Path, out: Path, *extra: str) -> tuple[int, str, zipfile.ZipFile]:
    first, last = today() - timedelta(days=400), today() + timedelta(days=400)
    code, text = cli("export", "--from", first, "--to", last, "--out", out, "-c", config, *extra)
    return code, text, zipfile.ZipFile(out) if code != 2 else None  # type: ignore[return-value]


def member(zf: zipfile.ZipFile, suffix: str) -> bytes:
    (name,) = [n for n in zf.namelist() if n.endswith(suffix)]
    return zf.read(name)


def fec_lines(zf: zipfile.ZipFile) -> list:
    """The lines of every FEC file (documents issued around midnight on 31 December are in two
    fiscal years)."""
    return [ln for n in zf.namelist() if "FEC" in n for ln in read_fec(zf.read(n))]


def test_export_holds_every_document_pdf_as_archived(shop, tmp_path: Path) -> None:
    config, numbers = shop
    code, text, zf = exported(config, tmp_path / "x.zip")
    assert code == 0, text
    pdfs = sorted(n.rsplit("/", 1)[1] for n in zf.namelist() if n.endswith(".pdf"))
    assert pdfs == sorted(f"{number}.pdf" for number in numbers)
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        record = svc.store.get_invoice(numbers[1])
        assert record is not None and record.pdf_sha256
        assert hashlib.sha256(member(zf, f"factures/{numbers[1]}.pdf")).hexdigest() == (
            record.pdf_sha256
        )
    finally:
        svc.close()
    assert any(n.endswith(f"avoirs/{numbers[4]}.pdf") for n in zf.namelist())


def test_manifest_gives_the_sha256_of_every_other_file(shop, tmp_path: Path) -> None:
    config, _ = shop
    _, _, zf = exported(config, tmp_path / "x.zip")
    sums = member(zf, "SHA256SUMS").decode()
    listed = dict(reversed(line.split("  ", 1)) for line in sums.splitlines())
    root = zf.namelist()[0].split("/", 1)[0]
    files = {n.split("/", 1)[1] for n in zf.namelist()} - {"SHA256SUMS"}
    assert set(listed) == files
    for name, digest in listed.items():
        assert hashlib.sha256(zf.read(f"{root}/{name}")).hexdigest() == digest, name


def test_fec_is_named_after_siren_and_closing_date_and_balances(shop, tmp_path: Path) -> None:
    config, numbers = shop
    _, _, zf = exported(config, tmp_path / "x.zip")
    settings = load_settings(config, environ={})
    svc = Services.from_settings(settings)
    try:  # each entry in the file of its own day's fiscal year: the sale by its (local)
        # issue date, the money by its payment date (the samples' are fixed: on a clock
        # moved past New Year a payment falls in the year before)
        snapshots = [svc.store.get_invoice(n).snapshot for n in numbers]  # type: ignore[union-attr]
    finally:
        svc.close()
    days = {snap.issue_date for snap in snapshots}
    days |= {snap.payment.paid_on for snap in snapshots if snap.payment and snap.payment.paid_on}
    siren = settings.seller.siren
    expected = {f"{siren}FEC{settings.accounting.closing_date(day):%Y%m%d}.txt" for day in days}
    names = {n.rsplit("/", 1)[1] for n in zf.namelist() if "FEC" in n}
    assert names == expected
    booked: set[str] = set()
    for name in names:
        lines = read_fec(member(zf, name))
        assert unbalanced(lines) == []
        booked |= {number for (_journal, number) in entries(lines)}
    # the invoice without email is still booked; every document is, and only those
    assert booked == set(numbers)


def test_fec_books_foreign_currency_in_euros_with_the_amount_in_currency(
    shop, tmp_path: Path
) -> None:
    config, numbers = shop
    _, _, zf = exported(config, tmp_path / "x.zip")
    usd = [ln for ln in fec_lines(zf) if ln["EcritureNum"] == numbers[2]]
    customer = [ln for ln in usd if ln["JournalCode"] == "VE" and ln["CompteNum"] == "411000"]
    assert customer[0]["Idevise"] == "USD" and customer[0]["Montantdevise"]
    assert customer[0].debit != Decimal(customer[0]["Montantdevise"].replace(",", "."))


def test_each_payment_is_lettered_against_its_invoice(shop, tmp_path: Path) -> None:
    config, _ = shop
    _, _, zf = exported(config, tmp_path / "x.zip")
    lines = fec_lines(zf)
    on_customers = [ln for ln in lines if ln["CompteNum"] == "411000"]
    by_letter: dict[str, list] = {}
    for line in on_customers:
        by_letter.setdefault(line["EcritureLet"], []).append(line)
    assert "" not in by_letter, "every customers' posting is lettered here"
    for letter, pair in by_letter.items():
        assert {ln["JournalCode"] for ln in pair} == {"VE", "BQ"}, letter
        assert sum(ln.debit for ln in pair) == sum(ln.credit for ln in pair), letter


def test_sales_journal_has_one_signed_row_per_document(shop, tmp_path: Path) -> None:
    config, numbers = shop
    _, _, zf = exported(config, tmp_path / "x.zip")
    text = member(zf, "journal-des-ventes.csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert [row["numero"] for row in rows] == numbers
    note = rows[-1]
    assert note["type"] == "avoir" and note["total_ttc"] == "-5,00"
    assert note["facture_corrigee"] == numbers[0]
    assert any(name.startswith("base_") for name in rows[0])


def test_ereporting_leaves_out_the_business_buyer(shop, tmp_path: Path) -> None:
    config, _ = shop
    _, _, zf = exported(config, tmp_path / "x.zip")
    data = json.loads(member(zf, "transactions-b2c.json"))
    assert data["specification"].startswith("DGFiP")
    counted = sum(g["invoices"] for g in data["groups"])
    assert counted == 3  # B2C card, USD, no email; not the B2B transfer
    assert sum(g["credit_notes"] for g in data["groups"]) == 1
    assert {g["category"] for g in data["groups"]} <= {"TLB1", "TPS1", "TNT1"}


def test_numbering_report_finds_no_gap(shop, tmp_path: Path) -> None:
    config, _ = shop
    _, _, zf = exported(config, tmp_path / "x.zip")
    report = member(zf, "numerotation.txt").decode()
    assert report.count("aucune rupture de numérotation") == 2  # FA and AV
    assert "MANQUANT" not in report


def test_description_says_the_fec_is_partial_and_how_it_is_written(shop, tmp_path: Path) -> None:
    config, _ = shop
    _, _, zf = exported(config, tmp_path / "x.zip")
    text = member(zf, "LISEZMOI.txt").decode()
    assert "à fusionner avec le reste de la comptabilité" in text
    assert "tabulation" in text and "UTF-8" in text
    assert "Problèmes\n---------\n  aucun" in text


def test_period_is_by_issue_date_so_a_later_period_is_empty(shop, tmp_path: Path) -> None:
    config, _ = shop
    out = tmp_path / "later.zip"
    first, last = today() + timedelta(days=3), today() + timedelta(days=40)
    code, text = cli("export", "--from", first, "--to", last, "--out", out, "-c", config)
    assert code == 0, text
    names = zipfile.ZipFile(out).namelist()
    assert not [n for n in names if n.endswith(".pdf") or "FEC" in n]
    assert "0 invoice(s), 0 credit note(s)" in text


def test_export_refuses_to_replace_a_file_unless_forced(shop, tmp_path: Path) -> None:
    config, _ = shop
    out = tmp_path / "x.zip"
    out.write_bytes(b"the accountant's own file")
    code, text, _ = exported(config, out)
    assert code == 2 and "--force" in text
    assert out.read_bytes() == b"the accountant's own file"
    code, text, zf = exported(config, out, "--force")
    assert code == 0, text
    assert zf.testzip() is None


def test_export_of_unknown_shop_names_the_shops(shop, tmp_path: Path) -> None:
    config, _ = shop
    code, text, _ = exported(config, tmp_path / "x.zip", "--shop", "nope")
    assert code == 2 and "no enabled shop named 'nope'" in text
    assert not (tmp_path / "x.zip").exists()


def test_export_rejects_a_period_ending_before_it_starts(shop, tmp_path: Path) -> None:
    config, _ = shop
    code, text = cli("export", "--from", "2026-02-01", "--to", "2026-01-01",
                     "--out", tmp_path / "x.zip", "-c", config)  # fmt: skip
    assert code == 2 and "before --from" in text


def test_altered_pdf_is_left_out_named_and_exit_is_1(tmp_path: Path, smtp: SMTPServer) -> None:
    config = write_config(tmp_path / "quittance.toml", smtp_port=smtp.port)
    number = issue(config, "01_")
    drain(config)
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        record = svc.store.get_invoice(number)
        assert record is not None and record.pdf_sha256
        path = svc.archive.path_for(record.pdf_sha256)
    finally:
        svc.close()
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"%tampered")
    code, text, zf = exported(config, tmp_path / "x.zip")
    assert code == 1 and f"{number}: PDF left out" in text
    assert not [n for n in zf.namelist() if n.endswith(".pdf")]
    assert f"{number}: PDF left out" in member(zf, "LISEZMOI.txt").decode()


def test_document_not_rendered_yet_is_booked_and_named(tmp_path: Path, smtp: SMTPServer) -> None:
    config = write_config(tmp_path / "quittance.toml", smtp_port=smtp.port)
    svc = Services.from_settings(load_settings(config, environ={}))
    try:  # issued, its render job queued and not run: no PDF yet
        order = Order.model_validate_json(sample_path("01_").read_bytes())
        number = accept_order(svc, order, then=()).invoice.number
    finally:
        svc.close()
    code, text, zf = exported(config, tmp_path / "x.zip")
    assert code == 1 and f"{number}: no PDF archived yet" in text
    assert {num for (_j, num) in entries(fec_lines(zf))} == {number}


def test_failed_export_leaves_no_file_behind(shop, tmp_path: Path, monkeypatch) -> None:
    config, _ = shop
    boom = RuntimeError("disk full")

    def failing(*_args: object, **_kwargs: object) -> None:
        raise boom

    monkeypatch.setattr(Store, "iter_issued", failing)
    out = tmp_path / "x.zip"
    result = CliRunner().invoke(
        app, ["export", "--from", "2020-01-01", "--to", "2030-12-31", "--out", str(out),
              "-c", str(config)],
    )  # fmt: skip
    structlog.reset_defaults()
    assert result.exception is boom
    assert list(tmp_path.iterdir()) == []


def test_ereporting_prints_the_daily_groups_as_csv(shop) -> None:
    config, _ = shop
    first, last = today() - timedelta(days=400), today() + timedelta(days=400)
    result = CliRunner().invoke(app, ["ereporting", "--from", str(first), "--to", str(last),
                                      "--format", "csv", "-c", str(config)])  # fmt: skip
    structlog.reset_defaults()
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout), delimiter=";"))
    assert rows[0][:3] == ["date", "devise", "categorie"]
    assert {row[1] for row in rows[1:]} == {"EUR", "USD"}


def test_ereporting_json_matches_the_exports(shop, tmp_path: Path) -> None:
    config, _ = shop
    first, last = today() - timedelta(days=400), today() + timedelta(days=400)
    result = CliRunner().invoke(app, ["ereporting", "--from", str(first), "--to", str(last),
                                      "--format", "json", "-c", str(config)])  # fmt: skip
    structlog.reset_defaults()
    assert result.exit_code == 0, result.output
    _, _, zf = exported(config, tmp_path / "x.zip")
    assert json.loads(result.stdout) == json.loads(member(zf, "transactions-b2c.json"))


def test_ereporting_table_names_the_categories(shop) -> None:
    config, _ = shop
    code, text = cli("ereporting", "--from", today() - timedelta(days=400),
                     "--to", today() + timedelta(days=400), "-c", config)  # fmt: skip
    assert code == 0 and "TLB1" in text and "B2C e-reporting" in text


def test_ereporting_refuses_an_unknown_format(shop) -> None:
    config, _ = shop
    code, text = cli("ereporting", "--from", "2026-01-01", "--to", "2026-01-31",
                     "--format", "xml", "-c", config)  # fmt: skip
    assert code == 2 and "expected table, csv or json" in text


def test_export_after_the_demo_holds_its_documents(tmp_path: Path) -> None:
    """What the issue asks to show: `make demo`, then the export of its whole history."""
    import subprocess
    import sys

    quittance = [sys.executable, "-m", "bridge.cli"]
    demo = subprocess.run([*quittance, "demo", "--workdir", "demo"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    out = tmp_path / "x.zip"
    export = subprocess.run(
        [*quittance, "export", "--from", "2020-01-01", "--to", str(today() + timedelta(days=800)),
         "--out", str(out), "-c", str(tmp_path / "demo" / "quittance.toml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert export.returncode == 0, export.stdout + export.stderr
    names = zipfile.ZipFile(out).namelist()
    assert len([n for n in names if "/factures/" in n]) >= 15
    assert [n for n in names if "/avoirs/" in n]
    assert unbalanced(fec_lines(zipfile.ZipFile(out))) == []


def test_export_to_a_folder_is_refused_by_name(shop, tmp_path: Path) -> None:
    config, _ = shop
    code, text, _ = exported(config, tmp_path)
    assert code == 2 and "is a folder" in text


def test_foreign_currency_sale_without_vat_is_booked_at_the_ecb_rate_of_its_day(
    tmp_path: Path,
) -> None:
    """An export in dollars charges no VAT, so its document records no euro rate: the export
    reads the ECB's rate of the payment day from the rates file issuing uses."""
    from bridge.accounting.entries import euro_rate
    from bridge.export import ecb_lookup
    from tests.support.snapshots import case

    settings = load_settings(write_config(tmp_path / "quittance.toml"), environ={})
    snap = case("export").model_copy(update={"currency": "USD"})
    rate = euro_rate(snap, ecb_lookup(settings))
    assert rate is not None and Decimal("0.5") < rate < Decimal("2")


# --------------------------------------------------------------- documents a test dates itself
#
# Real snapshots (tests/support/snapshots.py), numbered and dated by the test relative to
# today, served by the store in the order the test issues them: what no real issue can make
# on demand (a payment before a fiscal year's end, a number out of order, a refund split over
# two methods) goes through the real export and CLI.

PDF = b"%PDF-1.7 stand-in"


def woo(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "platform": "woocommerce",
        "url": "http://127.0.0.1:9",  # never called: the export reads the database only
        "consumer_key": "ck_x",
        "consumer_secret": "cs_x",
        "webhook_secret": "whsec_x",
    }


def books_config(tmp_path: Path, **accounting: str) -> tuple[Path, Settings]:
    config = write_config(tmp_path / "quittance.toml", shops=[woo("boutique")],
                          accounting=accounting or None)  # fmt: skip
    return config, load_settings(config, environ={})


def dated(
    snap: InvoiceSnapshot, sequence: int, *, issued: date, paid: date, series: str = "FA"
) -> InvoiceSnapshot:
    at = datetime.combine(issued, time(12), UTC)
    payment = snap.payment.model_copy(
        update={"paid_on": paid, "paid_at": datetime.combine(paid, time(12), UTC)}
    )
    return snap.model_copy(
        update={
            "number": f"{series}-{issued.year}-{sequence:06d}",
            "series": series,
            "sequence": sequence,
            "issued_at": at,
            "issue_date": issued,
            "payment": payment,
        }
    )


def record(
    settings: Settings, snap: InvoiceSnapshot, record_id: int, **extra: Any
) -> InvoiceRecord:
    sha = Archive(settings.storage.archive_dir).put(PDF).sha256
    return InvoiceRecord(
        id=record_id, series=snap.series, period=str(snap.issue_date.year),
        sequence=snap.sequence, number=snap.number, shop="boutique",
        order_id=snap.order.order_id, kind=snap.kind.value, issued_at=snap.issued_at,
        snapshot=snap, snapshot_json="", pdf_sha256=sha, prev_hash="", hash="", **extra,
    )  # fmt: skip


def serve(monkeypatch: pytest.MonkeyPatch, records: list[InvoiceRecord]) -> None:
    """The store hands the export `records`, issued in this order, in place of its own."""
    by_id = {r.id: r for r in records}

    def issued(shop: str | None) -> list[InvoiceRecord]:
        return [r for r in records if shop is None or r.shop == shop]

    monkeypatch.setattr(
        Store,
        "iter_issued",
        lambda _self, _since, _until, shop=None, page_size=500: iter(issued(shop)),
    )
    monkeypatch.setattr(
        Store, "count_issued", lambda _self, _since, _until, shop=None: len(issued(shop))
    )
    monkeypatch.setattr(Store, "get_invoice_by_id", lambda _self, record_id: by_id.get(record_id))


def fec_files(zf: zipfile.ZipFile) -> dict[str, list]:
    return {n.rsplit("/", 1)[1]: read_fec(zf.read(n)) for n in zf.namelist() if "FEC" in n}


def across_a_fiscal_year_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """An invoice issued today, paid three days ago: the fiscal year ended in between."""
    closing = date.today() - timedelta(days=2)
    if (closing.month, closing.day) == (2, 29):  # not a day of every year
        closing -= timedelta(days=1)
    config, settings = books_config(tmp_path, fiscal_year_end=f"{closing:%m-%d}")
    invoice = dated(case("b2c"), 1, issued=date.today(), paid=closing - timedelta(days=1))
    serve(monkeypatch, [record(settings, invoice, 1)])
    return config, settings, invoice, closing


def test_a_payment_before_its_invoices_fiscal_year_is_in_the_fec_of_its_own_year(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _, invoice, closing = across_a_fiscal_year_end(tmp_path, monkeypatch)
    code, text, zf = exported(config, tmp_path / "x.zip")
    assert code == 0, text
    siren = invoice.seller.siren
    files = fec_files(zf)
    old = files.pop(f"{siren}FEC{closing:%Y%m%d}.txt")
    (new,) = files.values()
    assert {(ln["JournalCode"], ln["EcritureDate"]) for ln in old} == {
        ("BQ", f"{invoice.payment.paid_on:%Y%m%d}")
    }
    assert {ln["JournalCode"] for ln in new} == {"VE"}


def test_every_fec_holds_only_entries_of_its_own_fiscal_year(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the DGFiP's checker tests: each EcritureDate within the file's fiscal year."""
    config, settings, _, _ = across_a_fiscal_year_end(tmp_path, monkeypatch)
    _, _, zf = exported(config, tmp_path / "x.zip")
    files = fec_files(zf)
    assert len(files) == 2
    for name, lines in files.items():
        closings = {settings.accounting.closing_date(fec_date(ln["EcritureDate"])) for ln in lines}
        assert {f"{closing:%Y%m%d}" for closing in closings} == {name[-12:-4]}, name


def test_a_payment_in_the_year_before_stays_lettered_with_its_invoice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _, _, _ = across_a_fiscal_year_end(tmp_path, monkeypatch)
    _, _, zf = exported(config, tmp_path / "x.zip")
    customers = [ln for lines in fec_files(zf).values() for ln in lines
                 if ln["CompteNum"] == "411000"]  # fmt: skip
    assert len(customers) == 2 and len({ln["EcritureLet"] for ln in customers}) == 1
    assert customers[0]["EcritureLet"] and len({ln["DateLet"] for ln in customers}) == 1
    assert sum(ln.debit for ln in customers) == sum(ln.credit for ln in customers)


def test_refund_split_across_methods_is_a_problem_of_the_export_and_not_booked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, settings = books_config(tmp_path)
    today = date.today()
    invoice = dated(case("b2b"), 1, issued=today, paid=today)
    note = cases.credit_note_snapshot(case("b2b"))
    note = dated(note.model_copy(update={"payment": note.payment.model_copy(
        update={"method": "Shopify Payments, store_credit"})}),
        1, issued=today, paid=today, series="AV")  # fmt: skip
    serve(
        monkeypatch,
        [
            record(settings, invoice, 1),
            record(settings, note, 2, source="refund:1", credited_invoice_id=1),
        ],
    )
    code, text, zf = exported(config, tmp_path / "x.zip")
    said = f"{note.number}: refund split across methods Shopify Payments, store_credit: book it"
    assert code == 1 and said in text
    assert said in member(zf, "LISEZMOI.txt").decode()
    booked = entries(fec_lines(zf))
    assert (("VE", note.number) in booked) and (("BQ", note.number) not in booked)


def test_shop_export_fails_on_a_number_out_of_order_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other shops' numbers explain a gap in one shop's, never a number out of order."""
    config, settings = books_config(tmp_path)
    today = date.today()
    second, first = (dated(case("b2c"), seq, issued=today, paid=today) for seq in (2, 1))
    serve(monkeypatch, [record(settings, second, 1), record(settings, first, 2)])
    code, text, zf = exported(config, tmp_path / "x.zip", "--shop", "boutique")
    assert code == 1 and f"numbering: out of order: {first.number}" in text
    assert f"HORS D'ORDRE : {first.number}" in member(zf, "numerotation.txt").decode()
    assert f"hors d'ordre {first.number}" in member(zf, "LISEZMOI.txt").decode()


def test_shop_export_passes_a_gap_the_other_shops_numbers_explain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, settings = books_config(tmp_path)
    today = date.today()
    docs = [dated(case("b2c"), seq, issued=today, paid=today) for seq in (1, 3)]
    serve(monkeypatch, [record(settings, snap, n) for n, snap in enumerate(docs, 1)])
    code, text, _ = exported(config, tmp_path / "x.zip", "--shop", "boutique")
    assert code == 0 and "belong to other shops too" in text and "out of order" not in text


def test_export_of_all_shops_fails_on_a_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, settings = books_config(tmp_path)
    today = date.today()
    docs = [dated(case("b2c"), seq, issued=today, paid=today) for seq in (1, 3)]
    serve(monkeypatch, [record(settings, snap, n) for n, snap in enumerate(docs, 1)])
    code, text, _ = exported(config, tmp_path / "x.zip")
    assert code == 1 and "numbering: a gap in the numbers" in text


def without_euro_rate(name: str) -> InvoiceSnapshot:
    """A document in a currency the ECB does not publish, recording no euro rate."""
    today = date.today()
    return dated(case(name), 1, issued=today, paid=today).model_copy(
        update={"currency": "XAF", "eur": None}
    )


def test_business_invoice_without_euro_rate_is_said_left_out_of_the_fec_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, settings = books_config(tmp_path)
    invoice = without_euro_rate("b2b")
    serve(monkeypatch, [record(settings, invoice, 1)])
    code, text, _ = exported(config, tmp_path / "x.zip")
    assert code == 1 and f"{invoice.number} is in XAF" in text
    assert text.endswith("book it by hand; left out of the FEC")


def test_consumer_invoice_without_euro_rate_is_said_left_out_of_the_fec_and_e_reporting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, settings = books_config(tmp_path)
    serve(monkeypatch, [record(settings, without_euro_rate("b2c"), 1)])
    code, text, _ = exported(config, tmp_path / "x.zip")
    assert code == 1 and text.endswith("left out of the FEC and the e-reporting")


def zip64_extra(data: bytes, info: zipfile.ZipInfo) -> bool:
    """Whether an entry's local header carries a ZIP64 extra field (id 0x0001)."""
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 :][:4])
    start = info.header_offset + 30 + name_length
    extra = data[start : start + extra_length]
    while extra:
        kind, size = struct.unpack("<HH", extra[:4])
        if kind == 1:
            return True
        extra = extra[4 + size :]
    return False


def test_manifest_is_written_with_zip64_sizes_like_the_other_files(shop, tmp_path: Path) -> None:
    config, _ = shop
    _, _, zf = exported(config, tmp_path / "x.zip")
    data = (tmp_path / "x.zip").read_bytes()
    streamed = [i for i in zf.infolist() if not i.filename.endswith(".pdf")]
    assert {i.filename.rsplit("/", 1)[1] for i in streamed} >= {"SHA256SUMS", "LISEZMOI.txt"}
    assert all(zip64_extra(data, info) for info in streamed)


def test_failed_export_closes_every_scratch_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, settings = books_config(tmp_path)
    today = date.today()
    serve(monkeypatch, [record(settings, dated(case("b2c"), 1, issued=today, paid=today), 1)])
    opened: list[Any] = []
    real_open = Path.open

    def tracked(path: Path, *args: Any, **kwargs: Any) -> Any:
        handle = real_open(path, *args, **kwargs)
        if path.parent.name.startswith(".export-"):
            opened.append(handle)
        return handle

    def disk_full(*_args: object) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "open", tracked)
    svc = Services.from_settings(settings)
    monkeypatch.setattr(type(svc.archive), "read", disk_full)
    try:  # the writer stays alive in the traceback: only the export can close its files
        with pytest.raises(OSError, match="No space") as failure:
            export_period(svc.store, svc.archive, settings,
                          ExportRequest(date.today(), date.today(), tmp_path / "x.zip"),
                          now=datetime.now(UTC))  # fmt: skip
    finally:
        svc.close()
    assert failure.value.errno == 28 and len(opened) == 3  # the manifest, journal and FEC
    assert all(handle.closed for handle in opened)
