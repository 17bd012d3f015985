"""The mandatory mentions, checked on the PDF that is sent: a template override that drops one
stops the invoice before it is archived or emailed, is refused at start-up, and shows in
`quittance preview`, which renders the owner's own configuration. Real PDFs, read back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import structlog
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner

from bridge.cli import app
from bridge.config import load_settings
from bridge.failures import PdfIncompleteError
from bridge.invoicing import cases
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot
from bridge.logs import configure_logging
from bridge.ops import check_templates
from bridge.outages import check_outages
from bridge.pipeline import accept_order, ensure_pdf, invoice_link, submit_order
from bridge.render import TemplateCheckError, Templates, default_templates_dir, render_pdf
from bridge.render.override_check import OverrideProblem, check_override, refuse_incomplete_override
from bridge.render.pdf_check import missing_in_text, missing_on_pdf, required_on_pdf
from bridge.render.preview import owner_cases, sample_logo
from bridge.services import Services
from bridge.web.app import create_app
from bridge.worker import work
from tests.support.cli import widen_consoles
from tests.support.config import SERVER, settings_for, write_config
from tests.support.documents import pdf_text
from tests.support.hook import Hook
from tests.support.orders import orders_by_id
from tests.support.smtp import SMTPServer

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

CASES = list(cases.CASE_BUILDERS)
STAMP_BLOCK = r"\{% if doc\.paid %\}.*?\{% endif %\}"
LEGAL_BLOCK = r"\{% if doc\.mentions %\}.*?\{% endif %\}"
MINIMAL = "<html><body><p>{{ doc.title }} {{ doc.number }} {{ doc.seller_name }}</p></body></html>"


def override(folder: Path, *, without: str = "", html: str | None = None) -> Path:
    """An override folder: our invoice.html minus the block `without` matches, or `html`."""
    if html is None:
        ours = (default_templates_dir() / "invoice.html").read_text(encoding="utf-8")
        html, cut = re.subn(without, "", ours, count=1, flags=re.S)
        assert cut == 1, f"{without!r} is not in our invoice.html"
    folder.mkdir(parents=True)
    (folder / "invoice.html").write_text(html, encoding="utf-8")
    return folder


def rules(missing: list) -> set[str]:
    return {m.rule for m in missing}


@pytest.fixture(scope="module")
def stampless(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our template without the paid stamp: one folder for the module, so that the start-up
    check renders its cases once (it remembers a folder's result)."""
    return override(tmp_path_factory.mktemp("stampless") / "t", without=STAMP_BLOCK)


