"""A local Intercom for tests and demos: a real HTTP server speaking the REST API's contract
for the endpoints a helpdesk note needs (version 2.14's shapes), on loopback.

    with IntercomSandbox(token="tok", rate_limit=167, app_name="Théière") as ic:
        ic.add_admin("991267696", name="Support")      # the first admin is the token's (/me)
        contact = ic.add_contact("marie@example.fr", "Marie Curie")
        conv = ic.add_conversation("marie@example.fr", state="open")   # or closed, snoozed
        ic.close(conv)                                                 # the team closes it
        ic.parts(conv) / ic.uploads / ic.conversation(conv)            # read back
        ic.fail_next(1, 500, path="/reply")                            # fault injection
        ic.answer_next([], path="/contacts/search")                    # an odd answer

Endpoints: `GET /me` (the token's admin, `token_admin_id` or else the first one added, with its
embedded `app`: id_code, name, region, timezone), `GET /admins/{id}` (an admin; 404
`admin_not_found` for an unknown id), `POST /contacts/search` and `POST /conversations/search`
(Intercom's query objects: `{field, operator, value}` or `{operator: AND|OR, value: [...]}`,
with =, !=, IN, NIN, ~, !~, ^, $, >, <; `pagination: {per_page, starting_after}` answered with
`pages.next`), `GET /conversations/{id}` (with its `conversation_parts`), `POST
/conversations/{id}/reply` (an admin's `note` or `comment`, base64 `attachment_files` decoded
and kept in `uploads`; answers the conversation) and `GET /attachments/{part}/{name}` (the
stored file, as Intercom's CDN serves it: no auth).

`close(conv)` is the team closing a conversation: a `close` part by an admin, `state` closed,
`updated_at` now. `answer_next(body, status=200, path=...)` answers the next request (on
`path`) with `body` as it is, after authentication and the rate limit: a shape Intercom does
not give, or a proxy's page (bytes, sent as text/html).

Errors are Intercom's `error.list`: 401 `unauthorized` for a missing or wrong Bearer token,
400 `intercom_version_invalid` for an unknown `Intercom-Version` (none: the workspace's
default), 404 `not_found` for an unknown conversation, 404 `admin_not_found` for an unknown
`admin_id`, 400 `parameter_not_found` / `parameter_invalid` for a reply Intercom would refuse.

Rate limit: `rate_limit` requests per 10-second window (windows start on multiples of ten
seconds of `clock`); authenticated answers carry `X-RateLimit-Limit`, `-Remaining` and `-Reset`
(epoch seconds), and once the window is spent Intercom's 429 `rate_limit_exceeded`. Times
(`created_at`, `updated_at`, the reset) are epoch seconds read from `clock` (time.time).
"""

from __future__ import annotations

import base64
import binascii
import copy
import itertools
import json
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from connectors.sandbox_server import Reply, Request, SandboxServer

WINDOW_SECONDS = 10
MAX_ATTACHMENTS = 10
MAX_PER_PAGE = 150
VERSIONS = frozenset([f"1.{n}" for n in range(5)] + [f"2.{n}" for n in range(17)] + ["Unstable"])
_SEARCHES = {"/contacts/search": "contacts", "/conversations/search": "conversations"}
_ERRORS_BY_STATUS = {
    400: ("bad_request", "Bad Request"),
    404: ("not_found", "Resource Not Found"),
    408: ("request_timeout", "Request Timeout"),
    500: ("server_error", "Server Error"),
    502: ("server_error", "Bad Gateway"),
    503: ("service_unavailable", "Service Unavailable"),
    504: ("server_error", "Gateway Timeout"),
}


@dataclass(frozen=True)
class Upload:
    """A file a reply attached, decoded: what the customer or the team would download."""

    conversation_id: str
    part_id: str
    name: str
    content_type: str
    data: bytes


