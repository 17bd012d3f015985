"""Delivery failures: where SMTP replies are sorted into the failure vocabulary
(`bridge.failures`) as transient or permanent.

- `TransientDeliveryError`: worth retrying later (server busy, greylisting, network down,
  timeouts, DNS hiccups). Quick retries happen in-process; long outages are the job queue's.
- `PermanentDeliveryError`: retrying the same message will fail the same way (mailbox
  unknown, message rejected, bad credentials, server lacks a required feature). The job goes
  `dead` and the owner is alerted.
- `UnexpectedDeliveryError`: a failure we did not foresee. It is retried like a transient one
  (a crash must not lose an invoice email) but flagged (`unexpected=True`) so it gets noticed.

Messages never contain secrets: `as_delivery_error(exc, secrets=...)` masks them, and drops
the original exception from the chain when its text would reveal one.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterable

from bridge.failures import StepError

_MASK = "***"


class DeliveryError(StepError):
    """A message could not be delivered.

    `smtp_code` is the server's reply code when there was one; `unexpected` is True when the
    failure did not match any known case (see `UnexpectedDeliveryError`); `retry_after` is
    the wait in seconds an HTTP service asked for (429/503 Retry-After): the queue waits at
    least that long before the next attempt.
    """

    transient: bool = True
    unexpected: bool = False

    def __init__(
        self, message: str, *, smtp_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.smtp_code = smtp_code
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """Retry later: the same message may well go through."""

    transient = True


class UnexpectedDeliveryError(TransientDeliveryError):
    """An unforeseen failure: retried like a transient one, but flagged for a human."""

    unexpected = True


class PermanentDeliveryError(DeliveryError):
    """Do not retry: the same message will be refused again until someone changes something."""

    transient = False


def _by_code(code: int | None) -> type[DeliveryError]:
    if code is not None and 500 <= code < 600:
        return PermanentDeliveryError
    # 4xx, and the -1 smtplib uses when it never got a proper reply
    return TransientDeliveryError


def classify_smtp_error(exc: BaseException) -> type[DeliveryError]:
    """Sort any exception raised while building or sending a message.

    4xx replies, refused/reset connections, timeouts, disconnections, DNS and TLS handshake
    errors are transient; 5xx replies (including refused recipients or sender, rejected data,
    failed authentication 535) and missing server features (STARTTLS, AUTH, SMTPUTF8) are
    permanent; anything else is `UnexpectedDeliveryError` (transient, flagged).
    """
    if isinstance(exc, DeliveryError):
        return type(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        if any(500 <= c < 600 for c in codes):
            return PermanentDeliveryError
        return TransientDeliveryError
    if isinstance(exc, smtplib.SMTPResponseException):
        # SMTPSenderRefused, SMTPDataError, SMTPConnectError, SMTPHeloError,
        # SMTPAuthenticationError (535 -> permanent, 454 -> transient)
        return _by_code(exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentDeliveryError  # e.g. AUTH or SMTPUTF8 not offered
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientDeliveryError
    if isinstance(exc, smtplib.SMTPException):
        # "No suitable authentication method found" and friends: configuration, not luck
        if "authentication" in str(exc).lower():
            return PermanentDeliveryError
        return UnexpectedDeliveryError
    if isinstance(exc, socket.gaierror | socket.herror):
        return TransientDeliveryError  # DNS
    if isinstance(exc, TimeoutError | ConnectionError | ssl.SSLError):
        return TransientDeliveryError  # refused, reset, aborted, timeouts, TLS handshake
    if isinstance(exc, OSError):
        return TransientDeliveryError  # network unreachable, no route to host, ...
    return UnexpectedDeliveryError


# The contract in docs/INTERFACES.md names it `classify`.
classify = classify_smtp_error


def _mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    return text


def _describe(exc: BaseException) -> tuple[str, int | None]:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = []
        code: int | None = None
        for rcpt, (c, reply) in exc.recipients.items():
            domain = str(rcpt).rpartition("@")[2] or "?"
            parts.append(f"@{domain}: {c} {_decode(reply)}")
            if code is None or c >= 500:
                code = c
        return "recipient refused (" + "; ".join(parts) + ")", code
    if isinstance(exc, smtplib.SMTPResponseException):
        what = {
            smtplib.SMTPAuthenticationError: "authentication failed",
            smtplib.SMTPSenderRefused: "sender refused",
            smtplib.SMTPDataError: "message refused",
            smtplib.SMTPConnectError: "connection refused by server",
            smtplib.SMTPHeloError: "greeting refused",
        }.get(type(exc), "server error")
        return f"{what}: {exc.smtp_code} {_decode(exc.smtp_error)}", exc.smtp_code
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}", None


def _decode(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())


def as_delivery_error(
    exc: BaseException, *, secrets: Iterable[str] = (), context: str = ""
) -> DeliveryError:
    """Wrap `exc` in the `DeliveryError` subclass `classify_smtp_error` picks.

    `secrets` (e.g. the SMTP password) are masked in the message; if the original exception's
    text contains one, it is not kept as `__cause__` either. `context` prefixes the message
    (e.g. "smtp.example.com:587").
    """
    secrets = [s for s in secrets if s]
    if isinstance(exc, DeliveryError):
        if not any(s in str(exc) for s in secrets):
            return exc
        clean = type(exc)(_mask(str(exc), secrets), smtp_code=exc.smtp_code)
        clean.__suppress_context__ = True
        return clean
    kind = classify_smtp_error(exc)
    text, code = _describe(exc)
    if context:
        text = f"{context}: {text}"
    error = kind(_mask(text, secrets), smtp_code=code)
    leaks = any(s in repr(exc) or s in str(exc) for s in secrets)
    error.__cause__ = None if leaks else exc
    error.__suppress_context__ = True
    return error
