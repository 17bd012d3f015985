"""The official Factur-X schematrons (EN 16931, French BR-FR) through `bridge.facturx.rules`:
on hand-written CII documents, on every document Quittance builds, and in
`quittance check-invoice --facturx`.

Every document of the module goes through ONE subprocess batch (`checked`, module-scoped):
compiling the stylesheets is the cost, applying them is milliseconds. The tests about the
runner's own failures (nothing fired, no saxonche, a crash, a hang) start small runs of their
own, on purpose.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from bridge.cli import app
from bridge.facturx import cii, rules
from bridge.facturx.archived_check import (
    MISSING_EMBEDDED_XML,
    NO_EMBEDDED_XML,
    embedded_xml,
    needs_french_rules,
    xsd_error,
)
from bridge.facturx.cii import build_cii
from bridge.facturx.rules import (
    EN16931,
    Finding,
    RulesNotRun,
    RulesReport,
    RulesUnavailable,
    Schematron,
    run_rules,
    run_schematrons,
)
from bridge.invoicing.cases import all_cases
from bridge.invoicing.snapshot import InvoiceSnapshot
from tests.support.cli import local_config
from tests.support.orders import sample_path

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

FIXTURES = Path(__file__).parent / "fixtures" / "facturx"
VALID = (FIXTURES / "valid_en16931.xml").read_bytes()
BROKEN = (FIXTURES / "broken_en16931.xml").read_bytes()
FEES = b"<ram:Name>Frais de dossier</ram:Name>"
CASES = all_cases()
FRENCH_B2B = sorted(name for name, snap in CASES.items() if needs_french_rules(snap))


def _with_total(snap: InvoiceSnapshot, total_incl: Decimal) -> InvoiceSnapshot:
    return snap.model_copy(
        update={"totals": snap.totals.model_copy(update={"total_incl": total_incl})}
    )


def _without_seller_siren(snap: InvoiceSnapshot) -> InvoiceSnapshot:
    return snap.model_copy(
        update={"seller": snap.seller.model_copy(update={"siren": "", "siret": ""})}
    )


def _documents() -> dict[str, tuple[bytes, bool]]:
    """Every document the module checks: name → (CII XML, French rules too)."""
    docs = {
        "fixture:valid": (VALID, True),
        "fixture:broken": (BROKEN, True),
        # a unit code no code list knows: only the codedb file beside EN 16931 can say so
        "fixture:unknown_unit": (VALID.replace(b'unitCode="C62"', b'unitCode="QQQ"', 1), False),
        # an empty element: EN 16931's PEPPOL-EN16931-R008, flagged "warning"
        "fixture:empty_element": (VALID.replace(FEES, FEES + b"<ram:Description/>"), False),
    }
    for name, snap in CASES.items():
        docs[f"case:{name}"] = (build_cii(snap), name in FRENCH_B2B)
    b2b = CASES["b2b"]
    docs["broken:wrong_total"] = (build_cii(_with_total(b2b, b2b.totals.total_incl + 10)), True)
    docs["broken:no_seller_siren"] = (build_cii(_without_seller_siren(b2b)), True)
    return docs


DOCUMENTS = _documents()


@pytest.fixture(scope="module")
def checked() -> dict[str, RulesReport]:
    names = list(DOCUMENTS)
    reports = run_rules(
        [(name, DOCUMENTS[name][0]) for name in names],
        french=[DOCUMENTS[name][1] for name in names],
    )
    return dict(zip(names, reports, strict=True))


def _listed(findings: tuple[Finding, ...]) -> str:
    return "\n".join(f"{f.line()} at {f.location}" for f in findings) or "none"


def _summary(report: RulesReport) -> str:
    return f"errors:\n{_listed(report.errors)}\nwarnings:\n{_listed(report.warnings)}"


# --------------------------------------------------------------------------- hand-written CII


def test_the_hand_written_invoice_passes_the_xsd() -> None:
    assert xsd_error(VALID) is None


def test_the_hand_written_invoice_passes_en16931_and_br_fr(
    checked: dict[str, RulesReport],
) -> None:
    report = checked["fixture:valid"]
    assert report.schematrons == ("EN16931", "BR-FR")
    assert report.errors == (), _summary(report)


def test_each_schematron_fires_rules_on_a_cii_invoice(checked: dict[str, RulesReport]) -> None:
    fired = checked["fixture:valid"].fired
    assert fired["EN16931"] > 100 and fired["BR-FR"] > 50, fired


def test_a_wrong_grand_total_is_caught_as_br_co_15(checked: dict[str, RulesReport]) -> None:
    assert "BR-CO-15" in checked["fixture:broken"].error_ids()


def test_a_missing_seller_siren_is_caught_as_br_fr_10(checked: dict[str, RulesReport]) -> None:
    assert "BR-FR-10_BT-30" in checked["fixture:broken"].error_ids()


def test_the_broken_copy_passes_the_xsd_so_only_the_rules_catch_it() -> None:
    assert xsd_error(BROKEN) is None


def test_a_unit_code_outside_the_code_lists_is_caught_from_the_local_codedb(
    checked: dict[str, RulesReport],
) -> None:
    # The rule reads FACTUR-X_EN16931_codedb.xml beside the stylesheet; the subprocess allows
    # file: URIs only, so a reference that went to the network would fail the whole run.
    (finding,) = checked["fixture:unknown_unit"].errors
    assert finding.rule_id == "FX-SCH-A-000613"
    assert "document('FACTUR-X_EN16931_codedb.xml')" in finding.test


def test_an_empty_element_is_a_warning_not_an_error(checked: dict[str, RulesReport]) -> None:
    report = checked["fixture:empty_element"]
    assert report.errors == (), _summary(report)
    assert {(f.rule_id, f.flag) for f in report.warnings} == {("PEPPOL-EN16931-R008", "warning")}


def test_french_false_runs_en16931_alone(checked: dict[str, RulesReport]) -> None:
    assert checked["fixture:unknown_unit"].schematrons == ("EN16931",)


def test_saxonche_never_loads_in_the_test_process(checked: dict[str, RulesReport]) -> None:
    assert checked and "saxonche" not in sys.modules


# --------------------------------------------------------------------------- checks not made


def test_a_document_that_is_not_cii_is_refused_before_any_rule_runs() -> None:
    # EN 16931 would fire PEPPOL-EN16931-R008 on its empty element and find no error
    with pytest.raises(RulesNotRun, match=r"notes\.xml: its root is notes"):
        run_rules([("notes.xml", b"<notes/>")], french=False)


def test_a_document_that_is_not_xml_is_refused_naming_it() -> None:
    with pytest.raises(RulesNotRun, match=r"garbage\.pdf: not XML"):
        run_rules([("garbage.pdf", b"%PDF-1.7 not xml")], french=False)


def test_a_stylesheet_that_fires_nothing_raises() -> None:
    nothing = Schematron("NOTHING", FIXTURES / "fires_nothing.xslt")
    with pytest.raises(RulesNotRun, match=r"valid\.xml: NOTHING fired no rule"):
        run_schematrons([("valid.xml", VALID, (nothing,))])


def test_a_stylesheet_that_fires_nothing_on_one_document_fails_the_whole_batch() -> None:
    nothing = Schematron("NOTHING", FIXTURES / "fires_nothing.xslt")
    with pytest.raises(RulesNotRun, match=r"b\.xml: NOTHING") as caught:
        run_schematrons([("a.xml", VALID, (EN16931,)), ("b.xml", VALID, (nothing,))])
    assert "a.xml" not in str(caught.value)


def test_a_document_saxon_cannot_read_raises_naming_it() -> None:
    with pytest.raises(RulesNotRun, match=r"garbage\.xml: EN16931 could not read it"):
        run_schematrons([("garbage.xml", b"%PDF-1.7 not xml", (EN16931,))])


def _fake_saxonche(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:  # shadows the real one in the subprocess only (PYTHONPATH comes first)
    (tmp_path / "saxonche.py").write_text(body)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))


def test_a_missing_saxonche_raises_naming_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_saxonche(tmp_path, monkeypatch, "raise ImportError('No module named saxonche')\n")
    with pytest.raises(RulesUnavailable, match="pip install saxonche"):
        run_rules([("valid.xml", VALID)], french=False)


def test_a_crashed_subprocess_raises_with_its_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_saxonche(tmp_path, monkeypatch, "import os\nos.abort()\n")
    with pytest.raises(RulesUnavailable, match="exited with code -6"):
        run_rules([("valid.xml", VALID)], french=False)


def test_a_hung_subprocess_is_stopped_at_the_time_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_saxonche(tmp_path, monkeypatch, "import time\ntime.sleep(60)\n")
    with pytest.raises(RulesUnavailable, match="was stopped"):
        run_schematrons([("valid.xml", VALID, (EN16931,))], timeout_s=1)


def test_a_missing_stylesheet_raises_before_starting_anything(tmp_path: Path) -> None:
    gone = Schematron("GONE", tmp_path / "gone.xslt")
    with pytest.raises(RulesUnavailable, match="GONE: no stylesheet at"):
        run_schematrons([("valid.xml", VALID, (gone,))])


# Says "I ran" and writes no SVRL report: the seam is saxonche, the real worker runs.
SAXONCHE_WRITING_NOTHING = """
class PySaxonApiError(Exception):
    pass


