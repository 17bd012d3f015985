"""Texting a customer through Twilio's Messages API (2010-04-01), the SMS gateway that says
what became of a text: a message id when it is accepted, an error code when it is not.

    POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json    send: To, From, Body
    GET  the same ?To=…&DateSent>=YYYY-MM-DD                          texts sent to a number
    GET  {api_url}/2010-04-01/Accounts/{account_sid}.json             the account (doctor)

(From is MessagingServiceSid when the sender is a Messaging Service, MG….)

Twilio's answers are read by `bridge.delivery.http_answers`: 401 (error 20003) and every
other 4xx are permanent (21211 not a number, 21614 not a mobile, 21610 the customer replied
STOP, 21408 country not enabled, 21606 sender unusable…), 429 and 5xx transient, Retry-After
honoured. The owner reads Twilio's own code and message, with a hint of what to change.

`check_twilio` is the doctor's look at the gateway: it fetches the account (Twilio's Accounts
resource: `status` active, suspended or closed, `friendly_name`), which proves the SID and
token without texting anyone.

A text whose answer was lost (a timeout, a crash before we recorded it) may have been sent:
the run after it (`look_first`) lists the texts sent to that number over the last two days
and, when one mentions the document's number, reports it instead of texting again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import requests

from bridge.config.channels import SmsConfig
from bridge.delivery.channel import Sent
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.http_answers import ServiceRules, call, secrets_of
from bridge.delivery.secrets import reveal
from bridge.handover import check_before_handover

API_VERSION = "2010-04-01"
# Twilio's list filter is date-granular (UTC days): from midnight two days back covers at
# least the last 48 hours, far more than a job waits between two runs of its first hours.
LOOK_BACK = timedelta(days=2)
PAGE_SIZE = 1000  # Twilio's largest page: one request for any customer's two days
MAX_PAGES = 3  # 3000 texts to one number in two days is no customer: stop looking there
# Texts that never reached the customer: a retry should send the document again.
_NOT_DELIVERED = frozenset({"failed", "undelivered", "canceled"})
# A 400 that says "later", not "never": the sender's queue is full.
_BUSY_CODES = frozenset({21611})
# A Messaging Service's SID, not a sender name that happens to begin with MG ("MGBoutique").
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
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
        return " ".join((response.text or "")[:300].split()) or response.reason or ""
    code = data.get("code")
    text = f"error {code}: {message}" if code else message
    hint = _HINTS.get(code) if isinstance(code, int) else None
    return f"{text} ({hint})" if hint else text


def _rules(cfg: SmsConfig) -> ServiceRules:
    return ServiceRules(
        service="Twilio",
        credentials=f"[[sms]] account_sid and auth_token of shop {cfg.shop}",
        detail=_detail,
        secrets=secrets_of([cfg.auth_token]),
    )


def _auth(cfg: SmsConfig) -> tuple[str, str]:
    return cfg.account_sid, reveal(cfg.auth_token)


def _form(cfg: SmsConfig, to: str, body: str) -> dict[str, str]:
    # A Messaging Service (MG…) picks the sending number itself; Twilio takes it instead of From.
    sender_key = "MessagingServiceSid" if _SERVICE_SID.fullmatch(cfg.sender) else "From"
    return {"To": to, sender_key: cfg.sender, "Body": body}


def _get(cfg: SmsConfig, url: str, params: dict[str, str] | None) -> requests.Response:
    return requests.get(url, params=params, auth=_auth(cfg), timeout=cfg.timeout_seconds)


def _post(cfg: SmsConfig, rules: ServiceRules, form: dict[str, str]) -> requests.Response:
    # Here, after any look-up: the lease is renewed for this one request (and again for each
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


def _earlier(
    cfg: SmsConfig,
    rules: ServiceRules,
    to: str,
    marker: str,
    *,
    now: datetime,
    sleep: Callable[[float], None],
) -> dict[str, Any] | None:
    """The text an earlier attempt sent `to` about `marker`, if Twilio lists one."""
    since = (now.astimezone(UTC) - LOOK_BACK).date().isoformat()
    # "DateSent>" is the key and the day its value: "DateSent%3E=YYYY-MM-DD" on the wire, the
    # documented "DateSent>=YYYY-MM-DD", as twilio-python sends it.
    params: dict[str, str] | None = {"To": to, "DateSent>": since, "PageSize": str(PAGE_SIZE)}
    url = messages_url(cfg)
    for _ in range(MAX_PAGES):
        page = call(rules, "look for an earlier text", partial(_get, cfg, url, params), sleep=sleep)
        for message in page.get("messages") or []:
            if message.get("status") not in _NOT_DELIVERED and mentions(
                str(message.get("body") or ""), marker
            ):
                return message
        next_uri = page.get("next_page_uri")
        if not next_uri:
            return None
        url, params = f"{cfg.api_url.rstrip('/')}{next_uri}", None
    return None


def send_twilio(
    cfg: SmsConfig,
    to: str,
    body: str,
    *,
    marker: str,
    look_first: bool,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Sent:
    """Text `body` to `to` (E.164). With `look_first`, a text about `marker` (the document
    number) already sent to `to` is reported (`already=True`) instead of sent again."""
    rules = _rules(cfg)
    if look_first:
        found = _earlier(cfg, rules, to, marker, now=now(), sleep=sleep)
        if found is not None:
            return Sent(
                external_id=str(found.get("sid") or ""),
                target=to,
                detail=f"twilio {found.get('status') or '?'} (sent by an earlier attempt)",
                already=True,
            )
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
