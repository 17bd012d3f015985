"""The Zendesk channel: adds an invoice or credit note, PDF attached, to the customer's most
recent open Zendesk ticket, as an internal note for the support agent (or a public reply when
the shop's `[[helpdesks]]` table says `public = true`), or opens a ticket for it when the
customer has none open and the table says `open_ticket = true`.

Endpoints (Zendesk Support API v2, API token as HTTP Basic `{email}/token:{token}`):

    GET  /api/v2/users/search?query=email:ADDR      the requester, by address
    GET  /api/v2/users/{id}/tickets/requested       their tickets, sort_by=updated_at desc
                                                    (with `since`, further pages while they
                                                    were updated since)
    GET  /api/v2/tickets/{id}/comments              sort_order=desc (with `since`, only of the
                                                    tickets updated since)
    GET  /api/v2/tickets?external_id=ID             the tickets opened for the document, their
                      &include=users                requesters side-loaded (with `since` and
                                                    `open_ticket`)
    POST /api/v2/uploads?filename=NAME              the PDF, raw bytes → an upload token
    PUT  /api/v2/tickets/{id}                       the note, carrying the token
    POST /api/v2/tickets                            a new ticket, the note its first comment,
                                                    `external_id` quittance:SHOP:NUMBER
    GET  /api/v2/users/me                           who the credentials sign in as (doctor)

Why these: the requester's ticket list is read from the tickets themselves, not from the search
index, which "can take up to a few minutes" to include new records (Zendesk's Search API
reference): `type:ticket requester:…` would miss a ticket opened a moment ago, or still list one
just solved as open. The user search has no
unindexed equivalent by address; only a user created in the last minutes can be missed, and
then a new ticket (`open_ticket`) is opened for the existing user, Zendesk matching the
requester by address. Statuses new, open, pending and hold are open; solved and closed are not.
One page of 100 tickets, most recently updated first, is read: an open one is near the top
(with `since`, the next pages too while the last one read was updated since, up to the 100
pages Zendesk serves by offset).

An upload token lives 60 minutes (Zendesk's documented lifetime), so the upload and the update
that consumes it are made in the same run; a token refused on the update (expired, used) is a
transient failure, and the next run uploads again. So is a ticket closed between our read and
our update (422 "closed prevents ticket update"): the next run picks another, and so is a 409,
Zendesk's answer to colliding updates of a ticket and to concurrent creations of a user. A
ticket deleted meanwhile (404) and any other refusal are permanent.

Looking first (`Handover.since`, the job's creation less `CLOCK_MARGIN`, and
`Handover.known`): every run of a job first reads the comments of each of the customer's
tickets updated at or after `since`. Writing a note bumps a ticket's `updated_at`, so the
ticket an earlier run wrote to is among them whatever happened since (solved, pushed down by
newer tickets); a typical first run, whose customer has not written in the last minutes,
reads no comments at all. A comment created at or after `since`, carrying an attachment named
like the PDF and mentioning the document's number, whose id (`<ticket>/<audit>`, as `Sent`
gives it) is not in `known`, is an earlier run's, and is reported `Sent(already=True)`
instead of being written twice. A note whose id is known is another delivery's (the original,
when the job is `quittance resend`), so the resend writes a new one even within the same
minute. `since` carries the margin for Zendesk's clock already (its whole-second stamps
included): no slack is added here. With `open_ticket`, the run also lists the tickets whose
`external_id` is ours for the document, `quittance:<shop>:<number>` (two installs sharing a
Zendesk, or another app's ids, do not collide), their requesters side-loaded: the list reads
the tickets, not the search index, so a requester the user search does not find yet does not
hide them. One created at or after `since` whose requester is our customer (by id, or by
address) and carrying our note is the earlier run's ticket (a creation that timed out after
Zendesk took it), not opened twice.

Answers are read defensively: one without the ids or fields we go on with (a user without its
id, a ticket list that is no list) is a transient "answered something unexpected", never a
KeyError. Messages never quote the token, nor the Basic credentials a proxy echoing the
Authorization header would show, even cut short by the 300 characters quoted.

`check_zendesk` is the doctor's look at the helpdesk: who the credentials sign in as. Zendesk
answers `users/me` even to a request it could not authenticate (the endpoint is "Allowed For:
Anonymous users"): bad credentials get a 401, or a 200 with the anonymous user, whose id is
null. Both are refused credentials, and so is an end user, who cannot add a note.

Every request goes through `bridge.delivery.http_answers.call`. The reads before the lease
check retry a short 429 in-process; the two writes after it (upload, update) make one attempt
each, so the hand-over fits `HelpdeskConfig.send_budget_seconds` (the lease was renewed for
that), and a 429, timeout or 5xx there goes back to the job queue with Zendesk's Retry-After.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from bridge.config.channels import HelpdeskConfig
from bridge.delivery.channel import Handover, NothingToDo, Outcome, Sent
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.helpdesk.wording import note_text, subject_text
from bridge.delivery.http_answers import ServiceRules, body_text, call, secrets_of
from bridge.delivery.secrets import reveal
from bridge.handover import check_before_handover

SERVICE = "Zendesk"
API = "/api/v2"
OPEN_STATUSES = frozenset({"new", "open", "pending", "hold"})
PAGE_SIZE = 100  # Zendesk's largest page
# Offset pagination answers 400 beyond the first 100 pages (10,000 records).
MOST_PAGES = 100
# What marks a ticket we open, before the shop and the document's number.
EXTERNAL_ID_PREFIX = "quittance"
# 409: colliding updates of one ticket, concurrent creations of one user; the next run looks
# first, then writes again.
TRY_AGAIN = frozenset({409})
SHORTEST_MASKED_TAIL = 4  # the start of a secret left at the end of a cut text is masked


def add_to_zendesk(
    cfg: HelpdeskConfig, doc: Handover, *, sleep: Callable[[float], None] = time.sleep
) -> Outcome:
    """Add `doc` to its customer's most recent open ticket (or a new one, `open_ticket`)."""
    email = doc.customer_email.strip()
    if not email:
        return NothingToDo(f"no customer address on {doc.number}: no Zendesk ticket to find")
    with _session(cfg) as session:
        client = _Client(cfg, _rules(cfg, cfg.shop or doc.shop), session, sleep)
        return _hand_over(client, doc, email)