@pytest.fixture(autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("INFO", "json")  # the dev renderer prints Rich tracebacks: seconds each
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def snaps() -> dict[str, InvoiceSnapshot]:
    return cases.all_cases()


@pytest.fixture(scope="module")
def ours(snaps) -> dict[str, bytes]:
    return {name: render_pdf(s) for name, s in snaps.items()}


# --------------------------------------------------------------------------- our templates


@pytest.mark.parametrize("name", CASES)
def test_our_templates_print_everything_the_check_requires(snaps, ours, name: str) -> None:
    assert missing_on_pdf(snaps[name], ours[name]) == []


def test_a_credit_note_from_our_templates_is_complete() -> None:
    note = cases.case_snapshot("b2b").model_copy(
        update={
            "kind": DocumentKind.credit_note,
            "number": "AV-2026-000001",
            "credited_number": "FA-2026-000102",
        }
    )
    assert missing_on_pdf(note, render_pdf(note)) == []


def test_the_check_requires_the_mentions_by_the_rules_that_recorded_them(snaps) -> None:
    required = {r.rule for r in required_on_pdf(snaps["b2b"])}
    assert set(snaps["b2b"].legal) <= required  # vat_debits, late_payment_penalties, …


# --------------------------------------------------------------------------- text matching


@pytest.fixture(scope="module")
def hundred() -> tuple[InvoiceSnapshot, str]:
    snapshot = cases.case_snapshot("hundred_lines")
    return snapshot, "\n".join(r.text for r in required_on_pdf(snapshot))


def test_values_broken_across_lines_are_found(hundred) -> None:
    snapshot, text = hundred
    assert missing_in_text(snapshot, text.replace(" ", "\n")) == []


def test_no_break_spaces_read_back_as_spaces_are_found(hundred) -> None:
    snapshot, text = hundred
    assert missing_in_text(snapshot, text.replace("\u00a0", " ").replace(" ", "\u00a0")) == []


def test_a_word_hyphenated_at_a_line_wrap_is_found(hundred) -> None:
    snapshot, text = hundred
    wrapped = text.replace("Association", "Associa-\ntion")
    assert wrapped != text and missing_in_text(snapshot, wrapped) == []


def test_values_set_in_capitals_are_found(hundred) -> None:
    snapshot, text = hundred
    assert missing_in_text(snapshot, text.upper()) == []


def test_a_value_left_out_is_named_by_its_rule_and_its_text(hundred) -> None:
    snapshot, text = hundred
    vat = snapshot.seller.vat_number
    (missing,) = missing_in_text(snapshot, text.replace(vat, ""))
    assert missing.rule == "seller_vat_number" and vat in missing.message


# --------------------------------------------------------------------------- overrides


def test_an_override_without_the_legal_block_misses_each_mention_by_its_rule(
    tmp_path: Path, snaps
) -> None:
    templates = Templates(override(tmp_path / "t", without=LEGAL_BLOCK))
    missing = missing_on_pdf(snaps["b2b"], render_pdf(snaps["b2b"], templates))
    assert rules(missing) == set(snaps["b2b"].legal)


def test_an_override_without_the_paid_stamp_misses_the_receipt(stampless: Path, snaps) -> None:
    templates = Templates(stampless)
    missing = missing_on_pdf(snaps["b2c"], render_pdf(snaps["b2c"], templates))
    assert rules(missing) == {"receipt"}


@pytest.fixture(scope="module")
def minimal_problems(tmp_path_factory: pytest.TempPathFactory) -> list[OverrideProblem]:
    folder = override(tmp_path_factory.mktemp("minimal") / "t", html=MINIMAL)
    return check_override(Templates(folder))


def test_the_start_up_check_names_the_override_file_every_case_and_the_rules(
    minimal_problems: list[OverrideProblem],
) -> None:
    assert {p.case for p in minimal_problems} == {*CASES, "credit_note"}
    assert all(p.file.endswith("invoice.html") for p in minimal_problems)
    assert {"seller_registration", "seller_vat_number", "buyer_identity", "totals"} <= {
        p.missing.rule for p in minimal_problems
    }


def test_an_incomplete_override_is_refused_with_file_case_and_rule(stampless: Path) -> None:
    with pytest.raises(TemplateCheckError) as refused:
        refuse_incomplete_override(Templates(stampless))
    message = str(refused.value)
    assert str(stampless / "invoice.html") in message
    assert "receipt (case b2c, b2b," in message


def test_an_override_that_only_restyles_passes_the_start_up_check(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    ours = (default_templates_dir() / "invoice.css").read_text(encoding="utf-8")
    (folder / "invoice.css").write_text(ours.replace("8.5pt", "9pt"), encoding="utf-8")
    assert check_override(Templates(folder)) == []


def test_the_service_refuses_to_start_with_an_incomplete_override(
    tmp_path: Path, stampless: Path
) -> None:
    config = write_config(tmp_path / "quittance.toml", templates={"dir": str(stampless)})
    result = CliRunner().invoke(app, ["run", "-c", str(config), "--workers", "0"])
    structlog.reset_defaults()
    assert result.exit_code == 2
    assert str(stampless / "invoice.html") in result.output and "receipt" in result.output


def test_doctor_reports_an_incomplete_override(tmp_path: Path, stampless: Path) -> None:
    svc = Services.from_settings(settings_for(tmp_path, templates_dir=stampless))
    try:
        line = check_templates(svc)
    finally:
        svc.close()
    assert not line.ok and "receipt" in line.detail


# --------------------------------------------------------------------------- the pipeline


def test_an_incomplete_pdf_is_neither_archived_nor_recorded(
    tmp_path: Path, stampless: Path
) -> None:
    svc = Services.from_settings(settings_for(tmp_path, templates_dir=stampless))
    try:
        invoice = accept_order(svc, orders_by_id()["1001"], then=()).invoice
        assert invoice is not None
        with pytest.raises(PdfIncompleteError) as refused:
            ensure_pdf(svc, invoice)
        kept = svc.store.get_invoice(invoice.number)
        assert kept is not None and kept.pdf_sha256 is None
        assert not (svc.archive.root / "sha256").exists()
        assert not (svc.archive.root / "profiles").exists()
    finally:
        svc.close()
    message = str(refused.value)
    assert "receipt" in message and f"[templates] dir ({stampless})" in message
    assert "quittance retry" in message


def test_a_customer_link_to_an_incomplete_pdf_answers_503_not_500(
    tmp_path: Path, stampless: Path
) -> None:
    config = write_config(
        tmp_path / "quittance.toml", templates={"dir": str(stampless)}, server=SERVER
    )
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        invoice = accept_order(svc, orders_by_id()["1001"], then=()).invoice
        assert invoice is not None
        link = urlsplit(invoice_link(svc, invoice))
        answer = TestClient(create_app(svc)).get(f"{link.path}?{link.query}")
    finally:
        svc.close()
    assert answer.status_code == 503


def test_an_incomplete_pdf_kills_its_job_alerts_the_owner_and_sends_nothing(
    tmp_path: Path, stampless: Path
) -> None:
    with SMTPServer() as smtp, Hook() as hook:
        settings = settings_for(
            tmp_path, templates_dir=stampless, smtp_port=smtp.port, alert_url=hook.url
        )
        svc = Services.from_settings(settings)
        try:
            submit_order(svc, orders_by_id()["1001"])
            work(svc, once=True)
            (dead,) = svc.store.list_jobs(states=("dead",))
            check_outages(svc)  # the minute's outage check: dead jobs alert at once
        finally:
            svc.close()
        assert smtp.received == []
    assert dead.kind == "render" and "PdfIncompleteError" in (dead.last_error or "")
    (alert,) = hook.posts
    assert "receipt" in alert["message"] and str(stampless) in alert["message"]


# --------------------------------------------------------------------------- preview


NOW = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)  # any instant: the preview is dated by its input


@pytest.fixture
def owner_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "quittance.toml",
        seller={
            "legal_name": "Maison Verveine SARL",
            "legal_form": "SARL",
            "brand_color": "#7a3b2e",
        },
        numbering={"series": "MV", "format": "MV{year}{month}-{seq:04d}"},
    )


