"""The failure vocabulary: each error a step can raise maps to one retry class, once."""

from __future__ import annotations

import importlib
import pkgutil
import smtplib

from sqlalchemy.exc import OperationalError

from bridge.archive import ArchiveCorruptError
from bridge.delivery.errors import as_delivery_error
from bridge.failures import (
    RetryClass,
    StepError,
    classify_failure,
)
from bridge.store import InvoiceImmutableError
from connectors.base import PermanentConnectorError

# Errors of ours that never leave a step as they are, each with where it stops.
NOT_RAISED_BY_STEPS = {
    "ConfigError": "start-up: the service refuses to start and names the keys",
    "TemplateCheckError": "start-up, and email turns it into a PermanentDeliveryError",
    "OrderNotInvoiceable": "accept_order quarantines the order with its reasons",
    "CreditNotIssuable": "the credit step refuses the refund (skipped, owner alerted); "
    "`quittance credit` prints the reasons and exits 1",
    "MappingError": "connectors report it as an unmappable order (FetchedOrder, OrderPage)",
    "WebhookRejected": "the web layer answers it with its HTTP status",
    "RetrySoon": "in-step quick retries; a ConnectorError when they run out",
    "UnknownTerritory": "check_rates reports an unplaceable address on the order; a seller "
    "country outside the EU quarantines the order through accept_order's safety net",
    "DateNotCovered": "check_rates reports it on the order (an order older than the rate table)",
    "RatesFileError": "order_eur_rate turns it into OutsideFactUnavailable (the order waits); "
    "the rates refresh logs it and keeps the previous file",
    "BodyTooLarge": "the public port's limits answer it 413 (bridge/web/limits.py)",
    "BodyTooSlow": "the public port's limits answer it 408 (bridge/web/limits.py)",
    "BadElectronicAddress": "start-up: a ConfigError naming [seller] electronic_address; from "
    "order data, the address is dropped (the SIREN's is used)",
    "NoEuroRate": "the export names the document as a problem and goes on (no step books)",
    "RulesError": "`quittance check-invoice --facturx` and the tests only: no step runs the "
    "schematrons",
    "RulesUnavailable": "the same: check-invoice exits 2",
    "RulesNotRun": "the same: check-invoice exits 2",
    "LinkInvalid": "the customer's pages answer it 404/403 (bridge/portal/pages.py)",
    "LinkExpired": "the customer's pages answer it 410 with a page offering a new link",
    "NotAMobile": "the sms step skips the text with its reason (bridge/customer_channels.py)",
    "_NotApplied": "bridge.delivery.http_answers.call's quick retries; when they run out, "
    "the DeliveryError it carries is raised",
    "_Refused": "the Intercom sandbox's own refusals, answered as HTTP errors",
    "AccountError": "`quittance admin add-user` prints it and exits 2 (no step makes accounts)",
    "CorrectionRefused": "`quittance credit`/`resend` and the dashboard's forms show it; the "
    "jobs they queue fail as steps do",
    "LoginRequired": "the dashboard's guard: answered 303 to the sign-in page",
    "Refused": "the dashboard's guard: answered 403 (the role does not allow it)",
    "FormExpired": "the dashboard's guard: answered 400, nothing done (no CSRF token)",
    "InputRefused": "the dashboard's pages answer a bad date or period 400, naming the field",
}


def _project_exceptions() -> list[type[BaseException]]:
    import bridge
    import connectors

    for package in (bridge, connectors):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if ".migrations" not in module.name and not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    found: list[type[BaseException]] = []
    todo: list[type[BaseException]] = [BaseException]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith(("bridge.", "connectors.")):
                found.append(sub)
    return found


def test_every_error_of_the_project_a_step_can_raise_is_a_step_error() -> None:
    outside = sorted(
        cls.__name__
        for cls in _project_exceptions()
        if not issubclass(cls, StepError) and cls.__name__ not in NOT_RAISED_BY_STEPS
    )
    assert outside == []


def test_a_permanent_connector_error_is_permanent_with_its_own_message() -> None:
    failure = classify_failure(PermanentConnectorError("shop woo: check consumer_key"))
    assert (failure.retry_class, failure.message) == (
        RetryClass.permanent,
        "shop woo: check consumer_key",
    )


def test_a_5xx_smtp_reply_is_permanent_and_a_4xx_transient() -> None:
    refused = classify_failure(as_delivery_error(smtplib.SMTPDataError(550, b"rejected")))
    busy = classify_failure(as_delivery_error(smtplib.SMTPDataError(451, b"try later")))
    assert (refused.retry_class, busy.retry_class) == (RetryClass.permanent, RetryClass.transient)


def test_a_tampered_archive_is_permanent_and_named() -> None:
    failure = classify_failure(ArchiveCorruptError("/archive/ab/abcd.pdf was altered"))
    assert failure.retry_class is RetryClass.permanent
    assert failure.message.startswith("ArchiveCorruptError: ")


def test_refusing_to_change_an_issued_invoice_is_permanent() -> None:
    failure = classify_failure(InvoiceImmutableError("invoice FA-2026-000001 is issued"))
    assert failure.retry_class is RetryClass.permanent


def test_a_database_restart_is_transient_and_not_flagged() -> None:
    failure = classify_failure(OperationalError("SELECT 1", {}, Exception("server closed")))
    assert (failure.retry_class, failure.unexpected) == (RetryClass.transient, False)


def test_an_error_no_step_foresaw_is_retried_but_flagged_for_a_human() -> None:
    failure = classify_failure(KeyError("total"))
    assert (failure.retry_class, failure.unexpected) == (RetryClass.transient, True)
    assert failure.message == "KeyError: 'total'"
