"""Every document is a Factur-X PDF/A-3b: factur-x.xml embedded as the Factur-X specification
says, PDF/A-3b as pikepdf's PDF/A validator (the veraPDF rules, in Python) reads it, fonts
embedded, XMP in sync with the document info, and the same bytes on every render, so an
archived document re-renders to itself. Real PDFs, parsed back with pikepdf and factur-x."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import facturx
import pikepdf
import pikepdf.pdfa
import pytest
import time_machine
from lxml import etree

from bridge.archive import Archive, sha256_hex
from bridge.facturx.cii import build_cii
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.outages import check_outages
from bridge.pipeline import submit_order
from bridge.render import document as document_mod
from bridge.render.archived import ProfileCheck, render_for_archive, rerender
from bridge.render.document import render_document
from bridge.render.pdf import render_pdf
from bridge.render.preview import SAMPLE_LOGOS, preview_cases, sample_logo
from bridge.render.profile import RENDER_PROFILE_VERSION, RENDERED_VERSIONS, RenderProfile
from bridge.render.templates import Templates
from bridge.services import Services
from bridge.worker import work
from tests.support.config import settings_for
from tests.support.hook import Hook
from tests.support.orders import orders_by_id
from tests.support.smtp import SMTPServer

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

FX_NS = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
# pikepdf's validator is an allowlist: it does not read PDF/A extension schemas, so it calls
# the Factur-X extension schema and its fx: properties "not permitted" (ISO 19005-3 6.6.2.3.1
# permits exactly those, when declared). `test_the_xmp_declares_every_factur_x_property`
# checks that declaration instead; every other finding fails the test.
_EXTENSION_FALSE_ALARM = re.compile(
    r"XMP (namespace (pdfaExtension|pdfaSchema|pdfaProperty|fx)=|property "
    r"(pdfaExtension:schemas|fx:\w+) )"
)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[InvoiceSnapshot, bytes]]:
    """Every preview case (the credit note included), with the sample logos, rendered once."""
    folder = tmp_path_factory.mktemp("logos")
    logos = {
        kind: sample_logo(folder / f"{kind}.png", *spec) for kind, spec in SAMPLE_LOGOS.items()
    }
    return {name: (s, render_document(s)) for name, s in preview_cases(logos=logos).items()}


def _open(pdf: bytes) -> pikepdf.Pdf:
    return pikepdf.open(io.BytesIO(pdf))


def _xmp(pdf: bytes) -> etree._Element:
    with _open(pdf) as doc:
        raw = bytes(doc.Root.Metadata.read_bytes())
    return etree.fromstring(raw[raw.find(b"<x:xmpmeta") : raw.rfind(b"</x:xmpmeta>") + 12])


def test_every_document_passes_the_pdfa_3b_validator(documents) -> None:
    problems = {}
    for name, (_, pdf) in documents.items():
        report = pikepdf.pdfa.validate_written(io.BytesIO(pdf), "3b")
        left = [str(f) for f in report.findings if not _EXTENSION_FALSE_ALARM.search(str(f))]
        if left:
            problems[name] = left
    assert problems == {}


def test_the_xml_inside_is_the_documents_cii(documents) -> None:
    for _name, (snapshot, pdf) in documents.items():
        filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
        assert (filename, xml) == ("factur-x.xml", build_cii(snapshot))


def test_the_xml_is_an_associated_file_with_relationship_alternative(documents) -> None:
    _, pdf = documents["b2b"]
    with _open(pdf) as doc:
        (spec,) = list(doc.Root.AF)
        names = list(doc.Root.Names.EmbeddedFiles.Names)
        assert names[0] == "factur-x.xml" and names[1].objgen == spec.objgen
        assert spec.AFRelationship == "/Alternative"
        assert str(spec.F) == str(spec.UF) == "factur-x.xml"
        assert spec.EF.F.Subtype == "/text/xml"


def test_the_embedded_file_is_dated_by_the_issue_not_the_clock(documents) -> None:
    snapshot, pdf = documents["b2c"]
    with _open(pdf) as doc:
        (spec,) = list(doc.Root.AF)
        assert str(spec.EF.F.Params.ModDate) == _pdf_date(snapshot.issued_at)


def test_the_xmp_declares_pdfa_3b_and_the_factur_x_en16931_profile(documents) -> None:
    _, pdf = documents["b2b"]
    xmp = _xmp(pdf)
    assert _text(xmp, "pdfaid:part") == "3" and _text(xmp, "pdfaid:conformance") == "B"
    assert _text(xmp, "fx:ConformanceLevel") == "EN 16931"
    assert _text(xmp, "fx:DocumentFileName") == "factur-x.xml"
    assert _text(xmp, "fx:DocumentType") == "INVOICE"


def test_the_xmp_declares_every_factur_x_property(documents) -> None:
    """ISO 19005-3 6.6.2.3.1: a property outside the standard schemas is declared in an
    extension schema with its namespace, prefix, name and value type."""
    _, pdf = documents["credit_note"]
    xmp = _xmp(pdf)
    (schema,) = xmp.iterfind(".//{http://www.aiim.org/pdfa/ns/schema#}namespaceURI/..")
    ns = {"s": "http://www.aiim.org/pdfa/ns/schema#", "p": "http://www.aiim.org/pdfa/ns/property#"}
    assert schema.findtext("s:namespaceURI", namespaces=ns) == FX_NS
    assert schema.findtext("s:prefix", namespaces=ns) == "fx"
    declared = {
        li.findtext("p:name", namespaces=ns): li.findtext("p:valueType", namespaces=ns)
        for li in schema.iterfind("s:property/*/*", namespaces=ns)
    }
    used = {etree.QName(e).localname for e in xmp.iter(f"{{{FX_NS}}}*")}
    assert used and all(declared.get(name) == "Text" for name in used)


def test_the_document_info_and_the_xmp_say_the_same(documents) -> None:
    snapshot, pdf = documents["foreign_currency"]
    xmp = _xmp(pdf)
    with _open(pdf) as doc:
        info = {k: str(v) for k, v in doc.docinfo.items()}
    stamp = snapshot.issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert info["/Title"] == _text(xmp, "dc:title/rdf:Alt/rdf:li")
    assert info["/Author"] == _text(xmp, "dc:creator/rdf:Seq/rdf:li")
    assert info["/Subject"] == _text(xmp, "dc:description/rdf:Alt/rdf:li")
    assert info["/Keywords"] == _text(xmp, "pdf:Keywords")
    assert info["/Producer"] == _text(xmp, "pdf:Producer")
    assert info["/Creator"] == _text(xmp, "xmp:CreatorTool")
    assert info["/CreationDate"] == info["/ModDate"] == _pdf_date(snapshot.issued_at)
    assert _text(xmp, "xmp:CreateDate") == _text(xmp, "xmp:ModifyDate") == stamp


def test_the_title_names_the_document_in_its_language(documents) -> None:
    snapshot, pdf = documents["credit_note"]
    with _open(pdf) as doc:
        assert str(doc.docinfo["/Title"]).endswith(f"Avoir {snapshot.number}")
        assert str(doc.Root.Lang) == snapshot.locale


def test_every_font_is_an_embedded_vera_subset(documents) -> None:
    """Object streams hide the font dictionaries from a byte search: read them parsed."""
    for _name, (_, pdf) in documents.items():
        with _open(pdf) as doc:
            fonts = [o for o in doc.objects if isinstance(o, pikepdf.Dictionary)
                     and o.get("/Type") == "/Font"]  # fmt: skip
            assert fonts
            for font in fonts:
                assert re.fullmatch(r"/[A-Z]{6}\+BitstreamVera\S+", str(font.BaseFont))
                descriptor = font.FontDescriptor
                assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_the_output_intent_is_srgb(documents) -> None:
    _, pdf = documents["b2c"]
    with _open(pdf) as doc:
        (intent,) = list(doc.Root.OutputIntents)
        assert intent.S == "/GTS_PDFA1" and "sRGB" in str(intent.OutputConditionIdentifier)
        assert intent.DestOutputProfile.N == 3
        assert doc.pdf_version == "1.7"


def test_the_same_snapshot_gives_the_same_bytes_whatever_the_clock(documents) -> None:
    snapshot, pdf = documents["intra_eu"]
    with time_machine.travel(datetime.now(UTC) + timedelta(days=400, hours=5)):
        again = render_document(snapshot)
    assert again == pdf


def test_an_archived_factur_x_renders_again_to_its_archived_bytes(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    snapshot = preview_cases()["b2b"]
    pdf, profile = render_for_archive(archive, snapshot, Templates())
    assert profile.facturx
    with time_machine.travel(datetime.now(UTC) + timedelta(days=75)):
        again = rerender(archive, snapshot, sha256_hex(pdf), Templates())
    assert again.pdf == pdf and again.drift == []


def test_a_document_archived_before_factur_x_renders_again_as_its_plain_pdf(
    tmp_path: Path,
) -> None:
    archive = Archive(tmp_path / "archive")
    snapshot = preview_cases()["b2c"]
    plain = render_pdf(snapshot, Templates())
    archive.put_profile(sha256_hex(plain), _version_1_profile(archive).to_json())
    again = rerender(archive, snapshot, sha256_hex(plain), Templates())
    assert again.pdf == plain and again.drift == []


def test_verify_finds_nothing_to_report_on_a_document_archived_before_factur_x(
    tmp_path: Path,
) -> None:
    archive = Archive(tmp_path / "archive")
    plain = render_pdf(preview_cases()["b2c"], Templates())
    archive.put_profile(sha256_hex(plain), _version_1_profile(archive).to_json())
    assert ProfileCheck(archive).problems(sha256_hex(plain)) == []


def test_the_current_render_version_is_one_this_code_renders() -> None:
    assert str(RENDER_PROFILE_VERSION) in RENDERED_VERSIONS


def _version_1_profile(archive: Archive) -> RenderProfile:
    """A profile as version 1 recorded it: only the renderers it tracked then."""
    current = RenderProfile.current(archive.put_template_set(Templates().files))
    tracked = ("xhtml2pdf", "reportlab", "jinja2", "babel", "pillow", "zlib")
    renderers = {key: current.renderers[key] for key in tracked}
    return RenderProfile(current.template_set, {**renderers, "quittance-render": "1"})


def test_a_document_whose_xml_breaks_its_schema_is_refused_with_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bridge.failures import FacturXInvalidError

    snapshot = preview_cases()["b2c"]
    good = build_cii(snapshot)
    broken = good.replace(b"<ram:TypeCode>", b"<ram:Unheard/><ram:TypeCode>", 1)
    assert broken != good
    monkeypatch.setattr(document_mod, "build_cii", lambda s: broken)
    with pytest.raises(FacturXInvalidError) as refused:
        render_document(snapshot)
    assert snapshot.number in str(refused.value) and "Unheard" in str(refused.value)


def test_a_schema_failure_kills_the_render_job_alerts_the_owner_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(snapshot: InvoiceSnapshot) -> bytes:
        return build_cii(snapshot).replace(b"<ram:TypeCode>", b"<ram:Unheard/><ram:TypeCode>", 1)

    monkeypatch.setattr(document_mod, "build_cii", broken)
    with SMTPServer() as smtp, Hook() as hook:
        svc = Services.from_settings(
            settings_for(tmp_path, smtp_port=smtp.port, alert_url=hook.url)
        )
        try:
            submit_order(svc, orders_by_id()["1001"])
            work(svc, once=True)
            (dead,) = svc.store.list_jobs(states=("dead",))
            (invoice,) = list(svc.store.iter_invoices())
            check_outages(svc)
        finally:
            svc.close()
        assert smtp.received == []
    assert dead.kind == "render" and "FacturXInvalidError" in (dead.last_error or "")
    assert invoice.pdf_sha256 is None
    (alert,) = hook.posts
    assert "Factur-X" in alert["message"] and invoice.number in alert["message"]


def _text(xmp: etree._Element, path: str) -> str:
    ns = {
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "dc": "http://purl.org/dc/elements/1.1/",
        "pdf": "http://ns.adobe.com/pdf/1.3/",
        "xmp": "http://ns.adobe.com/xap/1.0/",
        "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
        "fx": FX_NS,
    }
    (found,) = xmp.findall(f".//{path}", namespaces=ns)
    return found.text or ""


def _pdf_date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
