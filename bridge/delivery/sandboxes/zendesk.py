"""A local Zendesk Support for tests and demos: a real HTTP server speaking the subset of the
Support API the Zendesk channel uses, with Zendesk's own JSON shapes and error answers.

    with ZendeskSandbox(email="agent@boutique.fr", token="…") as zd:
        zd.url                                   # "http://127.0.0.1:PORT" (the helpdesk URL)
        marie = zd.add_user("marie@example.fr", "Marie Dupont")
        ticket = zd.add_ticket("marie@example.fr", status="open", updated_ago=timedelta(hours=2))
        zd.add_ticket("paul@example.com", external_id="FA-2026-000042")  # another app's ticket
        zd.add_comment(ticket, "Voici ma facture", files={"FA-….pdf": data})  # the customer
        zd.set_status(ticket, "solved") / zd.delete_ticket(ticket)             # agents' doings
        zd.comments(ticket)                      # what was written, attachments included
        zd.attachment_bytes(attachment_id)       # the uploaded file, byte for byte
        zd.expire_uploads()                      # every token issued so far is now stale
        zd.upload_lifetime = timedelta(0)        # tokens issued from now on expire at once
        zd.stale_uploads_ignored = True          # a stale token dropped, the comment kept
        zd.fail_next(1, 429, retry_after=2)      # throttled, as Zendesk answers it
        zd.fail_next(1, 409)                     # a collision ("DatabaseConflict")
        zd.answer_next({"users": [{}]}, path="/users/search")  # an odd answer, once
        zd.echo_headers_next(502)                # a proxy's error page quoting our headers
        zd.search_lag = True                     # users the API creates are not searchable
        zd.index_users()                         # … until the index catches up
        zd.set_role(zd.agent_id, "end-user")     # the token's user demoted
        zd.anonymous_me = True                   # users/me answers bad credentials anonymously

Endpoints (under /api/v2):

    GET  users/me                                    {"user": the signed-in user, with its
                                                     authenticity_token}
    GET  users/search?query=email:ADDR               {"users": [...], "count", "next_page"}
    GET  users/{id}/tickets/requested                sort_by (updated_at, created_at, id,
                                                     status), sort_order (asc default),
                                                     per_page ≤ 100, page
    GET  tickets/{id}/comments                       sort_order (asc default), per_page, page
    GET  tickets?external_id=ID                      {"tickets": [...]}, every ticket whose
                                                     external_id is ID (all without it);
                                                     sort_by, sort_order, per_page, page;
                                                     include=users side-loads {"users": the
                                                     page's requesters and submitters}
    POST uploads?filename=NAME  (raw bytes)          201 {"upload": {"token", "expires_at",
                                                     "attachment", "attachments"}}
    POST tickets                                     201 {"ticket", "audit"} (requester by
                                                     email/name, created when unknown;
                                                     external_id kept as given)
    PUT  tickets/{id}                                200 {"ticket", "audit": {"id", "events"}}

Authentication is an API token, HTTP Basic `{email}/token:{token}`; anything else is 401
`{"error": "Couldn't authenticate you"}`, except on users/me, which Zendesk allows to anonymous
users: with `anonymous_me` it answers such a request 200 with the anonymous user (id null, role
end-user), as clients report Zendesk doing for credentials it did not take. An unknown record
is 404 `RecordNotFound`; a comment naming a token that is unknown, expired or already used is
422 `RecordInvalid` (our reading: Zendesk documents that tokens live 60 minutes, not the words
of its refusal), as is an update of a closed ticket. A 429 is text, as Zendesk's rate limiter
answers, with Retry-After; a 409 is `{"error": "DatabaseConflict", "description": "Database
collision"}`, as Zendesk answers colliding writes.

Zendesk's user search reads an index that "can take up to a few minutes" to include new
records: with `search_lag`, a requester created by `POST tickets` is left out of users/search
until `index_users()`, while the ticket lists (requested, by external_id) show its tickets at
once, as Zendesk's do.

Times (`updated_at`, `created_at`, `expires_at`) come from the sandbox's clock, the real one
unless `now` is given: ISO 8601 UTC, whole seconds, as Zendesk writes them.
"""

from __future__ import annotations

