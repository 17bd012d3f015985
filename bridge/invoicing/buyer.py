"""Who the buyer is for the French rules: a consumer or a business, and its SIREN.

Pure. A buyer who gave a VAT number or a SIREN is a business. A company name alone is not
proof (a consumer may type their employer's name), so it follows the owner's policy
(`[rules] company_without_identifier`): by default the invoice is issued as B2B, with the
L441-9 payment terms, and the owner is asked to collect the SIREN; `quarantine` holds the order
until the SIREN is on it; `b2c` invoices it as a consumer sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.fr import tva as fr_tva

from bridge.model import Party


class CompanyPolicy(StrEnum):
    b2b = "b2b"
    quarantine = "quarantine"
    b2c = "b2c"


@dataclass(frozen=True)
class BuyerStatus:
    is_business: bool
    siren: str  # given, or derived from a French VAT number; "" when unknown
    # The policy is `quarantine` and the SIREN is missing: no invoice yet.
    held: bool = False


def buyer_siren(party: Party) -> str:
    """The buyer's SIREN as given (a SIRET typed in its place gives its first nine digits),
    else the one inside a valid French VAT number (FRkk + SIREN); "" when neither is valid —
    a wrong identifier is never printed as the buyer's."""
    given = fr_siren.compact(party.siren) if party.siren.strip() else ""
    if fr_siren.is_valid(given):
        return given
    if fr_siret.is_valid(given):
        return given[:9]
    number = party.vat_number.strip()
    if number.upper().startswith("FR") and fr_tva.is_valid(number):
        try:
            return fr_tva.to_siren(number)
        except Exception:  # stdnum raises on the old non-numeric key forms it cannot map
            return ""
    return ""


def buyer_status(party: Party, policy: CompanyPolicy | str = CompanyPolicy.b2b) -> BuyerStatus:
    policy = CompanyPolicy(policy)
    siren = buyer_siren(party)
    if party.vat_number.strip() or siren:
        return BuyerStatus(is_business=True, siren=siren)
    if not party.company.strip() or policy is CompanyPolicy.b2c:
        return BuyerStatus(is_business=False, siren="")
    if policy is CompanyPolicy.quarantine:
        return BuyerStatus(is_business=True, siren="", held=True)
    return BuyerStatus(is_business=True, siren="")


def held_reason(party: Party) -> str:
    return (
        f"the buyer is the company {party.company!r} but the order has no SIREN or VAT "
        'number, and [rules] company_without_identifier = "quarantine": add the SIREN to '
        'the order on the shop (or set the policy to "b2b" or "b2c"), then '
        "`quittance retry --all`"
    )
