"""What a channel service's HTTP answer means, in the failure vocabulary: the one place the
SMS gateway and helpdesk clients turn statuses into transient or permanent delivery errors
(SMTP replies are `bridge.delivery.errors`' business; shops' answers `connectors.http`').

    network error, timeout    → TransientDeliveryError (the request may not have been sent)
    408, 425, 429, 5xx        → TransientDeliveryError, `retry_after` from the Retry-After
                                header when there is one: the job queue waits at least that
    401, 403                  → PermanentDeliveryError naming the credentials to check
    other 4xx                 → PermanentDeliveryError with the service's own error text
    2xx that is not JSON      → TransientDeliveryError (a proxy's page, a maintenance page)

Quick retries (`call`) repeat only what cannot have been applied: a refused connection, a
429. A write that timed out or got a 5xx may have been applied, so it goes back to the job
queue, whose next run looks before writing again (`bridge.delivery.channel`).

Messages never carry a secret: the request's URL and headers stay out of them, and the
rules' `secrets` are masked in the service's text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests

from bridge.delivery.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from bridge.delivery.secrets import reveal
from bridge.quick_retry import RetrySoon, quick_retries, retry_after

MAX_QUICK_WAIT = 30.0  # a longer Retry-After goes back to the job queue, which waits it
TRANSIENT_STATUSES = frozenset({408, 425, 429})


def body_text(response: requests.Response) -> str:
    """A service's answer as one line for a message: its first 300 characters, else its
    reason phrase (each service reads its own error JSON first, this is the fallback)."""
    return " ".join((response.text or "")[:300].split()) or response.reason or ""


def _retry_after_header(response: requests.Response) -> float | None:
    return retry_after(response.headers.get("Retry-After"))


@dataclass(frozen=True)
class ServiceRules:
    """How one service is named and refuses: `service` ("Zendesk"), `credentials` (what to
    check when it refuses them: "[[helpdesks]] email and token of shop woo"), `detail(resp)`
    its error text, `wait(resp)` the seconds a throttled or busy answer asks for (Retry-After
    unless the service says it otherwise), `transient` the 4xx statuses it answers when a
    later attempt will go through (Zendesk's 409 for colliding updates), `secrets` masked
    wherever its text is quoted."""

    service: str
    credentials: str
    detail: Callable[[requests.Response], str] = body_text
    wait: Callable[[requests.Response], float | None] = _retry_after_header
    transient: frozenset[int] = frozenset()  # statuses this service answers for "try again"
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def error_for(response: requests.Response, what: str, rules: ServiceRules) -> DeliveryError:
    """The delivery error an unsuccessful answer means (call only for a non-2xx)."""
    status = response.status_code
    detail = rules.mask(rules.detail(response))
    where = f"{rules.service}: {what} → HTTP {status}"
    if status in TRANSIENT_STATUSES or status in rules.transient or status >= 500:
        wait = rules.wait(response)
        later = f", asked to wait {wait:.0f} s" if wait else ""
        return TransientDeliveryError(f"{where}{later}: {detail}", retry_after=wait)
    if status in (401, 403):
        return PermanentDeliveryError(
            f"{where}: credentials refused, check {rules.credentials} ({detail})"
        )
    return PermanentDeliveryError(f"{where}: {detail}")


def unreachable(exc: requests.RequestException, what: str, rules: ServiceRules) -> DeliveryError:
    # Not str(exc): requests quotes the URL, and some services put a key in it.
    name = type(exc).__name__
    return TransientDeliveryError(f"{rules.service}: {what}: cannot reach it ({name})")


def read_json(response: requests.Response, what: str, rules: ServiceRules) -> Any:
    """The parsed JSON of a 2xx answer; otherwise the delivery error it means."""
    if not 200 <= response.status_code < 300:
        raise error_for(response, what, rules)
    if response.status_code == 204 or not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "?")
        raise TransientDeliveryError(
            f"{rules.service}: {what} answered {response.status_code} but not JSON ({kind})"
        ) from None


class _NotApplied(RetrySoon):
    """An attempt the service cannot have applied (refused connection, 429): safe to repeat."""

    def __init__(self, error: DeliveryError) -> None:
        super().__init__(str(error), error.retry_after, throttled=True)
        self.error = error


def call(
    rules: ServiceRules,
    what: str,
    send: Callable[[], requests.Response],
    *,
    attempts: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """`send()` (one HTTP request) read as JSON, with quick retries of what was not applied:
    a refused connection, a 429 asking for at most `MAX_QUICK_WAIT`. Anything else is raised
    at once as the delivery error it means."""

    def attempt() -> Any:
        try:
            response = send()
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise _NotApplied(unreachable(exc, what, rules)) from None
            raise unreachable(exc, what, rules) from None
        except requests.RequestException as exc:  # timeouts: it may have been applied
            raise unreachable(exc, what, rules) from None
        if response.status_code == 429:
            error = error_for(response, what, rules)
            if (error.retry_after or 0) <= MAX_QUICK_WAIT:
                raise _NotApplied(error)
            raise error
        return read_json(response, what, rules)

    try:
        return quick_retries(attempts=attempts, initial=backoff, sleep=sleep)(attempt)
    except _NotApplied as exc:
        raise exc.error from None


def _never_sent(exc: requests.ConnectionError) -> bool:
    """A connection that was refused or never opened: the request cannot have arrived."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc.args)
    return any(
        marker in text for marker in ("ConnectionRefused", "NewConnectionError", "NameResolution")
    )


def secrets_of(values: Iterable[Any]) -> tuple[str, ...]:
    """The texts of `values` (SecretStr or str) worth masking (empty ones are not)."""
    return tuple(text for text in (reveal(v) for v in values) if len(text) >= 4)