def test_the_preview_numbers_with_the_owners_format_at_the_given_time(owner_config) -> None:
    preview = owner_cases(load_settings(owner_config, environ={}), now=NOW)
    assert {s.number for s in preview.cases.values()} == {"MV203103-0001"}
    assert {s.issued_at for s in preview.cases.values()} == {NOW}


def test_the_preview_is_the_owners_seller_with_its_brand_colour(owner_config) -> None:
    preview = owner_cases(load_settings(owner_config, environ={}), now=NOW)
    sellers = {s.seller.legal_name for s in preview.cases.values()}
    assert sellers == {"Maison Verveine SARL"}
    assert {s.seller.brand_color for s in preview.cases.values()} == {"#7a3b2e"}


def test_a_vat_registered_owner_has_no_franchise_case(owner_config) -> None:
    preview = owner_cases(load_settings(owner_config, environ={}), now=NOW)
    assert set(preview.cases) == set(CASES) - {"franchise"}
    assert set(preview.skipped) == {"franchise"}


def test_a_franchise_owner_previews_every_case_without_vat(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "quittance.toml",
        seller={"vat_regime": "franchise", "vat_number": None, "legal_form": "EI",
                "share_capital": None, "rcs_city": None},
    )  # fmt: skip
    preview = owner_cases(load_settings(config, environ={}), now=NOW)
    assert set(preview.cases) == set(CASES)
    assert all(s.totals.total_vat == 0 for s in preview.cases.values())