def check_zendesk(cfg: HelpdeskConfig, *, sleep: Callable[[float], None] = time.sleep) -> str:
    """Who the credentials sign in as (the doctor's check; nothing is written): "signed in as
    agent@boutique.fr (agent)". Refused credentials, the anonymous user or an end user are
    permanent; an unreachable or failing Zendesk is transient."""
    rules = _rules(cfg, cfg.shop)
    what = "check the credentials"
    with _session(cfg) as session:
        found = _Client(cfg, rules, session, sleep).read(what, "/users/me", {})
    user = found.get("user")
    if not isinstance(user, dict):
        raise _unexpected(what, "no user")
    if user.get("id") is None:
        raise PermanentDeliveryError(
            f"{SERVICE}: {what}: signed in as the anonymous user, credentials "
            f"refused, check {rules.credentials}"
        )
    who = f"{user.get('email') or user.get('name') or user.get('id')} ({user.get('role') or '?'})"
    if user.get("role") == "end-user":
        raise PermanentDeliveryError(
            f"{SERVICE}: {what}: signed in as {who}, who cannot add notes to "
            f"tickets: credentials refused, check {rules.credentials} (an agent's or an admin's)"
        )
    return f"signed in as {who}"


# -- the flow -------------------------------------------------------------------------------


def _hand_over(client: _Client, doc: Handover, email: str) -> Outcome:
    user_id = _find_user(client, email)
    since = _utc(doc.since) if doc.since is not None else None
    tickets = _requested_tickets(client, user_id, since) if user_id is not None else []
    ticket = _most_recent_open(tickets)
    if since is not None:
        looked_at = _updated_since(ticket, tickets, since)
        if client.cfg.open_ticket:
            opened = _opened_for(client, doc, since, user_id, email)
            looked_at += [i for i in opened if i not in looked_at]
        earlier = _earlier_note(client, doc, since, looked_at)
        if earlier is not None:
            return earlier
    if ticket is not None:
        return _add_note(client, doc, _id(ticket, "list the customer's tickets"))
    if not client.cfg.open_ticket:
        return NothingToDo(
            f"no open Zendesk ticket for {email}: nothing to add {doc.number} to "
            "(set open_ticket = true in its [[helpdesks]] table to open one)"
        )
    return _open_ticket(client, doc)


