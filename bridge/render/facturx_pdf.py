"""A rendered PDF + its CII XML → a Factur-X PDF/A-3b, with the same bytes on every render.

Two libraries, one job each:

    factur-x   embeds `factur-x.xml` the way the Factur-X specification says (file
               specification, /AF, AFRelationship) and writes the Factur-X XMP: the
               extension schema and the fx: properties (DocumentType, ConformanceLevel…)
    pikepdf    the PDF/A finishing factur-x leaves out: the sRGB output intent, the XMP
               rewritten in sync with the document info, PDF 1.7, a content-derived /ID

Deterministic bytes: factur-x stamps the current time into the info dictionary, the XMP and
the embedded file's /ModDate, and pikepdf's metadata tools stamp xmp:MetadataDate. Every one
of those is set here from the document's own issue time, so re-rendering an archived
document with its render profile gives the archived bytes (invariant 3).

The XMP is written here rather than by pikepdf's PDF/A preparation, which drops properties it
does not know (the whole Factur-X extension schema among them): broken Factur-X XMP is the
commonest reason PDF/A validators reject files that XML-only validators accept.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from lxml import etree

from bridge.failures import FacturXInvalidError

if TYPE_CHECKING:
    import pikepdf

# factur-x logs each document it embeds at INFO and its whole XMP at DEBUG: per document, noise
# in the service's log. Set once here, not around each call (the level is process-wide).
logging.getLogger("factur-x").setLevel(logging.WARNING)

FLAVOR, LEVEL = "factur-x", "en16931"
# Factur-X 1.0 §6.2.2: "Alternative" for BASIC, EN 16931 and EXTENDED (the XML is the invoice
# in another form); "Data" is for MINIMUM and BASIC WL, which are not full invoices; "Source"
# would claim the PDF was made from the XML, and ours is made from the snapshot.
AF_RELATIONSHIP = "alternative"
CREATOR = "Quittance"
PDF_VERSION = "1.7"  # PDF/A-3 is based on PDF 1.7 (ISO 32000-1)

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_NS = {
    "x": "adobe:ns:meta/",
    "rdf": _RDF,
    "dc": "http://purl.org/dc/elements/1.1/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
}
_XPACKET_HEAD = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_XPACKET_TAIL = '\n<?xpacket end="w"?>'


@dataclass(frozen=True)
class PdfMeta:
    """What the document info and the XMP say of the document (both, identically)."""

    title: str
    author: str
    subject: str
    keywords: str
    lang: str  # RFC 3066: "fr-FR"
    when: datetime  # creation and modification time: the document's issue time

    def as_facturx(self) -> dict[str, str]:
        return {
            "title": self.title,
            "author": self.author,
            "subject": self.subject,
            "keywords": self.keywords,
        }


def facturx_pdf(plain_pdf: bytes, xml: bytes, meta: PdfMeta) -> bytes:
    """The Factur-X PDF/A-3b of `plain_pdf` with `xml` embedded. `xml` must already have
    passed its XSD check (it is not checked again here)."""
    import facturx

    try:
        embedded = facturx.generate_from_binary(
            plain_pdf,
            xml,
            flavor=FLAVOR,
            level=LEVEL,
            check_xsd=False,  # done once, by bridge.facturx.schema, with a cached schema
            pdf_metadata=meta.as_facturx(),
            lang=meta.lang,
            afrelationship=AF_RELATIONSHIP,
            xmp_compression=False,
        )
    except Exception as exc:  # deterministic for a given snapshot: retrying cannot help
        raise FacturXInvalidError(f"factur-x could not embed the XML: {exc}") from exc
    return finish_pdfa3(embedded, meta)


def finish_pdfa3(embedded: bytes, meta: PdfMeta) -> bytes:
    import pikepdf

    try:
        return _finished(embedded, meta)
    except pikepdf.PdfError as exc:  # the same input fails the same way: retrying cannot help
        raise FacturXInvalidError(f"the PDF/A-3b finishing failed: {exc}") from exc


def _finished(embedded: bytes, meta: PdfMeta) -> bytes:
    import pikepdf
    import pikepdf.pdfa

    with pikepdf.open(io.BytesIO(embedded)) as pdf:
        factur_x_xmp = _facturx_descriptions(bytes(pdf.Root.Metadata.read_bytes()))
        _add_output_intent(pdf)
        # The attachment panel is for accountants' tools; a customer opening the receipt
        # should see the invoice, and PDF/A validators differ on /UseAttachments.
        if "/PageMode" in pdf.Root:
            del pdf.Root["/PageMode"]
        for page in pdf.pages:  # ReportLab writes an empty /Trans: no transition, no meaning
            if "/Trans" in page.obj and not page.obj.Trans.keys():
                del page.obj["/Trans"]
        _set_embedded_dates(pdf, meta.when)
        _set_docinfo(pdf, meta)
        xmp = xmp_packet(meta, factur_x_xmp)
        pdf.Root.Metadata = pdf.make_stream(
            xmp, Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML
        )
        out = io.BytesIO()
        kwargs = pikepdf.pdfa.resolve_save_kwargs(
            "3b", deterministic_id=True, force_version=PDF_VERSION
        )
        pdf.save(out, **kwargs)
    return out.getvalue()


def _add_output_intent(pdf: pikepdf.Pdf) -> None:
    import pikepdf

    icc = pdf.make_stream(srgb_profile(), N=3)
    intent = pikepdf.Dictionary(
        Type=pikepdf.Name.OutputIntent,
        S=pikepdf.Name.GTS_PDFA1,  # the subtype PDF/A uses for every part
        OutputConditionIdentifier=pikepdf.String("sRGB IEC61966-2.1"),
        Info=pikepdf.String("sRGB IEC61966-2.1"),
        DestOutputProfile=icc,
    )
    pdf.Root.OutputIntents = pikepdf.Array([pdf.make_indirect(intent)])


@cache
def srgb_profile() -> bytes:
    """The sRGB ICC profile pikepdf ships for PDF/A output intents (ReportLab draws in
    DeviceRGB, which an sRGB output intent makes device-independent)."""
    from importlib.resources import files

    return files("pikepdf.pdfa").joinpath("data", "sRGB.icc").read_bytes()


def _set_embedded_dates(pdf: pikepdf.Pdf, when: datetime) -> None:
    import pikepdf

    stamp = pikepdf.String(pdf_date(when))
    for spec in pdf.Root.get("/AF", []):
        stream = spec.EF.F
        params = stream.get("/Params")
        if params is not None:
            params.ModDate = stamp


def _set_docinfo(pdf: pikepdf.Pdf, meta: PdfMeta) -> None:
    import pikepdf

    stamp = pdf_date(meta.when)
    values = {
        "/Title": meta.title,
        "/Author": meta.author,
        "/Subject": meta.subject,
        "/Keywords": meta.keywords,
        "/Creator": CREATOR,
        "/Producer": producer(),
        "/CreationDate": stamp,
        "/ModDate": stamp,
    }
    info = pikepdf.Dictionary({k: pikepdf.String(v) for k, v in values.items()})
    pdf.trailer.Info = pdf.make_indirect(info)


@cache
def producer() -> str:
    import pikepdf

    return f"Quittance (ReportLab, factur-x, pikepdf {pikepdf.__version__})"


def pdf_date(when: datetime) -> str:
    # A naive datetime is UTC here (our moments are stored in UTC): `astimezone` would read
    # it in the machine's zone, and the same snapshot would give other bytes elsewhere.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")


def xmp_date(when: datetime) -> str:
    if when.tzinfo is None:  # UTC, as in pdf_date: never the machine's zone
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _facturx_descriptions(xmp: bytes) -> list[etree._Element]:
    """The rdf:Description elements factur-x wrote for the extension schema and the fx:
    properties (the rest of its packet is rewritten here)."""
    start, end = xmp.find(b"<x:xmpmeta"), xmp.rfind(b"</x:xmpmeta>")
    if start < 0 or end < 0:
        raise FacturXInvalidError("factur-x wrote no XMP packet")
    root = etree.fromstring(xmp[start : end + len(b"</x:xmpmeta>")])
    keep = []
    for desc in root.iter(f"{{{_RDF}}}Description"):
        children = list(desc)
        if any(etree.QName(c).namespace not in _NS.values() for c in children) or any(
            etree.QName(c).localname == "schemas" for c in children
        ):
            keep.append(desc)
    if len(keep) != 2:
        raise FacturXInvalidError(
            f"factur-x's XMP has {len(keep)} Factur-X descriptions, expected 2"
        )
    return keep


def xmp_packet(meta: PdfMeta, factur_x: list[etree._Element]) -> bytes:
    """The XMP: every document-info entry mirrored (PDF/A-3 §6.6.3), PDF/A-3b identification,
    and factur-x's extension schema and fx: properties, each description `rdf:about=""`."""
    root = etree.Element(f"{{{_NS['x']}}}xmpmeta", nsmap={"x": _NS["x"]})
    rdf = etree.SubElement(root, f"{{{_RDF}}}RDF", nsmap={"rdf": _RDF})
    stamp = xmp_date(meta.when)
    _description(rdf, "pdfaid", [("part", "3"), ("conformance", "B")])
    dc = _description(rdf, "dc", [])
    _lang_alt(dc, "title", meta.title)
    creator = etree.SubElement(etree.SubElement(dc, _q("dc", "creator")), _q("rdf", "Seq"))
    etree.SubElement(creator, _q("rdf", "li")).text = meta.author
    _lang_alt(dc, "description", meta.subject)
    _description(rdf, "pdf", [("Producer", producer()), ("Keywords", meta.keywords)])
    _description(
        rdf,
        "xmp",
        [("CreatorTool", CREATOR), ("CreateDate", stamp), ("ModifyDate", stamp),
         ("MetadataDate", stamp)],
    )  # fmt: skip
    for desc in factur_x:
        desc.set(f"{{{_RDF}}}about", "")
        rdf.append(desc)
    body = etree.tostring(root, encoding="unicode", pretty_print=True).strip()
    return (_XPACKET_HEAD + body + _XPACKET_TAIL).encode("utf-8")


def _q(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


def _description(rdf: etree._Element, prefix: str, values: list[tuple[str, str]]) -> etree._Element:
    desc = etree.SubElement(
        rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""}, nsmap={prefix: _NS[prefix]}
    )
    for name, value in values:
        etree.SubElement(desc, _q(prefix, name)).text = value
    return desc


def _lang_alt(parent: etree._Element, name: str, text: str) -> None:
    alt = etree.SubElement(etree.SubElement(parent, _q("dc", name)), _q("rdf", "Alt"))
    li = etree.SubElement(alt, _q("rdf", "li"))
    li.set("{http://www.w3.org/XML/1998/namespace}lang", "x-default")
    li.text = text
