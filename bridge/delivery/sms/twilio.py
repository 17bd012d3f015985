"""Texting a customer through Twilio's Messages API (2010-04-01), the SMS gateway that says
what became of a text: a message id when it is accepted, an error code when it is not.

    POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json    send: To, From, Body
    GET  the same ?To=…[&From=…]                                      texts sent to a number
    GET  {api_url}/2010-04-01/Accounts/{account_sid}.json             the account (doctor)

(From is MessagingServiceSid when the sender is a Messaging Service, MG….)

Twilio's answers are read by `bridge.delivery.http_answers`: 401 (error 20003) and every
other 4xx are permanent (21211 not a number, 21614 not a mobile, 21610 the customer replied
STOP, 21408 country not enabled, 21606 sender unusable…), 429 and 5xx transient, Retry-After
honoured. The owner reads Twilio's own code and message, with a hint of what to change.

`check_twilio` is the doctor's look at the gateway: it fetches the account (Twilio's Accounts
resource: `status` active, suspended or closed, `friendly_name`), which proves the SID and
token without texting anyone.

A text whose answer was lost (a timeout, a crash before we recorded it) may have been sent.
So the look-up is its own call, `find_earlier_text`, made before the send (and before the
shop's daily cap is counted: a text already sent is not sent again, so it does not count),
and `send_twilio` only sends. The look-up lists the texts sent to that number and takes the
one created at or after `since` (the job's creation less `CLOCK_MARGIN` of
`bridge.delivery.channel`, subtracted by the caller: Twilio's clock may be behind ours) that
mentions the document's number, has not failed, been undelivered or canceled, and whose SID
is not in `known` (the SIDs the document's other deliveries recorded): a resend does not
take the original's text for its own, while a retry, which never got to record its SID,
finds its own.

The list is not filtered on DateSent: a text still queued, accepted or scheduled has no
`date_sent` yet and would be left out. Nor is its order relied on: Twilio's reference says
it is "sorted by DateSent, most recent first", which does not place a text without a
DateSent, so an older text already sent may come before a run's own queued one. Every page
is read, up to `MAX_PAGES` (past them the look-up reports nothing), and each text is judged
on its own `date_created`.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

import requests
import structlog

from bridge.config.channels import SERVICE_SID, SmsConfig
from bridge.delivery.channel import Sent
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.http_answers import ServiceRules, body_text, call, secrets_of
from bridge.delivery.secrets import reveal
from bridge.handover import check_before_handover

API_VERSION = "2010-04-01"
PAGE_SIZE = 100
# A customer's number gets few texts from a shop: past 500, the look-up stops (and reports
# nothing) rather than read on.
MAX_PAGES = 5
# Texts that never reached the customer: a retry should send the document again.
_NOT_DELIVERED = frozenset({"failed", "undelivered", "canceled"})
# A 400 that says "later", not "never": the sender's queue is full.
_BUSY_CODES = frozenset({21611})
_HINTS = {
    20003: "Twilio refused the account SID and auth token",
    21211: "the customer's number is not a valid phone number",
    21408: "the account may not text this country: enable it in Twilio's Messaging "
    "geographic permissions",
    21606: "[[sms]] sender cannot send texts from this account",
    21608: "a trial account texts only the numbers verified on it",
    21610: "the customer replied STOP to this sender and gets no more texts from it",
    21611: "the sender's queue is full, retried later",
    21614: "the customer's number is not a mobile",
}


def _account_base(cfg: SmsConfig) -> str:
    return f"{cfg.api_url.rstrip('/')}/{API_VERSION}/Accounts/{cfg.account_sid}"


def messages_url(cfg: SmsConfig) -> str:
    return f"{_account_base(cfg)}/Messages.json"


def account_url(cfg: SmsConfig) -> str:
    return f"{_account_base(cfg)}.json"


def _error_json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _detail(response: requests.Response) -> str:
    """Twilio's `{code, message, more_info, status}` as the owner reads it."""
    data = _error_json(response)
    message = " ".join(str(data.get("message") or "").split())
    if not message:
        return body_text(response)
    code = data.get("code")
    text = f"error {code}: {message}" if code else message
    hint = _HINTS.get(code) if isinstance(code, int) else None
    return f"{text} ({hint})" if hint else text