class _Compiled:
    def transform_to_file(self, source_file, output_file):
        pass


class _Xslt30:
    def compile_stylesheet(self, stylesheet_file):
        return _Compiled()


class PySaxonProcessor:
    def __init__(self, license):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def set_configuration_property(self, name, value):
        pass

    def new_xslt30_processor(self):
        return _Xslt30()
"""


def test_a_check_that_wrote_no_svrl_report_raises_unavailable_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_saxonche(tmp_path, monkeypatch, SAXONCHE_WRITING_NOTHING)
    with pytest.raises(RulesUnavailable, match=r"valid\.xml: EN16931 ran but wrote no SVRL"):
        run_schematrons([("valid.xml", VALID, (EN16931,))])


def test_an_svrl_report_that_is_not_xml_raises_unavailable_naming_it() -> None:
    text = Schematron("TEXT", FIXTURES / "answers_text.xslt")
    with pytest.raises(RulesUnavailable, match=r"valid\.xml: the SVRL report of TEXT .* not XML"):
        run_schematrons([("valid.xml", VALID, (text,))])


def test_an_answer_with_a_result_missing_raises_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = tmp_path / "worker.py"  # a worker that loses the one check it was asked for
    worker.write_text(
        "import json, sys\n"
        "json.load(sys.stdin)\n"
        "json.dump({'compiled': {}, 'jobs': []}, sys.stdout)\n"
    )
    monkeypatch.setattr(rules, "WORKER", worker)
    with pytest.raises(RulesUnavailable, match=r"answered 0 result\(s\) for 1 check\(s\)"):
        run_schematrons([("valid.xml", VALID, (EN16931,))])


def test_the_rules_read_the_cii_namespaces_from_cii() -> None:
    assert rules.NS is cii.NS


def test_french_flags_must_match_the_documents() -> None:
    with pytest.raises(ValueError, match="2 documents but 1"):
        run_rules([("a", VALID), ("b", VALID)], french=[True])


# --------------------------------------------------------------------------- what Quittance builds


def test_the_french_b2b_cases_are_b2b_and_its_credit_note() -> None:
    assert {"b2b", "credit_note"} <= set(FRENCH_B2B)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_case_passes_the_xsd(name: str) -> None:
    assert xsd_error(DOCUMENTS[f"case:{name}"][0]) is None


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_case_passes_en16931(name: str, checked: dict[str, RulesReport]) -> None:
    report = checked[f"case:{name}"]
    en16931 = tuple(f for f in report.errors if f.schematron == "EN16931")
    assert en16931 == (), _summary(report)


@pytest.mark.parametrize("name", FRENCH_B2B)
def test_every_french_b2b_case_passes_br_fr(name: str, checked: dict[str, RulesReport]) -> None:
    report = checked[f"case:{name}"]
    assert "BR-FR" in report.schematrons
    br_fr = tuple(f for f in report.errors if f.schematron == "BR-FR")
    assert br_fr == (), _summary(report)


def test_a_snapshot_with_a_wrong_total_is_caught_as_br_co_15(
    checked: dict[str, RulesReport],
) -> None:
    assert "BR-CO-15" in checked["broken:wrong_total"].error_ids()


def test_a_snapshot_without_seller_siren_is_caught_by_br_fr(
    checked: dict[str, RulesReport],
) -> None:
    assert "BR-FR-10_BT-30" in checked["broken:no_seller_siren"].error_ids()


# --------------------------------------------------------------------------- check-invoice


@pytest.fixture(autouse=True)
def _wide_consoles(wide_consoles: None) -> None:
    """Every test here reads the CLI's output unwrapped."""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return local_config(tmp_path)


