"""Intercom: adds an invoice or credit note PDF to the customer's latest open conversation, as
an internal note the support team sees (or, with `[[helpdesks]] public = true`, as a reply the
customer sees too).

    POST /contacts/search            email = the customer's: every contact with it (user, lead)
    POST /conversations/search       contact_ids IN those AND state = open: the most recently
                                     updated one (the search has no sort: we pick it ourselves);
                                     with `doc.since`, contact_ids IN those alone (any state)
    GET  /conversations/{id}         with `doc.since`: the parts (at most 500) of each one
                                     updated at or after `since`, to find our note
    POST /conversations/{id}/reply   type admin, admin_id, message_type note | comment, body
                                     (HTML), attachment_files [{content_type, data, name}]
    GET  /me                         the token's own admin and its app (doctor)
    GET  /admins/{admin_id}          the admin the notes are written as (doctor)

Requests name API version 2.14 (`Intercom-Version`), the version Intercom's reference and SDKs
default to; the base URL is the workspace's region (https://api.intercom.io, api.eu…, api.au…).

"Open" means `state = open`: a snoozed conversation (`open` is still true) was parked by the
team until a date, and a closed one is finished; neither gets a note nobody will read.

`check_intercom` is the doctor's look at the workspace, writing nothing: `/me` proves the
token (Identify an admin: the admin with its embedded app), `/admins/{admin_id}` that the
admin the notes are written as exists (404 "Admin not found" otherwise).

Intercom limits requests per 10-second window: a 429 carries `X-RateLimit-Reset` (epoch
seconds), and the wait is read from it when there is no Retry-After. What may have been
applied (a timed-out or 5xx reply) is never repeated here: the job queue runs again later.

Every run of a job (`doc.since` set: the job's creation less the margin for Intercom's clock)
looks before writing: a part by our admin, created at or after `since`, naming the number and
carrying the PDF, whose id ("<conversation>/<part>", as `Sent.external_id` gives it) is not
among `doc.known`, is what an earlier run wrote (`Sent(already=True)`). One whose id is known
is an earlier delivery's (the original hand-over, when this job is `quittance resend`): it
does not count, the resend writes anew, however soon after. The earlier run may have written
to a conversation closed since, or pushed down by newer ones: every conversation of the
contact updated at or after `since`, open or not, is read (writing a note bumps
`updated_at`), picked by the search results' own `updated_at` before any is read. A typical
first run (nothing written to the customer's conversations since `since`) so reads none at
all: the two searches, then the reply.

An answer of a shape Intercom does not give (a list for an object, a result without an id,
a conversation without `updated_at`, parts that are not a list) is a `TransientDeliveryError`
saying so: it is never read as "no contact" or "no note yet", which would skip the document
or write it twice.
"""

from __future__ import annotations

import base64
import html
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from bridge.config.channels import HelpdeskConfig
from bridge.delivery.channel import Handover, NothingToDo, Outcome, Sent
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.helpdesk.wording import note_text
from bridge.delivery.http_answers import ServiceRules, body_text, call, secrets_of
from bridge.delivery.secrets import reveal
from bridge.handover import check_before_handover
from bridge.quick_retry import retry_after

API_VERSION = "2.14"
CONTACTS_PER_PAGE = 50  # the search's default page
CONVERSATIONS_PER_PAGE = 150  # the search's maximum: one page for nearly every customer
MAX_PAGES = 20  # a customer with more than that is not one we can sort out: stop reading
MIN_RESET_WAIT = 1.0  # a clock ahead of Intercom's would read a window reset already past

Clock = Callable[[], float]