class _Refused(Exception):
    """A request Intercom answers with an error list."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class IntercomSandbox(SandboxServer):
    methods = ("GET", "POST")

    def __init__(
        self,
        *,
        token: str = "sandbox-intercom-token",
        rate_limit: int = 167,  # Intercom's example: 1 000 a minute is 167 per 10 s window
        page_limit: int = MAX_PER_PAGE,
        clock: Callable[[], float] = time.time,
        app_name: str = "Boutique de test",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.app_name = app_name
        self.app_id_code = uuid.uuid4().hex[:8]
        self.token_admin_id: str | None = None  # whose the token is; None: the first admin
        self.rate_limit = rate_limit
        self.page_limit = page_limit  # the most a search answers per page, whatever is asked
        self.clock = clock
        self.fault_message: str | None = None  # injected faults' text (a proxy quoting us)
        self.admins: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.uploads: list[Upload] = []
        self.versions: list[str] = []  # the Intercom-Version of each authenticated request
        self._odd: list[tuple[str, int, Any]] = []  # (path, status, body) answered as they are
        self._window = (0, 0)  # (window start, requests counted in it)
        self._ids = itertools.count(1000)

    def now(self) -> int:
        return int(self.clock())

    # -- seeding ----------------------------------------------------------------------------

    def add_admin(self, admin_id: str, *, name: str = "Support", email: str = "") -> str:
        with self.lock:
            self.admins[str(admin_id)] = {
                "type": "admin",
                "id": str(admin_id),
                "name": name,
                "email": email or f"admin{admin_id}@example.com",
            }
        return str(admin_id)

    def add_contact(self, email: str, name: str = "", *, role: str = "user") -> str:
        """A contact (a `user`, or a `lead`: two may share an address); its id."""
        with self.lock:
            contact_id = uuid.uuid4().hex[:24]
            now = self.now()
            self.contacts[contact_id] = {
                "type": "contact",
                "id": contact_id,
                "workspace_id": "sandbox",
                "external_id": None,
                "role": role,
                "email": email,
                "name": name or None,
                "phone": None,
                "created_at": now,
                "updated_at": now,
            }
        return contact_id

    def add_conversation(
        self,
        email: str,
        *,
        state: str = "open",
        updated_at: float | None = None,
        contact_id: str | None = None,
        body: str = "<p>Bonjour, une question sur ma commande.</p>",
    ) -> str:
        """A conversation the contact with `email` started (created first if there is none;
        `contact_id` picks one of several); its id. `updated_at` defaults to now."""
        if state not in ("open", "closed", "snoozed"):
            raise ValueError(f"state {state!r}: open, closed or snoozed")
        with self.lock:
            contact = self._contact_for(email, contact_id)
            now = self.now()
            updated = int(updated_at if updated_at is not None else now)
            conversation_id = str(next(self._ids))
            self.conversations[conversation_id] = {
                "type": "conversation",
                "id": conversation_id,
                "created_at": min(updated, now),
                "updated_at": updated,
                "waiting_since": updated,
                "snoozed_until": now + 86_400 if state == "snoozed" else None,
                "source": {
                    "type": "conversation",
                    "id": str(next(self._ids)),
                    "delivered_as": "customer_initiated",
                    "subject": "",
                    "body": body,
                    "author": {
                        "type": contact["role"],
                        "id": contact["id"],
                        "name": contact["name"],
                        "email": contact["email"],
                    },
                    "attachments": [],
                    "url": None,
                    "redacted": False,
                },
                "contacts": {
                    "type": "contact.list",
                    "contacts": [{"type": "contact", "id": contact["id"], "external_id": None}],
                },
                "admin_assignee_id": None,
                "team_assignee_id": None,
                # Intercom: `open` tells open from closed; a snoozed conversation is still open
                "open": state != "closed",
                "state": state,
                "read": False,
                "priority": "not_priority",
                "tags": {"type": "tag.list", "tags": []},
                "title": None,
                "custom_attributes": {},
                "conversation_parts": {
                    "type": "conversation_part.list",
                    "conversation_parts": [],
                    "total_count": 0,
                },
            }
        return conversation_id

    def close(self, conversation_id: str, *, admin_id: str | None = None) -> None:
        """The team closes the conversation (as `admin_id`, else the first admin): a `close`
        part, `state` closed, `open` false, `updated_at` now."""
        with self.lock:
            conversation = self.conversations[conversation_id]
            admin = self.admins[admin_id] if admin_id else next(iter(self.admins.values()))
            now = self.now()
            listing = conversation["conversation_parts"]
            listing["conversation_parts"].append(
                {
                    "type": "conversation_part",
                    "id": str(next(self._ids)),
                    "part_type": "close",
                    "body": None,
                    "created_at": now,
                    "updated_at": now,
                    "notified_at": now,
                    "assigned_to": None,
                    "author": dict(admin),
                    "attachments": [],
                    "external_id": None,
                    "redacted": False,
                }
            )
            listing["total_count"] = len(listing["conversation_parts"])
            conversation.update(state="closed", open=False, updated_at=now, snoozed_until=None)

    def _contact_for(self, email: str, contact_id: str | None) -> dict[str, Any]:
        if contact_id is not None:
            return self.contacts[contact_id]
        same = [c for c in self.contacts.values() if _same_email(c["email"], email)]
        return same[0] if same else self.contacts[self.add_contact(email)]

    # -- read-back --------------------------------------------------------------------------

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.conversations[conversation_id])

    def parts(self, conversation_id: str) -> list[dict[str, Any]]:
        return self.conversation(conversation_id)["conversation_parts"]["conversation_parts"]

    def uploads_to(self, conversation_id: str) -> list[Upload]:
        with self.lock:
            return [u for u in self.uploads if u.conversation_id == conversation_id]

    def replies_received(self) -> int:
        """Reply requests that reached the server, refused or not (faults included)."""
        with self.lock:
            return sum(
                1
                for method, path, _ in self.requests
                if method == "POST" and path.endswith("/reply")
            )

    # -- faults: odd answers ----------------------------------------------------------------

    def answer_next(self, body: Any, *, status: int = 200, path: str = "") -> None:
        """The next request (on `path`) past authentication and the rate limit is answered
        `status` with `body` as it is: JSON, or bytes sent as text/html."""
        with self.lock:
            self._odd.append((path, status, body))

    def _take_odd(self, path: str) -> tuple[int, Any] | None:
        with self.lock:
            for i, (where, status, body) in enumerate(self._odd):
                if where in path:
                    del self._odd[i]
                    return status, body
        return None

    # -- HTTP: the gate every request passes --------------------------------------------------

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return _error_list("rate_limit_exceeded", self._limit_message())
        code, message = _ERRORS_BY_STATUS.get(status, ("server_error", "Server Error"))
        return _error_list(code, self.fault_message or message)

    def serve(self, request: Request) -> Reply:
        if request.method == "GET" and request.path.startswith("/attachments/"):
            self._log(request)
            return self._download(request.path)
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            # Intercom sends no rate-limit headers to a request without valid credentials
            self._log(request)
            return 401, _error_list("unauthorized", "Access Token Invalid"), {}
        version = request.headers.get("intercom-version")
        if version is not None and version not in VERSIONS:
            self._log(request)
            return (
                400,
                _error_list("intercom_version_invalid", "The requested version could not be found"),
                {},
            )
        limits, over = self._count()
        if over:
            self._log(request)
            return 429, self.fault_body(429), limits
        with self.lock:
            self.versions.append(version or "")
        status, body, headers = super().serve(request)  # logs it, then faults, then route
        return status, body, {**headers, **limits}

    def _log(self, request: Request) -> None:
        with self.lock:
            self.requests.append((request.method, request.path, request.query))

    def _count(self) -> tuple[dict[str, str], bool]:
        """This request counted in its 10-second window: its headers, and whether it is over."""
        with self.lock:
            start = math.floor(self.clock() / WINDOW_SECONDS) * WINDOW_SECONDS
            count = self._window[1] + 1 if self._window[0] == start else 1
            self._window = (start, count)
        limits = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - count)),
            "X-RateLimit-Reset": str(int(start + WINDOW_SECONDS)),
        }
        return limits, count > self.rate_limit

    def _limit_message(self) -> str:
        return f"Exceeded rate limit of {self.rate_limit} in {WINDOW_SECONDS}_seconds"

    # -- HTTP: routes -----------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        odd = self._take_odd(request.path)
        if odd is not None:
            status, body = odd
            return status, body, {"Content-Type": "text/html"} if isinstance(body, bytes) else {}
        try:
            return 200, self._answer(request), {}
        except _Refused as refused:
            return refused.status, _error_list(refused.code, refused.message), {}

    def _answer(self, request: Request) -> Any:
        segments = [s for s in request.path.split("/") if s]
        if request.method == "GET" and segments == ["me"]:
            return self._me()
        if request.method == "GET" and segments[:1] == ["admins"] and len(segments) == 2:
            return self._admin(unquote(segments[1]))
        if request.method == "POST" and request.path in _SEARCHES:
            return self._search(_SEARCHES[request.path], _json_body(request))
        if segments[:1] == ["conversations"] and len(segments) in (2, 3):
            conversation_id = segments[1]
            if request.method == "GET" and len(segments) == 2:
                return self.conversation(self._existing(conversation_id))
            if request.method == "POST" and segments[2:] == ["reply"]:
                return self._reply(self._existing(conversation_id), _json_body(request))
        raise _Refused(404, "not_found", "Resource Not Found")

    def _admin(self, admin_id: str) -> dict[str, Any]:
        with self.lock:
            admin = self.admins.get(admin_id)
            if admin is None:
                raise _Refused(404, "admin_not_found", "Admin not found")
            return {
                **copy.deepcopy(admin),
                "job_title": None,
                "away_mode_enabled": False,
                "away_mode_reassign": False,
                "has_inbox_seat": True,
                "team_ids": [],
                "avatar": None,
            }

    def _me(self) -> dict[str, Any]:
        """Identify an admin: the token's admin with its embedded app (the workspace)."""
        with self.lock:
            owner = self.token_admin_id or next(iter(self.admins), None)
        if owner is None:
            raise _Refused(404, "not_found", "Resource Not Found")
        admin = self._admin(owner)
        admin["avatar"] = {"type": "avatar", "image_url": None}
        admin["email_verified"] = True
        admin["app"] = {
            "type": "app",
            "id_code": self.app_id_code,
            "name": self.app_name,
            "region": "Europe",
            "timezone": "Europe/Paris",
            "created_at": self.now(),
            "identity_verification": False,
        }
        return admin

    def _existing(self, conversation_id: str) -> str:
        with self.lock:
            if conversation_id not in self.conversations:
                raise _Refused(404, "not_found", "Resource Not Found")
        return conversation_id

    def _download(self, path: str) -> Reply:
        _, _, part_id, name = [*path.split("/", 3), "", ""][:4]
        name = unquote(name)
        with self.lock:
            for upload in self.uploads:
                if upload.part_id == part_id and upload.name == name:
                    return 200, upload.data, {"Content-Type": upload.content_type}
        return 404, b"Not Found", {"Content-Type": "text/plain"}

    # -- search -----------------------------------------------------------------------------

    def _search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        query = body.get("query")
        if not isinstance(query, dict):
            raise _Refused(400, "parameter_not_found", "query is required")
        with self.lock:
            records = list(
                self.contacts.values() if kind == "contacts" else self.conversations.values()
            )
            matching = [copy.deepcopy(r) for r in records if _matches(r, query, depth=0)]
        for record in matching:
            record.pop("conversation_parts", None)  # search results carry no parts
        page, pages = self._page(
            matching, body.get("pagination"), default=50 if kind == "contacts" else 20
        )
        key = "data" if kind == "contacts" else "conversations"
        return {
            "type": "list" if kind == "contacts" else "conversation.list",
            key: page,
            "total_count": len(matching),
            "pages": pages,
        }

    def _page(
        self, records: list[dict[str, Any]], pagination: Any, *, default: int
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        pagination = pagination if isinstance(pagination, dict) else {}
        per_page = pagination.get("per_page", default)
        if not isinstance(per_page, int) or per_page < 1 or per_page > MAX_PER_PAGE:
            raise _Refused(
                400, "parameter_invalid", f"per_page must be between 1 and {MAX_PER_PAGE}"
            )
        per_page = min(per_page, self.page_limit)
        offset = _offset(pagination.get("starting_after"))
        total_pages = math.ceil(len(records) / per_page)
        pages: dict[str, Any] = {
            "type": "pages",
            "page": offset // per_page + 1,
            "per_page": per_page,
            "total_pages": total_pages,
        }
        if offset + per_page < len(records):
            cursor = base64.urlsafe_b64encode(json.dumps([offset + per_page]).encode()).decode()
            pages["next"] = {"page": offset // per_page + 2, "starting_after": cursor}
        return records[offset : offset + per_page], pages

    # -- reply ------------------------------------------------------------------------------

    def _reply(self, conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        message_type, admin = _check_reply(body, self.admins)
        files = _decoded_attachments(body.get("attachment_files"))
        with self.lock:
            conversation = self.conversations[conversation_id]
            now = self.now()
            part_id = str(next(self._ids))
            attachments = []
            for name, content_type, data in files:
                self.uploads.append(Upload(conversation_id, part_id, name, content_type, data))
                attachments.append(
                    {
                        "type": "upload",
                        "name": name,
                        "url": f"{self.url}/attachments/{part_id}/{quote(name)}",
                        "content_type": content_type,
                        "filesize": len(data),
                    }
                )
            listing = conversation["conversation_parts"]
            listing["conversation_parts"].append(
                {
                    "type": "conversation_part",
                    "id": part_id,
                    "part_type": message_type,
                    "body": body["body"],
                    "created_at": now,
                    "updated_at": now,
                    "notified_at": now,
                    "assigned_to": None,
                    "author": dict(admin),
                    "attachments": attachments,
                    "external_id": None,
                    "redacted": False,
                }
            )
            listing["total_count"] = len(listing["conversation_parts"])
            conversation["updated_at"] = now
        return self.conversation(conversation_id)


# ------------------------------------------------------------------------------ the contract


def _error_list(code: str, message: str) -> dict[str, Any]:
    return {
        "type": "error.list",
        "request_id": str(uuid.uuid4()),
        "errors": [{"code": code, "message": message}],
    }


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise _Refused(400, "parameter_invalid", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _Refused(400, "parameter_invalid", "The request body must be a JSON object")
    return body


def _check_reply(
    body: dict[str, Any], admins: dict[str, dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    """(message_type, the admin) of a reply Intercom would take, else its refusal."""
    if body.get("type") != "admin":
        raise _Refused(400, "parameter_invalid", "type isn't an option (the sandbox takes admin)")
    message_type = body.get("message_type")
    if not message_type:
        raise _Refused(400, "parameter_not_found", "message_type is required")
    if message_type not in ("comment", "note"):
        raise _Refused(400, "parameter_invalid", f"message_type {message_type!r} isn't an option")
    admin_id = body.get("admin_id")
    if admin_id in (None, ""):
        raise _Refused(400, "parameter_not_found", "admin_id is required")
    admin = admins.get(str(admin_id))
    if admin is None:
        raise _Refused(404, "admin_not_found", "Admin not found")
    if not isinstance(body.get("body"), str) or not body["body"].strip():
        raise _Refused(400, "parameter_invalid", "Body is required")
    return message_type, admin


def _decoded_attachments(files: Any) -> list[tuple[str, str, bytes]]:
    """(name, content_type, bytes) of each `attachment_files` item: at most ten, base64."""
    if files is None:
        return []
    if not isinstance(files, list):
        raise _Refused(400, "parameter_invalid", "attachment_files must be an array")
    if len(files) > MAX_ATTACHMENTS:
        raise _Refused(
            400, "parameter_invalid", f"attachment_files can include up to {MAX_ATTACHMENTS} files"
        )
    decoded = []
    for item in files:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) and item[k] for k in ("content_type", "data", "name")
        ):
            raise _Refused(
                400, "parameter_invalid", "each attachment file needs content_type, data and name"
            )
        try:
            data = base64.b64decode(item["data"], validate=True)
        except (binascii.Error, ValueError):
            raise _Refused(400, "parameter_invalid", "attachment data is not base64") from None
        decoded.append((item["name"], item["content_type"], data))
    return decoded


def _offset(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        (offset,) = json.loads(base64.urlsafe_b64decode(str(cursor).encode()))
        return max(0, int(offset))
    except (ValueError, TypeError, binascii.Error):
        raise _Refused(400, "parameter_invalid", "starting_after is not a valid cursor") from None


def _same_email(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.strip().lower() == b.strip().lower()


def _field(record: dict[str, Any], field: str) -> Any:
    """A searchable field's value; `contact_ids` is the list of the conversation's contacts."""
    if field == "contact_ids":
        return [c["id"] for c in record.get("contacts", {}).get("contacts", [])]
    value: Any = record
    for key in field.split("."):
        if not isinstance(value, dict) or key not in value:
            raise _Refused(400, "invalid_field", f"{field} is not a searchable field")
        value = value[key]
    return value


def _matches(record: dict[str, Any], query: dict[str, Any], *, depth: int) -> bool:
    operator = query.get("operator")
    if operator in ("AND", "OR"):
        filters = query.get("value")
        if not isinstance(filters, list) or not filters:
            raise _Refused(400, "parameter_invalid", f"{operator} needs a list of filters")
        if depth >= 2 or len(filters) > 15:  # Intercom: 2 nested levels, 15 filters a group
            raise _Refused(400, "parameter_invalid", "too many nested or grouped filters")
        results = [
            _matches(record, sub, depth=depth + 1) for sub in filters if isinstance(sub, dict)
        ]
        return all(results) if operator == "AND" else any(results)
    field = query.get("field")
    if not isinstance(field, str) or operator is None or "value" not in query:
        raise _Refused(400, "parameter_invalid", "a filter needs field, operator and value")
    return _compare(_field(record, field), str(operator), query["value"], field)


def _compare(actual: Any, operator: str, wanted: Any, field: str) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    if operator in ("IN", "NIN"):
        if not isinstance(wanted, list):
            raise _Refused(400, "parameter_invalid", f"{operator} takes an array of values")
        hit = any(_equal(v, w, field) for v in values for w in wanted)
        return hit if operator == "IN" else not hit
    if operator in ("=", "!="):
        hit = any(_equal(v, wanted, field) for v in values)
        return hit if operator == "=" else not hit
    if operator in (">", "<"):
        number = _number(wanted)
        return any(
            isinstance(v, int | float) and (v > number if operator == ">" else v < number)
            for v in values
        )
    texts = [str(v).lower() for v in values if isinstance(v, str)]
    text = str(wanted).lower()
    tests: dict[str, Callable[[str], bool]] = {
        "~": lambda v: text in v,
        "!~": lambda v: text not in v,
        "^": lambda v: v.startswith(text),
        "$": lambda v: v.endswith(text),
    }
    if operator not in tests:
        raise _Refused(400, "parameter_invalid", f"operator {operator!r} isn't an option")
    return any(tests[operator](v) for v in texts)


def _equal(actual: Any, wanted: Any, field: str) -> bool:
    if isinstance(actual, bool):
        return actual == (wanted if isinstance(wanted, bool) else str(wanted).lower() == "true")
    if field == "email" or field.endswith(".email"):
        return _same_email(actual, wanted)
    if isinstance(actual, int | float):
        return actual == _number(wanted)
    return actual is not None and str(actual) == str(wanted)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _Refused(400, "parameter_invalid", f"{value!r} is not a number") from None


def seeded(
    emails: Sequence[str] = (),
    *,
    admin_id: str = "991267696",
    token: str = "sandbox-intercom-token",
) -> IntercomSandbox:
    """A sandbox (not started) with one admin and, per address, a contact and an open
    conversation: what a demo needs to show a note arriving."""
    sandbox = IntercomSandbox(token=token)
    sandbox.add_admin(admin_id)
    for email in emails:
        sandbox.add_conversation(email)
    return sandbox
