"""The buyer's VAT number, confirmed by VIES before an intra-EU exemption is issued.

A sale to a business of another member state without VAT (art. 262 ter I du CGI) rests on the
buyer's VAT number being valid, and the seller must be able to show they checked it: the
checksum (`mentions.valid_eu_vat_number`) proves nothing about a registration. So before the
number is taken, the `issue` step asks VIES (`checkVatApprox`, the seller's own VAT number as
requester, whose `requestIdentifier` is the consultation number kept as the proof) and hands the
answer to `build_invoice` as `IssueFacts.vat_check`.

- No exemption claimed (VAT charged, a French or non-EU buyer, no VAT number of another member
  state): nothing is asked.
- A number that fails its checksum is refused without asking (VIES would only say "invalid").
- VIES's answer, valid or not, is returned as a `VatCheck`; an invalid number is then refused
  by the `vat_exemption` rule ("VAT is due").
- VIES or the member state behind it cannot answer: `OutsideFactUnavailable`, the job retries,
  and past `[vies] max_wait_hours` the order is quarantined with the reason.

Nothing is cached across orders: each invoice carries its own consultation. The SOAP client
(the parsed WSDL) is reused, which stdnum does per URL and timeout.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from stdnum.eu import vat as eu_vat
from stdnum.util import get_soap_client

from bridge.failures import OutsideFactUnavailable
from bridge.invoicing.build import buyer_snapshot, operation_nature, seller_snapshot
from bridge.invoicing.buyer import buyer_status
from bridge.invoicing.mentions import VatSituation, vat_situation
from bridge.invoicing.snapshot import VatCheck
from bridge.model import LineKind, Order

if TYPE_CHECKING:
    from bridge.config.vies import ViesConfig
    from bridge.services import Services

log = structlog.get_logger()

# VIES faults that say "not now" rather than "no": the check is retried later.
TRANSIENT_FAULTS: dict[str, str] = {
    "MS_UNAVAILABLE": "the buyer's member state does not answer VIES",
    "SERVICE_UNAVAILABLE": "VIES is unavailable",
    "TIMEOUT": "the buyer's member state did not answer VIES in time",
    "SERVER_BUSY": "VIES is busy",
    "MS_MAX_CONCURRENT_REQ": "too many requests to the buyer's member state",
    "GLOBAL_MAX_CONCURRENT_REQ": "too many requests to VIES",
}
# VIES refuses to look the number up. It passed its checksum, so this is VIES's "no": the
# number cannot be confirmed, and VAT is due unless the shop corrects it (a `VatCheck` with
# valid=False, refused by the vat_exemption rule like any number VIES does not confirm).
INVALID_INPUT = "INVALID_INPUT"
# Said of the requester, the seller's own number: theirs to fix, retried until then.
REQUESTER_FAULTS: dict[str, str] = {
    "INVALID_REQUESTER_INFO": "VIES rejects the requester, [seller] vat_number",
}


def claimed_number(svc: Services, order: Order) -> str:
    """The buyer's VAT number (compact) when the sale claims the intra-EU exemption on it and
    the number passes its checksum; "" when there is nothing to ask VIES."""
    untaxed = [ln for ln in order.lines if not ln.tax and ln.total > 0]
    # An exemption is claimed only when no VAT is charged but on shipping (legal.
    # only_shipping_taxed): VAT on goods makes the sale a taxed one, nothing to ask VIES.
    goods_taxed = any(ln.tax and ln.kind is not LineKind.shipping for ln in order.lines)
    if goods_taxed or all(ln.kind is LineKind.shipping for ln in untaxed):
        return ""
    settings = svc.settings
    status = buyer_status(order.customer, settings.rules.company_without_identifier)
    situation = vat_situation(
        seller_snapshot(settings.seller),
        buyer_snapshot(order, status),
        vat_charged=False,  # the untaxed part of the sale, as `build_invoice` judges it
        amount_excl_positive=True,
        nature=operation_nature(order),  # a franchise seller's services abroad: asked too
    )
    if situation is not VatSituation.intra_eu_unverified:
        return ""
    return eu_vat.compact(order.customer.vat_number)


def buyer_vat_check(svc: Services, order: Order) -> VatCheck | None:
    """VIES's answer for the buyer's VAT number, or None when no exemption is claimed.

    Raises `OutsideFactUnavailable` when VIES cannot answer now."""
    number = claimed_number(svc, order)
    if not number:
        return None
    answer = _ask(svc.settings.vies, number, svc.settings.seller.vat_number)
    checked_at = svc.store.clock()  # when VIES answered, by the clock the invoice is dated by
    if answer is None:
        log.warning("VIES refused the number as input", vat_number=number)
        return VatCheck(number=number, valid=False, checked_at=checked_at)
    check = VatCheck(
        number=number,
        valid=bool(answer.valid),
        checked_at=checked_at,
        consultation_number=_text(answer, "requestIdentifier"),
        name=_text(answer, "traderName"),
        address=_text(answer, "traderAddress"),
    )
    log.info(
        "VIES answered",
        vat_number=number,
        valid=check.valid,
        consultation=check.consultation_number,
    )
    return check


def _ask(config: ViesConfig, number: str, requester: str) -> Any:
    """VIES's checkVatApprox answer; None when VIES refuses the number as input."""
    import requests  # lazy, with zeep: only orders claiming the exemption pay for them
    from zeep.exceptions import Error as SoapError
    from zeep.exceptions import Fault, TransportError

    requester = eu_vat.compact(requester) if requester.strip() else ""
    try:
        client = get_soap_client(config.wsdl_url, timeout=config.timeout_seconds)
        return client.checkVatApprox(
            countryCode=number[:2],
            vatNumber=number[2:],
            requesterCountryCode=requester[:2] or None,
            requesterVatNumber=requester[2:] or None,
        )
    except Fault as fault:
        code = (fault.message or "").strip()
        if code == INVALID_INPUT:
            return None
        why = TRANSIENT_FAULTS.get(code) or REQUESTER_FAULTS.get(code) or "unexpected fault"
        raise _unavailable(config, number, f"{why}: {code or 'no fault string'}") from None
    except TransportError as exc:
        raise _unavailable(config, number, f"HTTP {exc.status_code}") from None
    except requests.Timeout:
        raise _unavailable(config, number, f"no answer in {config.timeout_seconds:g} s") from None
    except (requests.RequestException, OSError, SoapError) as exc:
        raise _unavailable(config, number, f"unreachable: {type(exc).__name__}") from None


def _unavailable(config: ViesConfig, number: str, why: str) -> OutsideFactUnavailable:
    return OutsideFactUnavailable(
        f"VIES cannot confirm the buyer's VAT number {number} now ({why})",
        max_wait=timedelta(hours=config.max_wait_hours),
    )


def _text(answer: Any, name: str) -> str:
    value = getattr(answer, name, None)  # zeep's answer object: absent elements are None
    return str(value).strip() if value is not None else ""