def _rules(cfg: SmsConfig) -> ServiceRules:
    return ServiceRules(
        service="Twilio",
        credentials=f"[[sms]] account_sid and auth_token of shop {cfg.shop}",
        detail=_detail,
        secrets=secrets_of([cfg.auth_token, _basic_credentials(cfg)]),
    )


def _basic_credentials(cfg: SmsConfig) -> str:
    """The Authorization header's base64 of "sid:token", as a proxy echoing it would show."""
    pair = f"{cfg.account_sid}:{reveal(cfg.auth_token)}"
    return base64.b64encode(pair.encode()).decode() if reveal(cfg.auth_token) else ""


def _auth(cfg: SmsConfig) -> tuple[str, str]:
    return cfg.account_sid, reveal(cfg.auth_token)


def _form(cfg: SmsConfig, to: str, body: str) -> dict[str, str]:
    # A Messaging Service (MG…) picks the sending number itself; Twilio takes it instead of From.
    sender_key = "MessagingServiceSid" if _is_service(cfg) else "From"
    return {"To": to, sender_key: cfg.sender, "Body": body}


def _is_service(cfg: SmsConfig) -> bool:
    # A Messaging Service's SID, not a sender name that happens to begin with MG ("MGBoutique").
    return SERVICE_SID.fullmatch(cfg.sender) is not None


def _get(cfg: SmsConfig, url: str, params: dict[str, str] | None) -> requests.Response:
    return requests.get(url, params=params, auth=_auth(cfg), timeout=cfg.timeout_seconds)


def _post(cfg: SmsConfig, rules: ServiceRules, form: dict[str, str]) -> requests.Response:
    # Right before the request: the lease is renewed for this one request (and again for each
    # quick retry of it), and a refusal is let through as it is.
    check_before_handover()
    response = requests.post(
        messages_url(cfg), data=form, auth=_auth(cfg), timeout=cfg.timeout_seconds
    )
    if response.status_code == 400 and _error_json(response).get("code") in _BUSY_CODES:
        raise TransientDeliveryError(
            f"Twilio: send the text → HTTP 400: {rules.mask(_detail(response))}"
        )
    return response


def mentions(body: str, marker: str) -> bool:
    """`marker` stands in `body` as a whole token: FA-2026-00004 is not in "FA-2026-000042"."""
    pattern = rf"(?<![0-9A-Za-z]){re.escape(marker)}(?![0-9A-Za-z])"
    return bool(marker) and re.search(pattern, body or "") is not None


def _created(message: dict[str, Any]) -> datetime | None:
    try:
        when = parsedate_to_datetime(str(message.get("date_created") or ""))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _list_query(cfg: SmsConfig, to: str) -> dict[str, str]:
    query = {"To": to, "PageSize": str(PAGE_SIZE)}
    # A number sends as itself; a Messaging Service picks one of its numbers, and an
    # alphanumeric sender is left out of the filter: the To alone, the marker tells the rest.
    if cfg.sender.startswith("+"):
        query["From"] = cfg.sender
    return query


def _earlier(
    cfg: SmsConfig,
    rules: ServiceRules,
    to: str,
    *,
    marker: str,
    since: datetime,
    known: frozenset[str],
    sleep: Callable[[float], None],
) -> dict[str, Any] | None:
    """The first text Twilio lists, in any of its first `MAX_PAGES` pages, that `_is_earlier`
    takes."""
    start = since if since.tzinfo else since.replace(tzinfo=UTC)  # a naive since is UTC
    params: dict[str, str] | None = _list_query(cfg, to)
    url = messages_url(cfg)
    for _ in range(MAX_PAGES):
        page = call(rules, "look for an earlier text", partial(_get, cfg, url, params), sleep=sleep)
        for message in page.get("messages") or []:
            if _is_earlier(message, marker=marker, since=start, known=known):
                return message
        next_uri = page.get("next_page_uri")
        if not next_uri:
            return None
        url, params = f"{cfg.api_url.rstrip('/')}{next_uri}", None
    # Not seen in that many texts to one number: sent again rather than never; say so.
    structlog.get_logger().warning(
        "twilio look-up stopped at its page cap", pages=MAX_PAGES, marker=marker
    )
    return None


