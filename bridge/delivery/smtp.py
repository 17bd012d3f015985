"""Opening an SMTP session as configured: the one way both sending and `quittance doctor`
connect, so the doctor's "login ok" means the next email will get as far.

    security "ssl"       implicit TLS from the first byte (usually port 465)
             "starttls"  plain connect, then STARTTLS, refused when the server does not offer it
             "none"      plain (a relay on localhost, a test server)
    login                whenever a username is set (an empty password is sent as empty)
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from bridge.delivery.errors import PermanentDeliveryError
from bridge.delivery.secrets import reveal


class SmtpSettings(Protocol):
    host: str
    port: int
    security: Any  # "none" | "starttls" | "ssl", as a str or a str enum
    username: str | None
    password: Any  # SecretStr, str or None
    timeout: float


def security_of(cfg: SmtpSettings) -> str:
    value = getattr(cfg.security, "value", cfg.security)
    return str(value or "none").lower()


@contextmanager
def smtp_session(cfg: SmtpSettings) -> Iterator[smtplib.SMTP]:
    """A connected, greeted, secured and logged-in session; QUIT (or close) on the way out.

    Raises what smtplib / ssl / socket raise, and `PermanentDeliveryError` when STARTTLS is
    required but not offered; `bridge.delivery.errors.as_delivery_error` sorts them."""
    security = security_of(cfg)
    host, port, timeout = cfg.host, int(cfg.port), float(cfg.timeout)
    smtp: smtplib.SMTP
    if security == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        smtp.ehlo()
        if security == "starttls":
            if not smtp.has_extn("starttls"):
                raise PermanentDeliveryError(
                    f"{host}:{port} does not offer STARTTLS, which security=starttls requires"
                )
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if cfg.username:
            smtp.login(cfg.username, reveal(cfg.password))
        yield smtp
    finally:
        try:
            smtp.quit()
        except Exception:  # the message is accepted (or not) already; QUIT does not matter
            smtp.close()
