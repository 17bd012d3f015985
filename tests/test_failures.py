"""The failure vocabulary: each error a step can raise maps to one retry class, once."""

from __future__ import annotations

import smtplib

from sqlalchemy.exc import OperationalError

from bridge.archive import ArchiveCorruptError
from bridge.delivery.errors import as_delivery_error
from bridge.failures import (
    PdfMismatchError,
    PermanentStepError,
    RetryClass,
    StepError,
    TransientStepError,
    classify_failure,
)
from connectors.base import PermanentConnectorError, TransientConnectorError


def test_every_foreseen_error_of_the_project_is_a_step_error() -> None:
    foreseen = [
        TransientStepError("x"),
        PermanentStepError("x"),
        PdfMismatchError("x"),
        ArchiveCorruptError("x"),
        TransientConnectorError("x"),
        PermanentConnectorError("x"),
        as_delivery_error(smtplib.SMTPDataError(550, b"no")),
    ]
    assert all(isinstance(error, StepError) for error in foreseen)


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


def test_a_database_restart_is_transient_and_not_flagged() -> None:
    failure = classify_failure(OperationalError("SELECT 1", {}, Exception("server closed")))
    assert (failure.retry_class, failure.unexpected) == (RetryClass.transient, False)


def test_an_error_no_step_foresaw_is_retried_but_flagged_for_a_human() -> None:
    failure = classify_failure(KeyError("total"))
    assert (failure.retry_class, failure.unexpected) == (RetryClass.transient, True)
    assert failure.message == "KeyError: 'total'"