def _find_user(client: _Client, email: str) -> int | None:
    """The id of the user whose primary address is `email` (the search also matches parts of
    it), None when the search does not list them."""
    what = "look up the customer"
    found = client.read(what, "/users/search", {"query": f"email:{email}"})
    wanted = email.lower()
    users = _records(found, "users", what)
    user = next((u for u in users if str(u.get("email") or "").lower() == wanted), None)
    return _id(user, what) if user is not None else None


def _requested_tickets(
    client: _Client, user_id: int, since: datetime | None
) -> list[dict[str, Any]]:
    """The user's tickets, most recently updated first: the first page, and with `since` the
    next ones while the last page read ends with a ticket updated since (every ticket an
    earlier run may have written to is then read)."""
    what = "list the customer's tickets"
    params: dict[str, Any] = {"sort_by": "updated_at", "sort_order": "desc", "per_page": PAGE_SIZE}
    tickets: list[dict[str, Any]] = []
    for page in range(1, MOST_PAGES + 1):
        paged = params if page == 1 else {**params, "page": page}
        found = client.read(what, f"/users/{user_id}/tickets/requested", paged)
        batch = _records(found, "tickets", what)
        for ticket in batch:
            _id(ticket, what)
        tickets.extend(batch)
        if since is None or not batch or not found.get("next_page"):
            break
        if min(_when(ticket, "updated_at", what) for ticket in batch) < since:
            break
    # Sorted here too: the order is what picks the ticket, so it must not hinge on a parameter.
    return sorted(tickets, key=lambda t: str(t.get("updated_at") or ""), reverse=True)


