"""Render profiles: every archived PDF records how it was rendered (its frozen template set and
the renderer versions), so that `render`, `verify` and a restore use the document's own
templates whatever the live ones have become — and say so when that is no longer possible.
Documents archived before profiles existed re-render with the current templates, as before."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from bridge.archive import Archive, FileState, sha256_hex, tree_hash
from bridge.audit import verify_archive
from bridge.cli import app
from bridge.failures import RenderProfileError
from bridge.logs import configure_logging
from bridge.pipeline import accept_order, ensure_pdf
from bridge.render import TemplateCheckError, Templates, default_templates_dir, render_pdf
from bridge.render.archived import rerender
from bridge.render.document import render_document
from bridge.render.profile import RenderProfile, renderer_versions
from bridge.render.templates import MAX_TEMPLATE_SET_BYTES
from bridge.services import Services
from bridge.store import InvoiceRecord
from tests.support.cli import widen_consoles
from tests.support.config import settings_for
from tests.support.orders import orders_by_id
from tests.support.paths import FIXTURES

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

QUEUED_BY_B85858E = FIXTURES / "databases" / "queued_by_b85858e.sqlite"
OUR_CSS = (default_templates_dir() / "invoice.css").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("INFO", "json")  # the dev renderer prints Rich tracebacks: seconds each
    yield
    structlog.reset_defaults()


def restyled(folder: Path, size: str) -> Path:
    """An override folder with our stylesheet at another body font size (complete, different)."""
    folder.mkdir(exist_ok=True)
    css = folder / "invoice.css"
    css.unlink(missing_ok=True)
    css.write_text(OUR_CSS.replace("font-size: 8.5pt", f"font-size: {size}"), encoding="utf-8")
    return folder


def archived(svc: Services, order_id: str = "1001") -> tuple[InvoiceRecord, bytes]:
    invoice = accept_order(svc, orders_by_id()[order_id], then=()).invoice
    assert invoice is not None
    pdf = ensure_pdf(svc, invoice)
    again = svc.store.get_invoice(invoice.number)
    assert again is not None and again.pdf_sha256 == sha256_hex(pdf)
    return again, pdf


def lose(svc: Services, invoice: InvoiceRecord) -> None:
    svc.archive.path_for(invoice.pdf_sha256 or "").unlink()


def rewrite_profile(svc: Services, invoice: InvoiceRecord, data: bytes) -> None:
    path = svc.archive.profile_path(invoice.pdf_sha256 or "")
    os.chmod(path, 0o644)
    path.write_bytes(data)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    services = Services.from_settings(settings_for(tmp_path))
    yield services
    services.close()


# --------------------------------------------------------------------------- what is recorded


def test_the_first_render_records_its_profile_under_the_pdf_hash(svc: Services) -> None:
    invoice, _ = archived(svc)
    raw = svc.archive.read_profile(invoice.pdf_sha256 or "")
    assert raw is not None
    profile = RenderProfile.from_json(raw)
    assert profile.template_set == tree_hash(svc.templates.files)
    assert profile.renderers == renderer_versions()


def test_the_templates_are_frozen_in_the_archive_under_their_hash(svc: Services) -> None:
    archived(svc)
    frozen = svc.archive.template_set_dir(tree_hash(svc.templates.files))
    assert (frozen / "invoice.html").read_bytes() == svc.templates.files["invoice.html"]
    assert svc.archive.template_set_state(frozen.name) is FileState.ok


def test_the_archived_event_carries_the_profile_too(svc: Services) -> None:
    archived(svc)
    (event,) = svc.store.events(kind="invoice.archived")
    assert event.detail["template_set"] == tree_hash(svc.templates.files)
    assert event.detail["renderers"] == renderer_versions()


def test_the_renderer_versions_include_our_own_render_code() -> None:
    versions = renderer_versions()
    assert {"xhtml2pdf", "reportlab", "jinja2", "babel", "quittance-render"} <= set(versions)


def test_a_profile_reads_back_as_it_was_written() -> None:
    profile = RenderProfile(template_set="ab" * 32, renderers={"xhtml2pdf": "0.2.16"})
    assert RenderProfile.from_json(profile.to_json()) == profile


def test_a_profile_names_each_renderer_version_that_differs() -> None:
    profile = RenderProfile(template_set="x", renderers={"xhtml2pdf": "0.2.16", "zlib": "1.3"})
    assert profile.differences({"xhtml2pdf": "0.2.17", "zlib": "1.3"}) == [
        "xhtml2pdf 0.2.16 (installed: 0.2.17)"
    ]


# --------------------------------------------------------------------------- the template set


def test_a_template_set_hash_is_that_of_its_sha256sum_listing() -> None:
    files = {"invoice.html": b"<html/>", "email/a.txt": b"hi"}
    listing = "".join(
        f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files)
    )
    assert tree_hash(files) == hashlib.sha256(listing.encode()).hexdigest()


def test_a_stored_template_set_is_read_only_and_stored_once(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    files = {"invoice.html": b"<html/>", "email/a.txt": b"hi"}
    digest = archive.put_template_set(files)
    assert archive.put_template_set(files) == digest
    stored = archive.template_set_dir(digest) / "email" / "a.txt"
    assert stored.read_bytes() == b"hi" and oct(stored.stat().st_mode & 0o777) == "0o444"
    assert sorted(p.name for p in (tmp_path / "template-sets").iterdir()) == [digest]


def test_an_edited_or_deleted_template_set_is_detected(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    digest = archive.put_template_set({"invoice.html": b"<html/>"})
    page = archive.template_set_dir(digest) / "invoice.html"
    os.chmod(page, 0o644)
    page.write_bytes(b"<html>edited</html>")
    assert archive.template_set_state(digest) is FileState.altered
    shutil.rmtree(archive.template_set_dir(digest))
    assert archive.template_set_state(digest) is FileState.missing


def test_storing_a_set_again_repairs_an_altered_copy(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    digest = archive.put_template_set({"invoice.html": b"<html/>"})
    (archive.template_set_dir(digest) / "stray.png").write_bytes(b"x")
    archive.put_template_set({"invoice.html": b"<html/>"})
    assert archive.template_set_state(digest) is FileState.ok


def test_templates_are_read_when_built_not_when_rendered(tmp_path: Path) -> None:
    templates = Templates(restyled(tmp_path / "t", "9pt"))
    restyled(tmp_path / "t", "11pt")
    assert b"font-size: 9pt" in templates.files["invoice.css"]


def test_an_override_folder_too_heavy_to_freeze_is_refused(tmp_path: Path) -> None:
    folder = restyled(tmp_path / "t", "9pt")
    (folder / "photo.png").write_bytes(b"\0" * (MAX_TEMPLATE_SET_BYTES + 1))
    with pytest.raises(TemplateCheckError, match="keep only templates"):
        Templates(folder)


# --------------------------------------------------------------------------- re-rendering


@pytest.fixture
def edited_later(tmp_path: Path) -> Iterator[tuple[Services, InvoiceRecord, bytes]]:
    """An invoice archived with one override; the service then restarted after the owner
    edited that override."""
    folder = restyled(tmp_path / "templates", "9pt")
    first = Services.from_settings(settings_for(tmp_path, templates_dir=folder))
    try:
        invoice, pdf = archived(first)
    finally:
        first.close()
    restyled(folder, "11pt")
    later = Services.from_settings(settings_for(tmp_path, templates_dir=folder))
    yield later, invoice, pdf
    later.close()


def test_a_later_template_edit_changes_what_a_new_render_would_print(edited_later) -> None:
    svc, invoice, pdf = edited_later
    assert render_document(invoice.snapshot, svc.templates) != pdf


def test_a_lost_pdf_is_restored_with_its_own_templates_after_an_edit(edited_later) -> None:
    svc, invoice, pdf = edited_later
    lose(svc, invoice)
    assert ensure_pdf(svc, invoice) == pdf
    assert svc.archive.read(invoice.pdf_sha256 or "") == pdf


def test_a_rerender_uses_the_documents_own_templates_after_an_edit(edited_later) -> None:
    svc, invoice, pdf = edited_later
    again = rerender(svc.archive, invoice.snapshot, invoice.pdf_sha256 or "", svc.templates)
    assert again.pdf == pdf and again.drift == []


def test_quittance_render_gives_the_archived_bytes_after_an_edit(
    edited_later, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _svc, invoice, pdf = edited_later
    widen_consoles(monkeypatch)
    target = tmp_path / "copy.pdf"
    config = tmp_path / "quittance.toml"
    result = CliRunner().invoke(
        app, ["render", invoice.number, "-o", str(target), "-c", str(config)]
    )
    structlog.reset_defaults()
    assert result.exit_code == 0, result.output
    assert "identical" in result.output and target.read_bytes() == pdf


# --------------------------------------------------------------------------- cannot reproduce


def test_missing_frozen_templates_refuse_a_restore(svc: Services) -> None:
    invoice, _ = archived(svc)
    frozen = svc.archive.template_set_dir(tree_hash(svc.templates.files))
    shutil.rmtree(frozen)
    lose(svc, invoice)
    with pytest.raises(RenderProfileError, match="missing") as refused:
        ensure_pdf(svc, invoice)
    assert str(frozen) in str(refused.value)
    assert not svc.archive.path_for(invoice.pdf_sha256 or "").exists()  # nothing put in place


def test_verify_lists_a_document_whose_frozen_templates_are_missing(svc: Services) -> None:
    invoice, _ = archived(svc)
    shutil.rmtree(svc.archive.template_set_dir(tree_hash(svc.templates.files)))
    _checked, problems = verify_archive(svc.store, svc.archive)
    assert [(p.number, "frozen templates missing" in p.what) for p in problems] == [
        (invoice.number, True)
    ]


def test_verify_lists_a_document_rendered_with_other_renderer_versions(svc: Services) -> None:
    invoice, _ = archived(svc)
    profile = RenderProfile.from_json(svc.archive.read_profile(invoice.pdf_sha256 or "") or b"")
    older = RenderProfile(profile.template_set, {**profile.renderers, "xhtml2pdf": "0.0.1"})
    rewrite_profile(svc, invoice, older.to_json())
    _checked, problems = verify_archive(svc.store, svc.archive)
    (problem,) = problems
    assert problem.number == invoice.number
    assert f"xhtml2pdf 0.0.1 (installed: {renderer_versions()['xhtml2pdf']})" in problem.what


def test_verify_lists_an_unreadable_profile(svc: Services) -> None:
    invoice, _ = archived(svc)
    rewrite_profile(svc, invoice, b"not json")
    _checked, problems = verify_archive(svc.store, svc.archive)
    assert [(p.number, "unreadable" in p.what) for p in problems] == [(invoice.number, True)]


def test_verify_lists_a_document_whose_profile_file_was_lost(svc: Services) -> None:
    invoice, _ = archived(svc)
    profile = svc.archive.profile_path(invoice.pdf_sha256 or "")
    profile.chmod(0o644)
    profile.unlink()
    _checked, problems = verify_archive(svc.store, svc.archive)
    assert [(p.number, "render profile missing" in p.what) for p in problems] == [
        (invoice.number, True)
    ]


# --------------------------------------------------------------------------- before profiles


@pytest.fixture
def archived_before_profiles(tmp_path: Path) -> Iterator[tuple[Services, dict[str, bytes]]]:
    """The invoices a previous version issued (the fixture database), archived the way it
    archived them: rendered with the service's templates, the SHA-256 recorded, no profile."""
    database = tmp_path / "quittance.sqlite3"
    shutil.copyfile(QUEUED_BY_B85858E, database)
    svc = Services.from_settings(settings_for(tmp_path, f"sqlite:///{database}"))
    pdfs = {}
    for invoice in svc.store.iter_invoices():
        pdf = render_pdf(invoice.snapshot, svc.templates)
        svc.store.set_pdf_sha256(invoice.id, svc.archive.put(pdf, number=invoice.number).sha256)
        pdfs[invoice.number] = pdf
    yield svc, pdfs
    svc.close()


def test_an_invoice_archived_before_profiles_restores_to_its_recorded_hash(
    archived_before_profiles,
) -> None:
    svc, pdfs = archived_before_profiles
    invoices = list(svc.store.iter_invoices())
    assert len(invoices) == 2
    for invoice in invoices:
        lose(svc, invoice)
        restored = ensure_pdf(svc, invoice)
        assert sha256_hex(restored) == invoice.pdf_sha256 and restored == pdfs[invoice.number]
        assert svc.archive.read_profile(invoice.pdf_sha256 or "") is None


def test_verify_finds_nothing_wrong_with_invoices_archived_before_profiles(
    archived_before_profiles,
) -> None:
    svc, _ = archived_before_profiles
    assert verify_archive(svc.store, svc.archive) == (2, [])