def add_to_intercom(
    cfg: HelpdeskConfig,
    doc: Handover,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = time.time,
) -> Outcome:
    """Add `doc`'s PDF to its customer's latest open conversation; `NothingToDo` when they
    have no contact or no open conversation. With `doc.since`, what an earlier run of the job
    wrote is found first and reported (`already=True`), in the conversations updated since
    (none, on a typical first run: nothing is read before the reply). `clock` is the wall clock
    `X-RateLimit-Reset` is read against."""
    email = doc.customer_email.strip()
    if not email:
        return NothingToDo(f"no customer email: no Intercom contact to add {doc.number} to")
    with requests.Session() as session:
        api = _Api(cfg, session, sleep=sleep, clock=clock)
        contacts = _contact_ids(api, email)
        if not contacts:
            return NothingToDo(f"no Intercom contact with {email}: nothing to add {doc.number} to")
        conversations = _conversations(api, contacts, any_state=doc.since is not None)
        latest = _latest_open(conversations)
        if doc.since is not None:
            since = _epoch(doc.since)
            where = _updated_since(latest, conversations, since)
            earlier = _earlier_send(api, cfg, doc, since, where)
            if earlier is not None:
                return earlier
        if latest is None:
            return NothingToDo(f"no open Intercom conversation for {email}: {doc.number} not added")
        conversation_id = str(latest["id"])
        answer = api.reply(conversation_id, _reply_payload(cfg, doc))
    return _sent(cfg, conversation_id, _new_part_id(answer, cfg, doc))


def check_intercom(
    cfg: HelpdeskConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = time.time,
) -> str:
    """Whose the token is and who the notes are written as (the doctor's check; nothing is
    written): "token of 'Boutique', notes written as 'Support'". Refused credentials and an
    unknown `admin_id` are permanent; an unreachable or failing Intercom is transient."""
    with requests.Session() as session:
        api = _Api(cfg, session, sleep=sleep, clock=clock)
        me = api.get("identify the token's admin", "/me")
        what = f"look up [[helpdesks]] admin_id {cfg.admin_id}"
        missing = (
            f"no admin {cfg.admin_id} in this workspace, check [[helpdesks]] admin_id of shop "
            f"{cfg.shop} (intercom)"
        )
        admin = api.get(what, f"/admins/{quote(cfg.admin_id, safe='')}", missing=missing)
    app = _mapping(me.get("app"))
    owner = app.get("name") or me.get("name")
    if not owner:
        raise TransientDeliveryError("Intercom: identify the token's admin: answered no admin")
    if not admin.get("name") and not admin.get("id"):
        raise TransientDeliveryError(f"Intercom: {what}: answered no admin")
    return f"token of '{owner}', notes written as '{admin.get('name') or admin['id']}'"


# ---------------------------------------------------------------------------------- the API