def cli(*args: str | Path):  # -> click.testing.Result
    result = CliRunner().invoke(app, [str(a) for a in args])
    structlog.reset_defaults()
    return result


def _issue(config: Path, prefix: str) -> str:
    result = cli("issue", "-c", config, "--order", sample_path(prefix))
    assert result.exit_code == 0, result.output
    return result.stdout.split()[0]


def test_check_invoice_facturx_checks_the_xml_of_an_issued_b2b_invoice(config: Path) -> None:
    number = _issue(config, "02_")  # French B2B, bank transfer
    result = cli("check-invoice", number, "--facturx", "-c", config)
    assert result.exit_code == 0, result.output
    assert "factur-x.xml: XSD valid" in result.output
    assert "EN16931 " in result.output and "BR-FR " in result.output
    assert ": 0 error(s)" in result.output


def test_check_invoice_without_facturx_runs_no_schematron(config: Path) -> None:
    number = _issue(config, "01_")
    result = cli("check-invoice", number, "-c", config)
    assert result.exit_code == 0, result.output
    assert "factur-x" not in result.output.lower()


def _archive_as_before_facturx(
    config: Path, prefix: str, *, profile_version: str | None = None
) -> str:
    """An invoice issued and archived the way every one was before Factur-X: a plain PDF,
    with no render profile, or one of `profile_version` (`quittance-render`)."""
    from bridge.config import load_settings
    from bridge.model import Order
    from bridge.pipeline import accept_order
    from bridge.render import render_pdf
    from bridge.render.archived import freeze
    from bridge.render.profile import RenderProfile
    from bridge.services import Services

    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        order = Order.model_validate_json(sample_path(prefix).read_bytes())
        invoice = accept_order(svc, order, then=[]).invoice
        assert invoice is not None
        archived = svc.archive.put(render_pdf(invoice.snapshot, svc.templates))
        if profile_version is not None:
            current = freeze(svc.archive, svc.templates)
            renderers = current.renderers | {"quittance-render": profile_version}
            profile = RenderProfile(current.template_set, renderers)
            svc.archive.put_profile(archived.sha256, profile.to_json())
        svc.store.set_pdf_sha256(invoice.id, archived.sha256)
        return invoice.number
    finally:
        svc.close()