def _is_earlier(
    message: dict[str, Any], *, marker: str, since: datetime, known: frozenset[str]
) -> bool:
    created = _created(message)
    return (
        created is not None  # no date to place it by: not taken
        and created >= since
        and message.get("status") not in _NOT_DELIVERED
        and bool(message.get("sid"))  # nothing to report it by otherwise
        and str(message.get("sid")) not in known
        and mentions(str(message.get("body") or ""), marker)
    )


def find_earlier_text(
    cfg: SmsConfig,
    to: str,
    *,
    marker: str,
    since: datetime,
    known: frozenset[str],
    sleep: Callable[[float], None] = time.sleep,
) -> Sent | None:
    """The text an earlier run of the job sent `to` (E.164), as `Sent` with `already=True`;
    None when there is none. It is a text Twilio lists to `to` (from the sender, when the
    sender is a number) that was created at or after `since` (UTC, the job's creation less
    `CLOCK_MARGIN`: the caller subtracts it), mentions `marker` (the document number), is not
    failed, undelivered or canceled, and whose SID is not in `known` (those of the document's
    other deliveries). Every page is read, up to `MAX_PAGES`, whatever the list's order.
    Nothing is written, so no hand-over check is made."""
    found = _earlier(cfg, _rules(cfg), to, marker=marker, since=since, known=known, sleep=sleep)
    if found is None:
        return None
    return Sent(
        external_id=str(found.get("sid") or ""),
        target=to,
        detail=f"twilio {found.get('status') or '?'} (sent by an earlier attempt)",
        already=True,
    )


def send_twilio(
    cfg: SmsConfig, to: str, body: str, *, sleep: Callable[[float], None] = time.sleep
) -> Sent:
    """Text `body` to `to` (E.164), without looking for an earlier text: the caller has
    called `find_earlier_text` first (then counted the daily cap). The hand-over check is
    made right before the request, and again before each quick retry of it."""
    rules = _rules(cfg)
    answer = call(
        rules, "send the text", partial(_post, cfg, rules, _form(cfg, to, body)), sleep=sleep
    )
    sid = str(answer.get("sid") or "") if isinstance(answer, dict) else ""
    if not sid:
        # A 2xx without a message id is no Twilio answer (a proxy's, a captive portal's): the
        # text may not have left, and the next run looks before sending.
        raise TransientDeliveryError("Twilio: send the text: answered without a message sid")
    return Sent(external_id=sid, target=to, detail=f"twilio {answer.get('status') or '?'}")


def _get_account(cfg: SmsConfig, rules: ServiceRules) -> requests.Response:
    response = _get(cfg, account_url(cfg), None)
    if response.status_code == 404:
        # Authenticated, but not for this account: a subaccount's token with another SID.
        raise PermanentDeliveryError(
            f"Twilio: fetch the account → HTTP 404: no account {cfg.account_sid} for these "
            f"credentials, check {rules.credentials} ({rules.mask(_detail(response))})"
        )
    return response


def check_twilio(cfg: SmsConfig, *, sleep: Callable[[float], None] = time.sleep) -> str:
    """What Twilio says of the account (the doctor's check; nothing is sent): "account
    'Boutique' active". A suspended or closed account, refused credentials or an unknown
    SID are permanent; an unreachable or failing Twilio is transient."""
    rules = _rules(cfg)
    answer = call(rules, "fetch the account", partial(_get_account, cfg, rules), sleep=sleep)
    account = answer if isinstance(answer, dict) else {}
    status = str(account.get("status") or "")
    if not status:
        raise TransientDeliveryError("Twilio: fetch the account: answered without its status")
    name = str(account.get("friendly_name") or account.get("sid") or cfg.account_sid)
    if status != "active":
        raise PermanentDeliveryError(
            f"Twilio: account '{name}' is {status}, it sends no texts: reactivate it in "
            f"Twilio's console, or check {rules.credentials}"
        )
    return f"account '{name}' active"