def cli(*args: str | Path) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args])
    structlog.reset_defaults()  # the CLI configured logging on the runner's closed stream
    return result


@pytest.fixture
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    widen_consoles(monkeypatch)


@pytest.fixture(scope="module")
def owner_preview(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """`quittance preview -c` run once on an owner's config with a name, format and logo."""
    folder = tmp_path_factory.mktemp("owner")
    logo = sample_logo(folder / "logo.png", "MV", "Maison Verveine", "#7a3b2e")
    config = write_config(
        folder / "quittance.toml",
        seller={"legal_name": "Maison Verveine SARL", "legal_form": "SARL", "logo": str(logo)},
        numbering={"series": "MV", "format": "MV{year}{month}-{seq:04d}"},
    )
    with pytest.MonkeyPatch.context() as patch:
        widen_consoles(patch)
        result = cli("preview", "-c", config, "--out", folder / "out")
    return folder, result


def test_preview_with_a_config_prints_the_owners_legal_name(owner_preview) -> None:
    folder, result = owner_preview
    assert result.exit_code == 0, result.output
    assert "Maison Verveine SARL" in pdf_text((folder / "out" / "b2c.pdf").read_bytes())


def test_preview_with_a_config_numbers_in_the_owners_format(owner_preview) -> None:
    folder, _ = owner_preview
    text = pdf_text((folder / "out" / "b2b.pdf").read_bytes())
    assert re.search(r"MV\d{6}-0001", text)  # the owner's format, this year and month


def test_preview_with_a_config_takes_no_number_from_the_store(owner_preview) -> None:
    folder, _ = owner_preview
    assert (folder / "out" / "b2c.pdf").is_file() and not (folder / "q.db").exists()


def test_preview_with_a_config_draws_the_owners_logo(owner_preview) -> None:
    folder, _ = owner_preview
    page = PdfReader(BytesIO((folder / "out" / "b2c.pdf").read_bytes())).pages[0]
    xobjects = page["/Resources"].get("/XObject", {})
    assert any(x.get_object()["/Subtype"] == "/Image" for x in xobjects.values())


def test_preview_reports_what_the_owners_override_leaves_out(
    tmp_path: Path, stampless: Path, wide_consoles: None
) -> None:
    config = write_config(tmp_path / "quittance.toml", templates={"dir": str(stampless)})
    result = cli("preview", "-c", config, "--out", tmp_path / "out")
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert str(stampless / "invoice.html") in output and "receipt (case b2c" in output
    assert (tmp_path / "out" / "b2c.pdf").is_file()  # still rendered, to look at


def test_preview_without_a_config_renders_the_sample_sellers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wide_consoles: None
) -> None:
    monkeypatch.delenv("QUITTANCE_CONFIG", raising=False)
    result = cli("preview", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "La Théière Lyonnaise SAS" in pdf_text((tmp_path / "out" / "b2c.pdf").read_bytes())


@pytest.mark.parametrize(
    "city", ["90-001 Łódź", "Αθήνα", "Cafe\u0301 🎁 ville"], ids=["polish", "greek", "nfd-emoji"]
)
def test_characters_the_font_cannot_draw_are_not_taken_for_a_missing_mention(city: str) -> None:
    order = cases.b2c_order()
    billing = order.customer.billing.model_copy(update={"city": city})
    customer = order.customer.model_copy(update={"billing": billing, "first_name": "Łucja 🎁"})
    snap = cases.build_invoice(
        order.model_copy(update={"customer": customer}),
        cases.company_seller(),
        cases.Numbering(series="FA", number="FA-2026-000001", sequence=1),
        issued_at=cases.ISSUED,
        terms=cases.CASE_TERMS,
    )
    assert missing_on_pdf(snap, render_pdf(snap)) == []