def _most_recent_open(tickets: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((t for t in tickets if t.get("status") in OPEN_STATUSES), None)


def _updated_since(
    ticket: dict[str, Any] | None, tickets: list[dict[str, Any]], since: datetime
) -> list[int]:
    """The tickets an earlier run may have written to: every one updated at or after `since`
    (writing a note bumps `updated_at`), the one we would write to now first."""
    what = "list the customer's tickets"
    recent = [t for t in tickets if _when(t, "updated_at", what) >= since]
    if ticket is not None and ticket in recent:
        recent.remove(ticket)
        recent.insert(0, ticket)
    return [_id(t, what) for t in recent]


def _external_id(doc: Handover) -> str:
    """The `external_id` of a ticket we open for `doc`: the document's number alone is not
    ours (another install sharing the Zendesk, another app, may use the same)."""
    return f"{EXTERNAL_ID_PREFIX}:{doc.shop}:{doc.number}"


def _opened_for(
    client: _Client, doc: Handover, since: datetime, user_id: int | None, email: str
) -> list[int]:
    """The tickets opened for `doc` (our `external_id`) at or after `since`, requested by our
    customer: the user found (`user_id`), or, the search not finding them yet, by address."""
    what = f"look for a ticket opened for {doc.number}"
    wanted = _external_id(doc)
    params = {"external_id": wanted, "include": "users", "per_page": PAGE_SIZE}
    found = client.read(what, "/tickets", params)
    users = found.get("users")
    addresses = {
        user.get("id"): str(user.get("email") or "").lower()
        for user in (users if isinstance(users, list) else [])
        if isinstance(user, dict)
    }
    ours = []
    for ticket in _records(found, "tickets", what):
        # External ids are not unique in Zendesk: only ours, only this job's, only theirs.
        if ticket.get("external_id") != wanted or _when(ticket, "created_at", what) < since:
            continue
        requester = ticket.get("requester_id")
        if requester is None:
            continue
        if requester == user_id or addresses.get(requester) == email.lower():
            ours.append(_id(ticket, what))
    return ours


def _earlier_note(
    client: _Client, doc: Handover, since: datetime, ticket_ids: Iterable[int]
) -> Sent | None:
    """An earlier run's note for `doc` on one of `ticket_ids`, written at or after `since`,
    whose id is none of `doc.known` (the document's other deliveries)."""
    for ticket_id in ticket_ids:
        what = f"read the comments of ticket #{ticket_id}"
        params = {"sort_order": "desc", "per_page": PAGE_SIZE}
        found = client.read(what, f"/tickets/{ticket_id}/comments", params)
        comments = _records(found, "comments", what)
        for place, comment in enumerate(comments):
            if not _carries(comment, doc) or _when(comment, "created_at", what) < since:
                continue
            reference = comment.get("audit_id") or comment.get("id")
            external_id = f"{ticket_id}/{reference}" if reference else str(ticket_id)
            if external_id in doc.known:
                continue
            # Newest first: the last of a single page is the ticket's first comment, which
            # is ours only on a ticket we opened.
            first = place == len(comments) - 1 and not found.get("next_page")
            kind = "public reply" if comment.get("public") else "internal note"
            detail = "new ticket" if first else kind
            return Sent(external_id, _target(ticket_id), detail, already=True)
    return None


def _carries(comment: dict[str, Any], doc: Handover) -> bool:
    """A comment that is ours for `doc`: the PDF attached and the number in its text."""
    text = " ".join(str(comment.get(key) or "") for key in ("body", "plain_body"))
    return doc.number in text and _has_file(comment, doc.filename)


def _has_file(comment: dict[str, Any], filename: str) -> bool:
    attachments = comment.get("attachments")
    if not isinstance(attachments, list):
        return False
    return any(a.get("file_name") == filename for a in attachments if isinstance(a, dict))


def _add_note(client: _Client, doc: Handover, ticket_id: int) -> Sent:
    public = client.cfg.public
    check_before_handover()
    token = _upload(client, doc)
    comment = {"body": note_text(doc, public=public), "public": public, "uploads": [token]}
    answer = client.write_comment(
        f"add {doc.number} to ticket #{ticket_id}",
        "PUT",
        f"/tickets/{ticket_id}",
        {"ticket": {"comment": comment}},
        token,
    )
    detail = "public reply" if public else "internal note"
    return _sent(answer, ticket_id, detail, doc)


def _open_ticket(client: _Client, doc: Handover) -> Sent:
    public = client.cfg.public
    check_before_handover()
    token = _upload(client, doc)
    ticket = {
        "subject": subject_text(doc),
        "requester": {"email": doc.customer_email.strip(), "name": _name(doc)},
        "comment": {"body": note_text(doc, public=public), "public": public, "uploads": [token]},
        # What the next run of this job lists to find it, should this run not learn the id.
        "external_id": _external_id(doc),
    }
    what = f"open a ticket for {doc.number}"
    answer = client.write_comment(what, "POST", "/tickets", {"ticket": ticket}, token)
    return _sent(answer, _id(answer.get("ticket"), what), "new ticket", doc)


def _name(doc: Handover) -> str:
    # Zendesk requires a requester name with an address it does not know yet.
    return doc.customer_name.strip() or doc.customer_email.strip().partition("@")[0]


def _upload(client: _Client, doc: Handover) -> str:
    what = f"upload {doc.filename}"
    answer = client.upload(what, doc.filename, doc.pdf)
    upload = answer.get("upload")
    token = upload.get("token") if isinstance(upload, dict) else None
    if not token or not isinstance(token, str):
        raise _unexpected(what, "no upload token")
    return token


def _sent(answer: dict[str, Any], ticket_id: int, detail: str, doc: Handover) -> Sent:
    audit = answer.get("audit")
    audit = audit if isinstance(audit, dict) else {}
    events = audit.get("events")
    events = [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
    comment = next((e for e in events if e.get("type") == "Comment"), None)
    if comment is not None and "attachments" in comment and not _has_file(comment, doc.filename):
        # Written without the PDF (a stale token let through): the next run finds no note
        # of ours with the PDF, so it uploads again and adds the note that carries it.
        raise TransientDeliveryError(
            f"{SERVICE}: ticket #{ticket_id} took the note for {doc.number} without its PDF "
            "(upload token expired?); the next attempt adds it again"
        )
    reference = audit.get("id") or (comment or {}).get("id")
    if not reference:
        # Written, but unnamed: a bare ticket id would never match what the next look
        # compares, so another delivery could take this note for its own. The next run
        # reads the note back and records it by its full id.
        raise _unexpected("add the note", f"ticket #{ticket_id} answered without an audit id")
    return Sent(f"{ticket_id}/{reference}", _target(ticket_id), detail)


def _target(ticket_id: int) -> str:
    return f"zendesk ticket #{ticket_id}"


# -- reading Zendesk's answers --------------------------------------------------------------


def _unexpected(what: str, why: str) -> TransientDeliveryError:
    return TransientDeliveryError(
        f"{SERVICE}: {what}: answered something unexpected ({why}); the next attempt asks again"
    )


def _records(found: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    """The list of objects under `key` in an answer."""
    records = found.get(key)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _unexpected(what, f"no list of {key}")
    return records


def _id(record: Any, what: str) -> int:
    """A user's, ticket's… id, as Zendesk writes it: a positive integer."""
    value = record.get("id") if isinstance(record, dict) else None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _unexpected(what, "a record without its id")
    return value


def _when(record: dict[str, Any], key: str, what: str) -> datetime:
    """When a ticket or comment was created or updated (`key`; Zendesk writes ISO 8601 UTC)."""
    value = record.get(key)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise _unexpected(what, f"a record without its {key}")
    return _utc(moment)


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC (a naive one taken as UTC already)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- HTTP -----------------------------------------------------------------------------------


def _session(cfg: HelpdeskConfig) -> requests.Session:
    session = requests.Session()
    session.auth = (f"{cfg.email}/token", reveal(cfg.token))
    return session


def _rules(cfg: HelpdeskConfig, shop: str) -> ServiceRules:
    rules = ServiceRules(
        service=SERVICE,
        credentials=f"[[helpdesks]] email and token of shop {shop} (zendesk)",
        transient=TRY_AGAIN,
    )
    return _with_secrets(rules, secrets_of([cfg.token, _basic_credentials(cfg)]))


def _basic_credentials(cfg: HelpdeskConfig) -> str:
    """What the Authorization header carries after "Basic ", as requests encodes it: what a
    proxy echoing the request's headers would quote."""
    pair = f"{cfg.email}/token:{reveal(cfg.token)}".encode("latin-1", errors="replace")
    return base64.b64encode(pair).decode("ascii")


def _with_secrets(rules: ServiceRules, secrets: tuple[str, ...]) -> ServiceRules:
    """`rules` masking `secrets`, even a secret cut short at the end of the quoted text."""

    def detail(response: requests.Response) -> str:
        return _masked(zendesk_error(response), secrets)

    return dataclasses.replace(rules, detail=detail, secrets=secrets)


def _masked(text: str, secrets: Iterable[str]) -> str:
    kept = [secret for secret in secrets if secret]
    for secret in kept:
        text = text.replace(secret, "***")
    # The quote stops at 300 characters: a secret straddling that limit leaves its start.
    for secret in kept:
        for size in range(len(secret) - 1, SHORTEST_MASKED_TAIL - 1, -1):
            if text.endswith(secret[:size]):
                return f"{text[:-size]}***"
    return text


@dataclass(frozen=True)
class _Client:
    cfg: HelpdeskConfig
    rules: ServiceRules
    session: requests.Session
    sleep: Callable[[float], None]

    def _url(self, path: str) -> str:
        return f"{self.cfg.base_url}{API}{path}"

    def read(self, what: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """A GET, a short 429 retried in-process (nothing is handed over yet)."""
        url, timeout = self._url(path), self.cfg.timeout_seconds
        answer = call(
            self.rules,
            what,
            lambda: self.session.get(url, params=params, timeout=timeout),
            sleep=self.sleep,
        )
        return _object(answer, what)

    def upload(self, what: str, filename: str, content: bytes) -> dict[str, Any]:
        url, timeout = self._url("/uploads"), self.cfg.timeout_seconds
        headers = {"Content-Type": "application/pdf"}

        def send() -> requests.Response:
            return self.session.post(
                url, params={"filename": filename}, data=content, headers=headers, timeout=timeout
            )

        return self._write(what, send, self.rules)

    def write_comment(
        self, what: str, method: str, path: str, body: dict[str, Any], token: str
    ) -> dict[str, Any]:
        """The update (or creation) carrying the upload `token`; a refused token is transient."""
        url, timeout = self._url(path), self.cfg.timeout_seconds
        # The upload token is not a credential, but it opens the PDF until it is used.
        rules = _with_secrets(self.rules, (*self.rules.secrets, token))

        def send() -> requests.Response:
            response = self.session.request(method, url, json=body, timeout=timeout)
            if response.status_code == 422:
                _refuse_transiently(response, what, rules)
            return response

        return self._write(what, send, rules)

    def _write(
        self, what: str, send: Callable[[], requests.Response], rules: ServiceRules
    ) -> dict[str, Any]:
        # One attempt: the hand-over must fit the budget the lease was renewed for.
        answer = call(rules, what, send, attempts=1, sleep=self.sleep)
        return _object(answer, what)


def _object(answer: Any, what: str) -> dict[str, Any]:
    """A 2xx answer's JSON object ({} for an empty answer, which each reader then finds
    lacking what it needs)."""
    if not isinstance(answer, dict):
        raise _unexpected(what, "not a JSON object")
    return answer


def _refuse_transiently(response: requests.Response, what: str, rules: ServiceRules) -> None:
    """Raise the transient error a 422 of the update means when the next run can succeed:
    the upload token refused (expired after its 60 minutes, used already), so it uploads
    again; or the ticket closed since we read it, so it picks another. Any other 422 (a
    field the account requires…) is left to `call`, which makes it permanent."""
    said = rules.detail(response)
    text = said.lower()
    if any(word in text for word in ("upload", "token", "attachment")):
        why = "the upload was refused, the next attempt uploads again"
    elif "closed" in text:
        why = "the ticket was closed meanwhile, the next attempt looks for another"
    else:
        return
    raise TransientDeliveryError(f"{SERVICE}: {what} → HTTP 422: {why} ({said})")


def zendesk_error(response: requests.Response) -> str:
    """Zendesk's error in a line: `error`, `description`, then each field's `details`
    ("RecordInvalid: Record validation errors (status: Status: closed prevents ticket
    update)"); the raw text when the answer is not JSON (its rate limiter answers in text)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return body_text(response)
    error, description = body.get("error"), body.get("description")
    if isinstance(error, dict):  # some endpoints nest it: {"error": {"title", "message"}}
        error, description = error.get("title"), description or error.get("message")
    description = description or body.get("error_description")
    text = ": ".join(str(part) for part in (error, description) if part)
    details = _details(body.get("details"))
    if details:
        text = f"{text} ({details})" if text else details
    return " ".join(text.split())[:300] or response.reason or ""


def _details(details: Any) -> str:
    if not isinstance(details, dict):
        return ""
    parts = []
    for field, problems in details.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            said = problem.get("description") if isinstance(problem, dict) else problem
            if said:
                parts.append(f"{field}: {said}")
    return "; ".join(parts)