class _Api:
    """One delivery's requests: Bearer auth, the API version, each through `call`."""

    def __init__(
        self,
        cfg: HelpdeskConfig,
        session: requests.Session,
        *,
        sleep: Callable[[float], None],
        clock: Clock,
    ) -> None:
        self.cfg = cfg
        self.base = cfg.base_url
        self.session = session
        self.sleep = sleep
        self.rules = _rules(cfg, clock)
        session.headers.update(
            {
                "Authorization": f"Bearer {reveal(cfg.token)}",
                "Accept": "application/json",
                "Intercom-Version": API_VERSION,
            }
        )

    def post(self, what: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        def send() -> requests.Response:
            return self.session.post(self.base + path, json=body, timeout=self.cfg.timeout_seconds)

        return _object(call(self.rules, what, send, sleep=self.sleep), what)

    def get(self, what: str, path: str, *, missing: str = "") -> dict[str, Any]:
        """A GET; with `missing`, a 404 is that permanent error (Intercom's words added)."""

        def send() -> requests.Response:
            response = self.session.get(self.base + path, timeout=self.cfg.timeout_seconds)
            if missing and response.status_code == 404:
                said = self.rules.mask(_detail(response))
                raise PermanentDeliveryError(f"Intercom: {what} → HTTP 404: {missing} ({said})")
            return response

        return _object(call(self.rules, what, send, sleep=self.sleep), what)

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        what = f"read conversation {conversation_id}"
        return self.get(what, f"/conversations/{conversation_id}")

    def reply(self, conversation_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        def send() -> requests.Response:
            # Checked before each attempt (a 429 is tried again after its wait), after every
            # read: what follows it is one request, the budget the lease was renewed for.
            check_before_handover()
            return self.session.post(
                f"{self.base}/conversations/{conversation_id}/reply",
                json=payload,
                timeout=self.cfg.timeout_seconds,
            )

        what = f"{payload['message_type']} on conversation {conversation_id} as admin "
        what += self.cfg.admin_id
        # Written once Intercom answers 200, whatever the answer's shape: an odd one only
        # leaves the part's id unknown (the conversation's still says where it went).
        return _mapping(call(self.rules, what, send, sleep=self.sleep))

    def search(
        self, what: str, path: str, query: dict[str, Any], per_page: int, key: str
    ) -> Iterator[dict[str, Any]]:
        """Every result of a search (the answer's `key` list), page after page
        (`pages.next.starting_after`); each an object with an id, else the answer is odd."""
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            pagination: dict[str, Any] = {"per_page": per_page}
            if cursor:
                pagination["starting_after"] = cursor
            answer = self.post(what, path, {"query": query, "pagination": pagination})
            results = answer.get(key)
            if not isinstance(results, list):
                raise _unexpected(what, f"no {key} list")
            for result in results:
                if not isinstance(result, dict) or not result.get("id"):
                    raise _unexpected(what, f"one of its {key} without an id")
                yield result
            following = _next_cursor(answer)
            if not following or following == cursor:
                return
            cursor = following


def _rules(cfg: HelpdeskConfig, clock: Clock) -> ServiceRules:
    return ServiceRules(
        service="Intercom",
        credentials=f"[[helpdesks]] token and admin_id of shop {cfg.shop} (intercom)",
        detail=_detail,
        wait=_waiter(clock),
        secrets=secrets_of([cfg.token]),
    )


def _detail(response: requests.Response) -> str:
    """Intercom's error list ("not_found: Resource Not Found"), else the start of the text."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        errors = None
    if isinstance(errors, list) and errors:
        texts = [_one_error(e) for e in errors if isinstance(e, dict)]
        if texts:
            return "; ".join(texts)
    return body_text(response)


def _one_error(error: dict[str, Any]) -> str:
    code, message = error.get("code") or "", error.get("message") or ""
    field = f" ({error['field']})" if error.get("field") else ""
    return f"{code}: {message}{field}" if code and message else f"{code or message}{field}"


def _waiter(clock: Clock) -> Callable[[requests.Response], float | None]:
    """The seconds a throttled answer asks for: Retry-After when Intercom (or a proxy) sends
    one, else a 429's window reset (`X-RateLimit-Reset`, epoch seconds) less the time now."""

    def wait(response: requests.Response) -> float | None:
        told = retry_after(response.headers.get("Retry-After"))
        if told is not None:
            return told
        if response.status_code != 429:
            return None  # every answer carries the reset: it is a wait only for a 429
        try:
            reset = float(response.headers.get("X-RateLimit-Reset", ""))
        except ValueError:
            return None
        return max(MIN_RESET_WAIT, reset - clock())

    return wait


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _unexpected(what: str, why: str) -> TransientDeliveryError:
    return TransientDeliveryError(f"Intercom: {what}: answered something unexpected ({why})")


def _object(value: Any, what: str) -> dict[str, Any]:
    """A 2xx answer that must be a JSON object (an empty body reads as one: `{}`)."""
    if not isinstance(value, dict):
        raise _unexpected(what, f"{type(value).__name__} where an object was expected")
    return value


def _next_cursor(answer: dict[str, Any]) -> str | None:
    following = _mapping(_mapping(answer.get("pages")).get("next"))
    cursor = following.get("starting_after")
    return str(cursor) if cursor else None


# ----------------------------------------------------------------------- contacts, conversation


def _contact_ids(api: _Api, email: str) -> list[str]:
    """Every contact with the address: a lead and a user may share it, each with its own
    conversations."""
    query = {"field": "email", "operator": "=", "value": email}
    ids: list[str] = []
    what = "search contacts by email"
    for contact in api.search(what, "/contacts/search", query, CONTACTS_PER_PAGE, "data"):
        if str(contact["id"]) not in ids:
            ids.append(str(contact["id"]))
    return ids


def _conversations(api: _Api, contact_ids: list[str], *, any_state: bool) -> list[dict[str, Any]]:
    """The contacts' open conversations, or (`any_state`, to look for an earlier run's note
    too) all of them: the open one to write to is picked from those."""
    of_contacts = {"field": "contact_ids", "operator": "IN", "value": contact_ids}
    if any_state:
        query, what = of_contacts, "search the contact's conversations"
    else:
        is_open = {"field": "state", "operator": "=", "value": "open"}
        query = {"operator": "AND", "value": [of_contacts, is_open]}
        what = "search the contact's open conversations"
    path, key = "/conversations/search", "conversations"
    return list(api.search(what, path, query, CONVERSATIONS_PER_PAGE, key))


def _latest_open(conversations: list[dict[str, Any]]) -> dict[str, Any] | None:
    # the query may say so already; a snoozed or closed one must not slip through anyway
    found = [c for c in conversations if c.get("state") == "open"]
    return max(found, key=_recency, default=None)


def _updated_since(
    latest: dict[str, Any] | None, conversations: list[dict[str, Any]], since: float
) -> list[str]:
    """The conversations an earlier run may have written to: every one updated at or after
    `since` (its note bumped `updated_at`), open or not; the one we would write to now first,
    then the most recently updated. A result without `updated_at` is odd: left out, it could
    hide our note."""
    for conversation in conversations:
        if not _is_time(conversation.get("updated_at")):
            why = f"conversation {conversation['id']} without updated_at"
            raise _unexpected("search the contact's conversations", why)
    # the one we write to is read whatever its updated_at says: a search index that lags
    # our own note must not hide it
    recent = [c for c in conversations if c["updated_at"] >= since or c is latest]
    recent.sort(key=_recency, reverse=True)
    recent.sort(key=lambda c: c is not latest)  # stable: the rest stay newest first
    return [str(c["id"]) for c in recent]


def _recency(conversation: dict[str, Any]) -> tuple[int, int]:
    return _int(conversation.get("updated_at")), _int(conversation.get("created_at"))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _parts(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    parts = _list(_mapping(conversation.get("conversation_parts")).get("conversation_parts"))
    return [p for p in parts if isinstance(p, dict)]


def _read_parts(conversation: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """A conversation's parts, as the look needs them: a list of objects, else it is odd
    (reading it as "no note yet" would write the document twice)."""
    listing = conversation.get("conversation_parts")
    parts = listing.get("conversation_parts") if isinstance(listing, dict) else None
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise _unexpected(what, "no list of conversation parts")
    return parts


def _by_admin(part: dict[str, Any], admin_id: str) -> bool:
    author = _mapping(part.get("author"))
    return author.get("type") == "admin" and str(author.get("id")) == admin_id


def _attaches(part: dict[str, Any], filename: str) -> bool:
    return any(
        isinstance(a, dict) and a.get("name") == filename for a in _list(part.get("attachments"))
    )


def _plain(body: Any) -> str:
    """A part's HTML body as text, so a number split by markup or escaped is still found."""
    return html.unescape(re.sub(r"<[^>]*>", " ", str(body or "")))


def _is_time(value: Any) -> bool:
    """An epoch time as Intercom gives it (`created_at`, `updated_at`): a number."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _epoch(since: datetime) -> float:
    """`since` as epoch seconds; naive means UTC, as `Handover.since` is. It already carries
    the margin for Intercom's clock (and so for its whole seconds): compared as it is."""
    aware = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    return aware.timestamp()


def _earlier_send(
    api: _Api, cfg: HelpdeskConfig, doc: Handover, since: float, conversation_ids: list[str]
) -> Sent | None:
    """What an earlier run of this job wrote at or after `since` (epoch seconds), in the
    first of `conversation_ids` holding it."""
    for conversation_id in conversation_ids:
        what = f"read conversation {conversation_id}"
        parts = _read_parts(api.get_conversation(conversation_id), what)
        part = _earlier_part(parts, cfg.admin_id, doc, since, conversation_id, what)
        if part is not None:
            return _sent(cfg, conversation_id, str(part.get("id") or ""), already=True)
    return None


def _earlier_part(
    parts: list[dict[str, Any]],
    admin_id: str,
    doc: Handover,
    since: float,
    conversation_id: str,
    what: str,
) -> dict[str, Any] | None:
    """The part an earlier run left: by our admin, naming the number, with the PDF, created
    at or after `since`, its id not in `doc.known` (a known one is another delivery's, the
    original a resend writes beside)."""
    for part in reversed(parts):
        if (
            _by_admin(part, admin_id)
            and doc.number in _plain(part.get("body"))
            and _attaches(part, doc.filename)
        ):
            created = part.get("created_at")
            if not _is_time(created):
                raise _unexpected(what, f"a part of ours for {doc.number} without created_at")
            ours = _external_id(conversation_id, str(part.get("id") or ""))
            if created >= since and ours not in doc.known:
                return part
    return None


# ------------------------------------------------------------------------------------ reply


def _message_type(cfg: HelpdeskConfig) -> str:
    return "comment" if cfg.public else "note"


def _html(text: str) -> str:
    """The wording's plain text as Intercom's HTML body: a paragraph per blank-line block."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return "".join(_paragraph(block) for block in blocks)


def _paragraph(block: str) -> str:
    return "<p>" + html.escape(block).replace("\n", "<br>") + "</p>"


def _reply_payload(cfg: HelpdeskConfig, doc: Handover) -> dict[str, Any]:
    return {
        "message_type": _message_type(cfg),
        "type": "admin",
        "admin_id": cfg.admin_id,
        "body": _html(note_text(doc, public=cfg.public)),
        "attachment_files": [
            {
                "content_type": "application/pdf",
                "data": base64.b64encode(doc.pdf).decode("ascii"),
                "name": doc.filename,
            }
        ],
    }


def _new_part_id(answer: dict[str, Any], cfg: HelpdeskConfig, doc: Handover) -> str:
    """The part the reply created: the conversation Intercom answers ends with it; ours is
    the last by our admin of our type (with our PDF, when the answer lists attachments)."""
    parts = _parts(answer)
    ours = [
        p for p in parts if _by_admin(p, cfg.admin_id) and p.get("part_type") == _message_type(cfg)
    ]
    with_pdf = [p for p in ours if _attaches(p, doc.filename)]
    for candidates in (with_pdf, ours):
        if candidates and candidates[-1].get("id"):
            return str(candidates[-1]["id"])
    # Written, but not named: a bare conversation id would never match what the next look
    # compares, so another delivery could take this note for its own. The next run reads
    # the note back and records it by its full id.
    raise _unexpected("reply", "the answer names no part of ours")


def _sent(
    cfg: HelpdeskConfig, conversation_id: str, part_id: str, *, already: bool = False
) -> Sent:
    return Sent(
        external_id=_external_id(conversation_id, part_id),
        target=f"intercom conversation {conversation_id}",
        detail="public reply" if cfg.public else "note",
        already=already,
    )


def _external_id(conversation_id: str, part_id: str) -> str:
    """A part's id as `Sent.external_id` (and so `Handover.known`) gives it."""
    return f"{conversation_id}/{part_id}" if part_id else conversation_id