def test_check_invoice_facturx_says_a_pdf_archived_before_facturx_has_nothing_to_check(
    config: Path,
) -> None:
    number = _archive_as_before_facturx(config, "02_")
    result = cli("check-invoice", number, "--facturx", "-c", config)
    assert result.exit_code == 0, result.output
    assert NO_EMBEDDED_XML in result.output


def test_check_invoice_facturx_says_a_plain_pdf_of_a_version_1_profile_has_nothing_to_check(
    config: Path,
) -> None:
    number = _archive_as_before_facturx(config, "02_", profile_version="1")
    result = cli("check-invoice", number, "--facturx", "-c", config)
    assert result.exit_code == 0, result.output
    assert NO_EMBEDDED_XML in result.output


def test_check_invoice_facturx_exits_1_when_a_pdf_rendered_as_facturx_carries_no_xml(
    config: Path,
) -> None:
    from bridge.render.profile import FIRST_FACTURX_VERSION

    number = _archive_as_before_facturx(config, "02_", profile_version=str(FIRST_FACTURX_VERSION))
    result = cli("check-invoice", number, "--facturx", "-c", config)
    assert result.exit_code == 1, result.output
    assert MISSING_EMBEDDED_XML in result.output
    assert NO_EMBEDDED_XML not in result.output


