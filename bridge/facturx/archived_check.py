"""`quittance check-invoice --facturx`: the Factur-X XML inside an archived PDF, checked again.

    check_archived_facturx(pdf, snapshot, facturx_expected=…) → FacturXCheck (lines, failed)

It reads the `factur-x.xml` the archived PDF carries (not a new one built from the snapshot:
what was sent is what is checked), runs its XSD, EN 16931 and, for a French B2B document, the
French CTC rules (BR-FR). A PDF archived before Factur-X carries none: that is said plainly and
is no failure, the document was legal as issued. Whether it was is its render profile's say
(the caller reads it): a PDF rendered as Factur-X that carries no XML is an error, it went out
without the invoice's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.facturx.rules import RulesReport, run_rules
from bridge.facturx.schema import check_xsd
from bridge.failures import FacturXInvalidError
from bridge.invoicing.snapshot import InvoiceSnapshot

FACTURX_FILENAME = "factur-x.xml"
NO_EMBEDDED_XML = f"archived before Factur-X: no {FACTURX_FILENAME} to check"
MISSING_EMBEDDED_XML = (
    f"error: no {FACTURX_FILENAME} in a PDF its render profile says was rendered as Factur-X"
)


@dataclass
class FacturXCheck:
    lines: list[str] = field(default_factory=list)
    failed: bool = False


def needs_french_rules(snapshot: InvoiceSnapshot) -> bool:
    """BR-FR applies between French businesses: a French seller and a buyer that is a
    business identified in France (a SIREN, or a French VAT number)."""
    buyer = snapshot.buyer
    french_buyer = bool(buyer.siren) or buyer.vat_number.upper().startswith("FR")
    return snapshot.seller.country == "FR" and buyer.is_business and french_buyer


def embedded_xml(pdf: bytes) -> bytes | None:
    """The PDF's `factur-x.xml`, or None when it carries none."""
    from facturx import get_xml_from_pdf  # imports pypdf: only when asked

    _name, xml = get_xml_from_pdf(pdf, check_xsd=False, filenames=[FACTURX_FILENAME])
    return xml or None


def check_archived_facturx(
    pdf: bytes, snapshot: InvoiceSnapshot, *, facturx_expected: bool
) -> FacturXCheck:
    """`facturx_expected`: its render profile is of a Factur-X version (False for a plain PDF's
    profile, or none: archived before profiles, so before Factur-X too)."""
    xml = embedded_xml(pdf)
    if xml is None and facturx_expected:
        return FacturXCheck([MISSING_EMBEDDED_XML], failed=True)
    if xml is None:
        return FacturXCheck([NO_EMBEDDED_XML])
    return check_facturx_xml(xml, french=needs_french_rules(snapshot))


def check_facturx_xml(xml: bytes, *, french: bool) -> FacturXCheck:
    """XSD, then the schematrons (run even when the XSD fails: their rule ids say more).
    Raises `RulesError` when the schematrons could not run."""
    check = FacturXCheck()
    schema_error = xsd_error(xml)
    if schema_error:
        check.failed = True
        check.lines.append(f"{FACTURX_FILENAME} fails its XSD: {schema_error}")
    else:
        check.lines.append(f"{FACTURX_FILENAME}: XSD valid")
    (report,) = run_rules([(FACTURX_FILENAME, xml)], french=french)
    check.lines += report_lines(report)
    if not french:
        check.lines.append("BR-FR not run: it applies between French businesses only")
    check.failed = check.failed or not report.ok
    return check


def report_lines(report: RulesReport) -> list[str]:
    fired = ", ".join(f"{name} {count} rules fired" for name, count in report.fired.items())
    counts = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    lines = [f"Factur-X rules ({fired}): {counts}"]
    lines += [f"  error    {f.line()}" for f in report.errors]
    lines += [f"  warning  {f.line()}" for f in report.warnings]
    return lines


def xsd_error(xml: bytes) -> str | None:
    """What the Factur-X EN 16931 XSD says is wrong with `xml`, or None."""
    try:
        check_xsd(xml)
    except FacturXInvalidError as exc:
        return str(exc)
    return None