import base64
import copy
import html
import itertools
import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from connectors.sandbox_server import Reply, Request, SandboxServer

API = "/api/v2"
ROLES = ("end-user", "agent", "admin")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
UPLOAD_LIFETIME = timedelta(minutes=60)  # what Zendesk documents for an upload token
_TICKET = re.compile(rf"^{API}/tickets/(\d+)(?:\.json)?$")
_COMMENTS = re.compile(rf"^{API}/tickets/(\d+)/comments(?:\.json)?$")
_REQUESTED = re.compile(rf"^{API}/users/(\d+)/tickets/requested(?:\.json)?$")
_SORTABLE = ("updated_at", "created_at", "id", "status")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, error: str, description: str = "", details: Any = None) -> Reply:
    body: dict[str, Any] = {"error": error}
    if description:
        body["description"] = description
    if details:
        body["details"] = details
    return status, body, {}


def _not_found() -> Reply:
    return _error(404, "RecordNotFound", "Not found")


def _invalid(field: str, description: str) -> Reply:
    details = {field: [{"description": description}]}
    return _error(422, "RecordInvalid", "Record validation errors", details)


class ZendeskSandbox(SandboxServer):
    methods = ("GET", "POST", "PUT")

    def __init__(
        self,
        *,
        email: str = "agent@example.com",
        token: str = "sandbox-api-token",
        subdomain: str = "boutique",
        host: str = "127.0.0.1",
        port: int = 0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.agent_email = email
        self.api_token = token
        self.subdomain = subdomain  # only in the URLs the JSON carries, as Zendesk's do
        self.upload_lifetime = UPLOAD_LIFETIME
        # True: a stale token is skipped and the comment written without its file, instead
        # of the 422 (the answer the client guards against, not one Zendesk documents).
        self.stale_uploads_ignored = False
        # True: users/me answers a request it cannot authenticate with the anonymous user
        # (200, id null) instead of the 401 every other endpoint gives.
        self.anonymous_me = False
        # True: users the API creates stay out of users/search until `index_users()`.
        self.search_lag = False
        self._unindexed: set[int] = set()
        self._answers: list[tuple[str, int, Any]] = []  # (path part, status, body), in order
        self._echoes: list[tuple[int, str]] = []  # (status, text before the headers)
        self._now = now or (lambda: datetime.now(UTC))
        self._ids = itertools.count(1001)
        self.users: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self._comments: dict[int, list[dict[str, Any]]] = {}
        self._uploads: dict[str, dict[str, Any]] = {}  # token → attachments, expiry, used
        self._files: dict[int, bytes] = {}  # attachment id → the bytes uploaded
        self.agent_id = self._new_user(email, "Agent", role="agent")["id"]

    # -- seeding and reading back -----------------------------------------------------------

    def add_user(self, email: str, name: str = "") -> int:
        """An end user; the existing one when the address is known already."""
        with self.lock:
            user = self._user_by_email(email) or self._new_user(email, name or email)
            return int(user["id"])

    def add_ticket(
        self,
        email: str,
        *,
        status: str = "open",
        subject: str = "Ma commande",
        updated_ago: timedelta = timedelta(0),
        external_id: str | None = None,
    ) -> int:
        """A ticket requested by `email` (a user is created if needed), last updated
        `updated_ago` before now, with the customer's first message as its first comment
        (and `external_id`, as another app linking it to its own records would set it)."""
        if status not in STATUSES:
            raise ValueError(f"Zendesk has no ticket status {status!r}")
        with self.lock:
            requester = self.add_user(email)
            when = self._now() - updated_ago
            ticket = self._new_ticket(requester, subject, status, when, external_id=external_id)
            self._add_comment(ticket, requester, "Bonjour, où en est ma commande ?", True, [], when)
            return int(ticket["id"])

    def add_comment(
        self,
        ticket_id: int,
        body: str,
        *,
        public: bool = True,
        files: dict[str, bytes] | None = None,
    ) -> int:
        """A comment from the ticket's requester (their own attachments in `files`, name →
        bytes), as if they had written in; returns the comment's id."""
        with self.lock:
            ticket = self.tickets[ticket_id]
            attachments = [
                self._store_file(name, data, "application/pdf", secrets.token_hex(8))
                for name, data in (files or {}).items()
            ]
            now = self._now()
            comment = self._add_comment(
                ticket, ticket["requester_id"], body, public, attachments, now
            )
            ticket["updated_at"] = _stamp(now)
            return int(comment["id"])

    def set_status(self, ticket_id: int, status: str) -> None:
        """As an agent would: the ticket's status changes and its updated_at moves."""
        if status not in STATUSES:
            raise ValueError(f"Zendesk has no ticket status {status!r}")
        with self.lock:
            self.tickets[ticket_id]["status"] = status
            self.tickets[ticket_id]["updated_at"] = _stamp(self._now())

    def set_role(self, user_id: int, role: str) -> None:
        """As an admin would: the user becomes an end-user, agent or admin."""
        if role not in ROLES:
            raise ValueError(f"Zendesk has no user role {role!r}")
        with self.lock:
            self.users[user_id]["role"] = role

    def delete_ticket(self, ticket_id: int) -> None:
        with self.lock:
            del self.tickets[ticket_id]
            del self._comments[ticket_id]

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's comments, oldest first, as the API lists them."""
        with self.lock:
            return copy.deepcopy(self._comments.get(ticket_id, []))

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.tickets[ticket_id])

    def tickets_of(self, email: str) -> list[int]:
        with self.lock:
            user = self._user_by_email(email)
            if user is None:
                return []
            return [t["id"] for t in self.tickets.values() if t["requester_id"] == user["id"]]

    def attachment_bytes(self, attachment_id: int) -> bytes:
        with self.lock:
            return self._files[attachment_id]

    def uploads(self) -> list[dict[str, Any]]:
        """Every upload received, with its file name, content type, size and whether a
        comment used it."""
        with self.lock:
            return [
                {**copy.deepcopy(u["attachments"][0]), "used": u["used"], "token": token}
                for token, u in self._uploads.items()
            ]

    def index_users(self) -> None:
        """The search index catches up: every user is found by users/search."""
        with self.lock:
            self._unindexed.clear()

    def answer_next(self, body: Any, *, status: int = 200, path: str = "") -> None:
        """The next authenticated request (on a path containing `path`) gets `body` with
        `status` instead of the sandbox's answer: an odd answer, as a changed API or a
        middlebox may give."""
        with self.lock:
            self._answers.append((path, status, body))

    def echo_headers_next(self, status: int = 502, *, lead: str = "") -> None:
        """The next request is answered `status` with a text page quoting `lead` then the
        request's headers, Authorization included, as a misconfigured proxy's error page may
        (before any authentication, as a proxy stands in front)."""
        with self.lock:
            self._echoes.append((status, lead))

    def expire_uploads(self) -> None:
        """Every token issued so far is past its 60 minutes."""
        with self.lock:
            for upload in self._uploads.values():
                upload["expires_at"] = self._now() - timedelta(seconds=1)

    # -- HTTP -------------------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        if status == 429:
            # Zendesk's rate limiter answers in text, not JSON (its rate-limiting guide).
            return b"Rate limit for ticket updates exceeded, please wait before updating again"
        if status == 404:
            return {"error": "RecordNotFound", "description": "Not found"}
        if status == 409:
            return {"error": "DatabaseConflict", "description": "Database collision"}
        return {"error": HTTPStatus(status).phrase, "description": "Injected by the sandbox"}

    def serve(self, request: Request) -> Reply:
        with self.lock:
            echo = self._echoes.pop(0) if self._echoes else None
            if echo is not None:
                self.requests.append((request.method, request.path, request.query))
        if echo is not None:
            return _echo(request, *echo)
        status, body, headers = super().serve(request)
        if isinstance(body, bytes) and "Content-Type" not in headers:
            headers = {**headers, "Content-Type": "text/html; charset=utf-8"}
        return status, body, headers

    def route(self, request: Request) -> Reply:
        me = request.method == "GET" and request.path.removesuffix(".json") == f"{API}/users/me"
        if not self._authenticated(request):
            if me and self.anonymous_me:
                return 200, {"user": self._anonymous()}, {}
            return 401, {"error": "Couldn't authenticate you"}, {}
        with self.lock:
            answer = next((a for a in self._answers if a[0] in request.path), None)
            if answer is not None:
                self._answers.remove(answer)
                return answer[1], copy.deepcopy(answer[2]), {}
            if me:
                user = copy.deepcopy(self.users[self.agent_id])
                return 200, {"user": {**user, "authenticity_token": secrets.token_hex(16)}}, {}
            return self._dispatch(request)

    def _anonymous(self) -> dict[str, Any]:
        return {
            "id": None,
            "url": None,
            "name": "Anonymous user",
            "email": "invalid@example.com",
            "role": "end-user",
            "active": True,
            "created_at": None,
            "updated_at": None,
            "authenticity_token": secrets.token_hex(16),
        }

    def _dispatch(self, request: Request) -> Reply:
        path, method = request.path, request.method
        if method == "GET" and path.removesuffix(".json") == f"{API}/users/search":
            return self._search_users(request)
        if method == "GET" and (match := _REQUESTED.match(path)):
            return self._requested(int(match[1]), request)
        if method == "GET" and (match := _COMMENTS.match(path)):
            return self._list_comments(int(match[1]), request)
        if method == "POST" and path.removesuffix(".json") == f"{API}/uploads":
            return self._upload(request)
        if method == "GET" and path.removesuffix(".json") == f"{API}/tickets":
            return self._list_tickets(request)
        if method == "POST" and path.removesuffix(".json") == f"{API}/tickets":
            return self._create_ticket(request)
        if method == "PUT" and (match := _TICKET.match(path)):
            return self._update_ticket(int(match[1]), request)
        if method == "GET" and (match := _TICKET.match(path)):
            ticket = self.tickets.get(int(match[1]))
            return (200, {"ticket": copy.deepcopy(ticket)}, {}) if ticket else _not_found()
        return _error(404, "InvalidEndpoint", "Not found")

    def _authenticated(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return decoded == f"{self.agent_email}/token:{self.api_token}"

    # -- users and tickets ------------------------------------------------------------------

    def _search_users(self, request: Request) -> Reply:
        # "A partial or full value of any user property" (Zendesk's words): a term matches
        # part of an address, so email:marie@example.fr finds anne-marie@example.fr too.
        query = request.query.get("query", "").strip()
        field, _, term = query.partition(":")
        if field.lower() == "email" and term:
            wanted = term.strip('"').lower()
            found = [u for u in self._indexed() if wanted in u["email"].lower()]
        else:
            wanted = query.lower()
            found = [
                u
                for u in self._indexed()
                if wanted in u["email"].lower() or wanted in u["name"].lower()
            ]
        return 200, self._page("users", found, request), {}

    def _indexed(self) -> list[dict[str, Any]]:
        return [u for u in self.users.values() if u["id"] not in self._unindexed]

    def _requested(self, user_id: int, request: Request) -> Reply:
        if user_id not in self.users:
            return _not_found()
        tickets = [t for t in self.tickets.values() if t["requester_id"] == user_id]
        sort_by = request.query.get("sort_by", "id")
        if sort_by not in _SORTABLE:
            sort_by = "id"
        descending = request.query.get("sort_order", "asc") == "desc"
        tickets.sort(key=lambda t: (t[sort_by], t["id"]), reverse=descending)
        return 200, self._page("tickets", tickets, request), {}

    def _list_tickets(self, request: Request) -> Reply:
        # "External ids don't have to be unique for each ticket" (Zendesk's List Tickets).
        tickets = list(self.tickets.values())
        if "external_id" in request.query:
            wanted = request.query["external_id"]
            tickets = [t for t in tickets if t["external_id"] == wanted]
        sort_by = request.query.get("sort_by", "id")
        if sort_by not in _SORTABLE:
            sort_by = "id"
        descending = request.query.get("sort_order", "asc") == "desc"
        tickets.sort(key=lambda t: (t[sort_by], t["id"]), reverse=descending)
        body = self._page("tickets", tickets, request)
        if "users" in request.query.get("include", "").split(","):
            # Side-loading ("include=users"): the page's users, once each, beside the tickets.
            ids = {t[key] for t in body["tickets"] for key in ("requester_id", "submitter_id")}
            body["users"] = [copy.deepcopy(self.users[i]) for i in sorted(ids) if i in self.users]
        return 200, body, {}

    def _list_comments(self, ticket_id: int, request: Request) -> Reply:
        if ticket_id not in self.tickets:
            return _not_found()
        comments = list(self._comments[ticket_id])
        if request.query.get("sort_order", "asc") == "desc":
            comments.reverse()
        return 200, self._page("comments", comments, request), {}

    def _page(self, key: str, items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
        """Offset pagination as Zendesk does it: `page`, `per_page` (≤ 100), `next_page`."""
        per_page = min(max(_int(request.query.get("per_page"), 100), 1), 100)
        page = max(_int(request.query.get("page"), 1), 1)
        start = (page - 1) * per_page
        more = start + per_page < len(items)
        return {
            key: copy.deepcopy(items[start : start + per_page]),
            "count": len(items),
            "next_page": f"{self.url}{request.path}?page={page + 1}" if more else None,
            "previous_page": f"{self.url}{request.path}?page={page - 1}" if page > 1 else None,
        }

    def _create_ticket(self, request: Request) -> Reply:
        body = _json(request.body)
        if body is None or not isinstance(body.get("ticket"), dict):
            return _error(400, "InvalidValue", "Ticket must be an object")
        fields = body["ticket"]
        comment = fields.get("comment") or {}
        if not comment.get("body"):
            return _invalid("description", "Description: cannot be blank")
        requester = fields.get("requester") or {}
        if not requester.get("email") and "requester_id" not in fields:
            return _invalid("requester", "Requester: is invalid")
        attachments, refusal = self._take_uploads(comment.get("uploads") or [])
        if refusal is not None:
            return refusal
        requester_id = fields.get("requester_id")
        if not requester_id:
            known = self._user_by_email(requester["email"])
            requester_id = self.add_user(requester["email"], requester.get("name", ""))
            if known is None and self.search_lag:
                self._unindexed.add(requester_id)
        external_id = fields.get("external_id")
        now = self._now()
        subject = fields.get("subject") or comment["body"][:60]
        ticket = self._new_ticket(
            int(requester_id),
            subject,
            fields.get("status", "new"),
            now,
            external_id=None if external_id is None else str(external_id),
        )
        event = self._add_comment(
            ticket, self.agent_id, comment["body"], comment.get("public", True), attachments, now
        )
        reply = {"ticket": copy.deepcopy(ticket), "audit": self._audit(ticket, event)}
        return 201, reply, {"Location": ticket["url"]}

    def _update_ticket(self, ticket_id: int, request: Request) -> Reply:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return _not_found()
        body = _json(request.body)
        if body is None or not isinstance(body.get("ticket"), dict):
            return _error(400, "InvalidValue", "Ticket must be an object")
        if ticket["status"] == "closed":
            return _invalid("status", "Status: closed prevents ticket update")
        comment = body["ticket"].get("comment") or {}
        attachments, refusal = self._take_uploads(comment.get("uploads") or [])
        if refusal is not None:
            return refusal
        now = self._now()
        event = None
        if comment.get("body"):
            public = comment.get("public", True)
            event = self._add_comment(
                ticket, self.agent_id, comment["body"], public, attachments, now
            )
        if body["ticket"].get("status") in STATUSES:
            ticket["status"] = body["ticket"]["status"]
        ticket["updated_at"] = _stamp(now)
        return 200, {"ticket": copy.deepcopy(ticket), "audit": self._audit(ticket, event)}, {}

    # -- uploads ----------------------------------------------------------------------------

    def _upload(self, request: Request) -> Reply:
        filename = request.query.get("filename", "")
        if not filename:
            return _error(400, "InvalidValue", "filename is required")
        token = request.query.get("token") or secrets.token_hex(8)  # adds to an upload
        content_type = request.headers.get("content-type", "application/binary")
        attachment = self._store_file(filename, request.body, content_type, token)
        upload = self._uploads.setdefault(
            token,
            {"attachments": [], "expires_at": self._now() + self.upload_lifetime, "used": False},
        )
        upload["attachments"].append(attachment)
        reply = {
            "upload": {
                "token": token,
                "expires_at": _stamp(upload["expires_at"]),
                "attachment": copy.deepcopy(attachment),
                "attachments": copy.deepcopy(upload["attachments"]),
            }
        }
        return 201, reply, {"Location": f"{self.url}{API}/uploads/{token}.json"}

    def _store_file(
        self, filename: str, data: bytes, content_type: str, token: str
    ) -> dict[str, Any]:
        attachment_id = next(self._ids)
        self._files[attachment_id] = data
        return {
            "id": attachment_id,
            "file_name": filename,
            "content_type": content_type.split(";")[0].strip(),
            "content_url": f"https://{self.subdomain}.zendesk.com/attachments/token/{token}"
            f"/?name={filename}",
            "size": len(data),
            "inline": False,
            "deleted": False,
            "thumbnails": [],
            "url": f"{self.url}{API}/attachments/{attachment_id}.json",
        }

    def _take_uploads(self, tokens: list[Any]) -> tuple[list[dict[str, Any]], Reply | None]:
        """The attachments behind `tokens`, each token used up; or the 422 for a token that
        is unknown, expired or used already."""
        attachments: list[dict[str, Any]] = []
        usable = []
        for token in tokens:
            upload = self._uploads.get(str(token))
            if upload is None or upload["used"] or upload["expires_at"] <= self._now():
                if self.stale_uploads_ignored:
                    continue
                return [], _invalid("base", "Uploads: the upload token is invalid or expired")
            usable.append(upload)
            attachments.extend(upload["attachments"])
        for upload in usable:
            upload["used"] = True
        return attachments, None

    # -- records ----------------------------------------------------------------------------

    def _user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u["email"].lower() == wanted), None)

    def _new_user(self, email: str, name: str, *, role: str = "end-user") -> dict[str, Any]:
        user_id = next(self._ids)
        now = _stamp(self._now())
        user = {
            "id": user_id,
            "url": f"{self.url}{API}/users/{user_id}.json",
            "name": name,
            "email": email.strip(),
            "role": role,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        self.users[user_id] = user
        return user

    def _new_ticket(
        self,
        requester_id: int,
        subject: str,
        status: str,
        when: datetime,
        *,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        ticket_id = next(self._ids)
        ticket = {
            "id": ticket_id,
            "url": f"{self.url}{API}/tickets/{ticket_id}.json",
            "subject": subject,
            "raw_subject": subject,
            "external_id": external_id,
            "status": status,
            "requester_id": requester_id,
            "submitter_id": requester_id,
            "assignee_id": None,
            "created_at": _stamp(when),
            "updated_at": _stamp(when),
            "via": {"channel": "api"},
        }
        self.tickets[ticket_id] = ticket
        self._comments[ticket_id] = []
        return ticket

    def _add_comment(
        self,
        ticket: dict[str, Any],
        author_id: int,
        body: str,
        public: bool,
        attachments: list[dict[str, Any]],
        when: datetime,
    ) -> dict[str, Any]:
        audit_id = next(self._ids)
        comment = {
            "id": next(self._ids),
            "type": "Comment",
            "author_id": author_id,
            "body": body,
            "plain_body": body,
            "html_body": f'<div class="zd-comment"><p>{html.escape(body)}</p></div>',
            "public": bool(public),
            "attachments": copy.deepcopy(attachments),
            "audit_id": audit_id,
            "created_at": _stamp(when),
        }
        self._comments[ticket["id"]].append(comment)
        return comment

    def _audit(self, ticket: dict[str, Any], comment: dict[str, Any] | None) -> dict[str, Any]:
        events = [copy.deepcopy(comment)] if comment else []
        audit_id = comment["audit_id"] if comment else next(self._ids)
        return {
            "id": audit_id,
            "ticket_id": ticket["id"],
            "author_id": self.agent_id,
            "created_at": ticket["updated_at"],
            "events": events,
        }


def _echo(request: Request, status: int, lead: str) -> Reply:
    """A proxy's error page quoting the request's headers, Authorization first."""
    headers = sorted(request.headers.items(), key=lambda item: item[0] != "authorization")
    quoted = "\n".join(f"{name.title()}: {value}" for name, value in headers)
    page = f"{lead}{quoted}\n\n{HTTPStatus(status).phrase}"
    return status, page.encode(), {"Content-Type": "text/plain; charset=utf-8"}


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