def test_check_invoice_facturx_exits_1_on_a_schematron_error(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = _issue(config, "02_")
    # the archive is hash-verified on read: the broken XML comes from the PDF reader instead
    monkeypatch.setattr("bridge.facturx.archived_check.embedded_xml", lambda _pdf: BROKEN)
    result = cli("check-invoice", number, "--facturx", "-c", config)
    assert result.exit_code == 1, result.output
    assert "error    EN16931 BR-CO-15" in result.output
    assert "error    BR-FR BR-FR-10_BT-30" in result.output


def test_check_invoice_facturx_exits_2_when_the_rules_cannot_run(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = _issue(config, "02_")
    _fake_saxonche(tmp_path, monkeypatch, "raise ImportError('No module named saxonche')\n")
    result = cli("check-invoice", number, "--facturx", "-c", config)
    assert result.exit_code == 2, result.output
    assert "Factur-X rules not run" in result.output and "pip install saxonche" in result.output


def test_an_archived_facturx_pdf_carries_the_xml_check_invoice_reads(config: Path) -> None:
    from bridge.archive import Archive
    from bridge.store import Store

    number = _issue(config, "02_")
    store = Store.open(f"sqlite:///{config.parent / 'q.db'}")
    try:
        invoice = store.get_invoice(number)
    finally:
        store.close()
    assert invoice is not None and invoice.pdf_sha256
    pdf = Archive(config.parent / "archive").read(invoice.pdf_sha256)
    xml = embedded_xml(pdf)
    assert xml is not None and number.encode() in xml


# --------------------------------------------------------------------------- the demo's documents


@pytest.fixture(scope="module")
def demo_documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, bool]]:
    """Every document `quittance demo` issues, as its archived PDF carries it. The real demo,
    once (about 25 s: its sandboxes pay orders over ~20 s of scripted time): rebuilding its
    orders here would test a copy of the demo, not the demo."""
    import subprocess

    from bridge.config import load_settings
    from bridge.services import Services
    from tests.support.service import child_env, quittance_cmd

    workdir = tmp_path_factory.mktemp("demo") / "demo"
    done = subprocess.run(
        quittance_cmd("demo", "--workdir", workdir),
        env=child_env(),
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    svc = Services.from_settings(load_settings(workdir / "quittance.toml", environ={}))
    try:
        docs = {}
        for invoice in svc.store.iter_invoices():
            assert invoice.pdf_sha256, f"{invoice.number} was not archived"
            xml = embedded_xml(svc.archive.read(invoice.pdf_sha256))
            assert xml is not None, f"{invoice.number}: its PDF carries no factur-x.xml"
            docs[invoice.number] = (xml, needs_french_rules(invoice.snapshot))
        return docs
    finally:
        svc.close()


@pytest.mark.slow
def test_every_demo_document_passes_the_xsd_and_en16931(
    demo_documents: dict[str, tuple[bytes, bool]],
) -> None:
    names = sorted(demo_documents)
    reports = run_rules(
        [(n, demo_documents[n][0]) for n in names], french=[demo_documents[n][1] for n in names]
    )
    problems = {n: xsd_error(demo_documents[n][0]) for n in names}
    problems |= {r.name: _summary(r) for r in reports if not r.ok}
    assert len(names) >= 20 and not {n: p for n, p in problems.items() if p}, problems
