"""The one classification of delivery failures: transient vs permanent (vs unexpected)."""

from __future__ import annotations

import smtplib
import socket
import ssl
import traceback

import pytest

from bridge.delivery.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UnexpectedDeliveryError,
    as_delivery_error,
    classify,
    classify_smtp_error,
)

T, P, U = TransientDeliveryError, PermanentDeliveryError, UnexpectedDeliveryError


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (smtplib.SMTPResponseException(421, b"Service not available"), T),
        (smtplib.SMTPDataError(451, b"Try again later"), T),
        (smtplib.SMTPDataError(554, b"Rejected"), P),
        (smtplib.SMTPSenderRefused(550, b"Sender denied", "a@b.fr"), P),
        (smtplib.SMTPSenderRefused(450, b"Mailbox busy", "a@b.fr"), T),
        (smtplib.SMTPRecipientsRefused({"x@y.fr": (550, b"No such user")}), P),
        (smtplib.SMTPRecipientsRefused({"x@y.fr": (451, b"Greylisted")}), T),
        (smtplib.SMTPRecipientsRefused({"x@y.fr": (451, b"Later"), "z@y.fr": (550, b"No")}), P),
        (smtplib.SMTPAuthenticationError(535, b"Authentication credentials invalid"), P),
        (smtplib.SMTPAuthenticationError(454, b"Temporary authentication failure"), T),
        (smtplib.SMTPConnectError(554, b"No SMTP service here"), P),
        (smtplib.SMTPConnectError(421, b"Too many connections"), T),
        (smtplib.SMTPHeloError(501, b"Bad HELO"), P),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), T),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."), P),
        (smtplib.SMTPException("No suitable authentication method found."), P),
        (smtplib.SMTPException("something odd"), U),
        (ConnectionRefusedError(111, "Connection refused"), T),
        (ConnectionResetError(104, "Connection reset by peer"), T),
        (TimeoutError("timed out"), T),
        (socket.gaierror(-2, "Name or service not known"), T),
        (OSError(113, "No route to host"), T),
        (ssl.SSLError("handshake failure"), T),
        (ValueError("odd"), U),
        (PermanentDeliveryError("already sorted"), P),
    ],
)
def test_classification(exc: BaseException, expected: type[DeliveryError]) -> None:
    assert classify_smtp_error(exc) is expected
    assert classify is classify_smtp_error
    wrapped = as_delivery_error(exc)
    assert type(wrapped) is expected
    assert isinstance(wrapped, DeliveryError)


def test_unexpected_is_transient_but_flagged() -> None:
    error = as_delivery_error(KeyError("boom"))
    assert isinstance(error, TransientDeliveryError)
    assert error.unexpected is True
    assert as_delivery_error(TimeoutError()).unexpected is False
    assert as_delivery_error(smtplib.SMTPDataError(554, b"no")).transient is False


def test_smtp_code_and_message() -> None:
    error = as_delivery_error(
        smtplib.SMTPRecipientsRefused({"marie@example.org": (550, b"5.1.1 No such user")}),
        context="smtp.example.com:587",
    )
    assert error.smtp_code == 550
    assert "smtp.example.com:587" in str(error)
    assert "@example.org" in str(error) and "No such user" in str(error)
    assert error.__cause__ is not None


def test_secrets_are_masked_and_not_chained() -> None:
    password = "S3cr3t-pa55"
    raw = smtplib.SMTPAuthenticationError(535, f"bad password {password}".encode())
    error = as_delivery_error(raw, secrets=[password])
    assert isinstance(error, PermanentDeliveryError)
    assert password not in str(error)
    assert error.__cause__ is None
    try:
        raise error
    except PermanentDeliveryError as caught:
        assert password not in "".join(traceback.format_exception(caught))

    already = TransientDeliveryError(f"oops {password}")
    cleaned = as_delivery_error(already, secrets=[password])
    assert password not in str(cleaned) and isinstance(cleaned, TransientDeliveryError)
