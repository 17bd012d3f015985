"""A local Twilio for tests and demos: the Messages and Account resources of the REST API
(2010-04-01), as Twilio answers them.

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json   To, From (or MessagingServiceSid), Body
    GET  /2010-04-01/Accounts/{AccountSid}/Messages.json   ?To= &From= &DateSent>= &PageSize= &Page=
    GET  /2010-04-01/Accounts/{AccountSid}.json            the account: sid, friendly_name,
                                                           status (`account_status`: active,
                                                           suspended or closed), type, auth_token

Requests are authenticated with HTTP Basic (account SID : auth token); a wrong pair gets 401,
error 20003. Errors come in Twilio's shape, `{code, message, more_info, status}`:

    To missing / not E.164             400  21604 / 21211
    From (or MessagingServiceSid)      400  21603; 21606 when `senders` is set and lacks it
    Body missing / over 1600 chars     400  21602 / 21617
    To in `landlines`                  400  21614  not a mobile
    To in `opted_out`                  400  21610  the customer replied STOP
    To in `refusals`                   400  the code and message configured (21408, …)

A text accepted answers 201 with the message resource ("SM" + 32 hex digits, status queued,
or accepted through a Messaging Service) and is kept in `messages`. As on Twilio, it stays so,
`date_sent` null, until it is sent: `deliver(sid)` moves it to `delivered` and dates it.
`record()` adds a text as if left earlier (another day, another status; dated sent when its
status says it went). `fail_next` injects an HTTP status (429 → 20429, 5xx → 205xx), a
Retry-After or a delay, as on every sandbox.

The list is in Twilio's documented order, "sorted by DateSent, most recent first". Twilio
does not say where a text without a DateSent (queued, accepted, scheduled) goes: the sandbox
lists those after every text sent, newest created first among themselves, so an older text
already sent comes before a run's own queued one, and a client that stops reading at the
first older text misses it. Its DateSent filters read `date_sent`, as Twilio's do: a text
not sent yet is left out of any of them.

Dates are RFC 2822 in UTC, from the sandbox's clock (`now`, the real one by default).
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from bridge.delivery.sms.length import measure
from connectors.sandbox_server import Reply, Request, SandboxServer

API = "/2010-04-01"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY = 1600  # characters Twilio takes in one message body
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# The statuses of a text that has left Twilio, and so has a date_sent.
SENT_STATUSES = frozenset({"sent", "delivered", "undelivered", "read"})
_FAULTS = {
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


@dataclass
class SandboxMessage:
    """One text the sandbox holds, as the list shows it afterwards."""

    sid: str
    account_sid: str
    to: str
    sender: str | None  # the From; None when a Messaging Service picks it
    messaging_service_sid: str | None
    body: str
    created: datetime
    status: str = "queued"
    sent: datetime | None = None  # date_sent: None until the text has left
    updated: datetime | None = None  # date_updated: `created` until it changes
    direction: str = "outbound-api"

    @property
    def num_segments(self) -> int:
        return measure(self.body).segments


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _rfc2822(when: datetime | None) -> str | None:
    return format_datetime(when.astimezone(UTC)) if when is not None else None


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class TwilioSandbox(SandboxServer):
    methods = ("GET", "POST")

    def __init__(
        self,
        *,
        account_sid: str = "",
        auth_token: str = "",
        landlines: Iterable[str] = (),
        opted_out: Iterable[str] = (),
        senders: Iterable[str] | None = None,
        friendly_name: str = "Boutique de test",
        now: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.landlines = set(landlines)
        self.opted_out = set(opted_out)
        self.refusals: dict[str, tuple[int, str]] = {}  # To → (code, message), answered 400
        self.senders = set(senders) if senders is not None else None  # None: any From
        self.messages: list[SandboxMessage] = []
        self.friendly_name = friendly_name
        self.account_status = "active"  # or suspended, closed: what the account resource says
        self._now = now or (lambda: datetime.now(UTC))
        self._created = self._now()

    # -- what the tests set and read -----------------------------------------------------------

    def record(
        self,
        to: str,
        body: str,
        *,
        at: datetime | None = None,
        status: str = "delivered",
        sender: str = "+15005550006",
    ) -> SandboxMessage:
        """A text as if created before (at `at`, with `status`): what an earlier attempt
        left. It is dated sent at `at` when its status says it went, else not sent yet."""
        created = at or self._now()
        message = SandboxMessage(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            sender=sender,
            messaging_service_sid=None,
            body=body,
            created=created,
            status=status,
            sent=created if status in SENT_STATUSES else None,
        )
        with self.lock:
            self.messages.append(message)
        return message

    def deliver(self, sid: str) -> SandboxMessage:
        """The text `sid` reaches the customer: `delivered`, dated sent now if not yet."""
        with self.lock:
            [message] = [m for m in self.messages if m.sid == sid]
            now = self._now()
            message.status = "delivered"
            message.sent = message.sent or now
            message.updated = now
        return message

    def sent_to(self, to: str) -> list[SandboxMessage]:
        with self.lock:
            return [m for m in self.messages if m.to == to]

    # -- HTTP ---------------------------------------------------------------------------------

    def fault_body(self, status: int) -> dict[str, Any]:
        code, message = _FAULTS.get(status, (20500 if status >= 500 else 20001, "Injected"))
        return twilio_error(status, code, message)

    def route(self, request: Request) -> Reply:
        if not self._authenticated(request):
            return 401, twilio_error(401, 20003, "Authenticate"), _challenge()
        account = _ACCOUNT.match(request.path)
        if account is not None and account["account"] == self.account_sid:
            if request.method != "GET":  # an update of the account: not in the sandbox
                return 405, twilio_error(405, 20004, "Method not allowed"), {}
            return 200, self._account(), {}
        match = _MESSAGES.match(request.path)
        if match is None or match["account"] != self.account_sid:
            message = f"The requested resource {request.path} was not found"
            return 404, twilio_error(404, 20404, message), {}
        if request.method == "POST":
            return self._create(request)
        return self._list(request)

    def _authenticated(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            pair = base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            return False
        expected = f"{self.account_sid}:{self.auth_token}"
        return secrets.compare_digest(pair.encode(), expected.encode())

    # -- create -------------------------------------------------------------------------------

    def _create(self, request: Request) -> Reply:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        refusal = self._refusal(form)
        if refusal is not None:
            code, message = refusal
            return 400, twilio_error(400, code, message), {}
        service = form.get("MessagingServiceSid") or None
        message = SandboxMessage(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=form["To"],
            sender=None if service else form["From"],
            messaging_service_sid=service,
            body=form["Body"],
            created=self._now(),
            # Twilio answers before sending: queued (accepted when a Messaging Service has
            # yet to pick the sender, which also leaves num_segments at 0).
            status="accepted" if service else "queued",
        )
        with self.lock:
            self.messages.append(message)
        return 201, self._resource(message), {}

    def _refusal(self, form: dict[str, str]) -> tuple[int, str] | None:
        to = form.get("To", "")
        sender = form.get("From", "")
        if not to:
            return 21604, "A 'To' phone number is required."
        if not (sender or form.get("MessagingServiceSid")):
            return 21603, "A 'From' phone number is required."
        if not form.get("Body"):
            return 21602, "Message body is required."
        if len(form["Body"]) > MAX_BODY:
            return 21617, "The concatenated message body exceeds the 1600 character limit."
        if not _E164.match(to):
            return 21211, f"Invalid 'To' Phone Number: {to}"
        if sender and self.senders is not None and sender not in self.senders:
            return 21606, (
                f"The 'From' phone number provided ({sender}) is not a valid message-capable "
                "Twilio phone number for this destination/account"
            )
        if to in self.landlines:
            return 21614, f"'To' number {to} is not a valid mobile number"
        if to in self.opted_out:
            return 21610, "Attempt to send to unsubscribed recipient"
        return self.refusals.get(to)

    # -- list ---------------------------------------------------------------------------------

    def _list(self, request: Request) -> Reply:
        query = request.query
        try:
            bounds = {key: _day_or_time(query[key]) for key in _DATE_KEYS if key in query}
            size = min(MAX_PAGE_SIZE, max(1, int(query.get("PageSize") or DEFAULT_PAGE_SIZE)))
            page = max(0, int(query.get("Page") or 0))
        except ValueError as exc:
            return 400, twilio_error(400, 20001, f"Invalid parameter: {exc}"), {}
        with self.lock:
            chosen = [m for m in self.messages if _matches(m, query, bounds)]
        chosen = _in_twilio_order(chosen)
        start = page * size
        shown = chosen[start : start + size]
        more = start + size < len(chosen)
        return 200, self._page(query, shown, page=page, size=size, more=more), {}

    def _page(
        self,
        query: dict[str, str],
        shown: list[SandboxMessage],
        *,
        page: int,
        size: int,
        more: bool,
    ) -> dict[str, Any]:
        def uri(number: int) -> str:
            kept = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}
            params = {**kept, "PageSize": str(size), "Page": str(number)}
            if number and shown:
                params["PageToken"] = "PA" + shown[-1].sid[2:]
            return f"{self._messages_path()}?{urlencode(params)}"

        return {
            "first_page_uri": uri(0),
            "end": page * size + max(len(shown) - 1, 0),
            "previous_page_uri": uri(page - 1) if page else None,
            "messages": [self._resource(m) for m in shown],
            "uri": uri(page),
            "page_size": size,
            "start": page * size,
            "next_page_uri": uri(page + 1) if more else None,
            "page": page,
        }

    # -- the account --------------------------------------------------------------------------

    def _account(self) -> dict[str, Any]:
        path = f"{API}/Accounts/{self.account_sid}"
        return {
            # Twilio's own answer carries the token: a client must never quote it.
            "auth_token": self.auth_token,
            "date_created": _rfc2822(self._created),
            "date_updated": _rfc2822(self._created),
            "friendly_name": self.friendly_name,
            "owner_account_sid": self.account_sid,
            "sid": self.account_sid,
            "status": self.account_status,
            "subresource_uris": {"messages": f"{path}/Messages.json"},
            "type": "Full",
            "uri": f"{path}.json",
        }

    # -- the resource -------------------------------------------------------------------------

    def _messages_path(self) -> str:
        return f"{API}/Accounts/{self.account_sid}/Messages.json"

    def _resource(self, message: SandboxMessage) -> dict[str, Any]:
        path = f"{API}/Accounts/{self.account_sid}/Messages/{message.sid}"
        segments = 0 if message.status in ("accepted", "scheduled") else message.num_segments
        return {
            "account_sid": message.account_sid,
            "api_version": "2010-04-01",
            "body": message.body,
            "date_created": _rfc2822(message.created),
            "date_sent": _rfc2822(message.sent),
            "date_updated": _rfc2822(message.updated or message.created),
            "direction": message.direction,
            "error_code": None,
            "error_message": None,
            "from": message.sender,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": message.status,
            "subresource_uris": {"media": f"{path}/Media.json"},
            "to": message.to,
            "uri": f"{path}.json",
        }


# "DateSent>=2026-03-01" arrives as the key "DateSent>" with the value "2026-03-01".
_DATE_KEYS = ("DateSent", "DateSent>", "DateSent<")


def _day_or_time(value: str) -> date | datetime:
    """A filter's bound: a UTC day (YYYY-MM-DD, as documented) or an ISO 8601 time."""
    if len(value) == 10:
        return date.fromisoformat(value)
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _compare(sent: datetime, bound: date | datetime) -> int:
    if isinstance(bound, datetime):
        left, right = sent, bound.astimezone(UTC)
        return (left > right) - (left < right)
    day = sent.astimezone(UTC).date()
    return (day > bound) - (day < bound)


def _matches(
    message: SandboxMessage, query: dict[str, str], bounds: dict[str, date | datetime]
) -> bool:
    if query.get("To") and message.to != query["To"]:
        return False
    if query.get("From") and message.sender != query["From"]:
        return False
    if bounds and message.sent is None:
        return False  # not sent yet: no date_sent for a DateSent filter to take
    wanted = {"DateSent": (0,), "DateSent>": (0, 1), "DateSent<": (-1, 0)}
    return all(_compare(message.sent, bound) in wanted[key] for key, bound in bounds.items())


def _in_twilio_order(messages: list[SandboxMessage]) -> list[SandboxMessage]:
    """By date_sent, most recent first; the texts not sent yet last, newest created first."""
    return sorted(messages, key=lambda m: (m.sent is not None, m.sent or m.created), reverse=True)


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Basic realm="Twilio API"'}
