"""The signed links the customer holds: to their portal, to one PDF, to the survey.

itsdangerous signs a small JSON payload with a salt per purpose, so a survey token can never
open a portal and the other way round. Each payload carries its own expiry (`x`, Unix seconds):
the same portal serves links of 90 days and renewals of 7. Portal and document links also carry
the customer's `generation`: revoking a customer bumps it in the database, and every link
signed before stops working. Payloads are signed, not encrypted: they hold ids, never an email.

Key rotation: `[server] link_secret` signs; `previous_link_secrets` still verify.
"""

from __future__ import annotations

import hashlib
import re
import secrets as random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

PORTAL = "quittance.portal"
DOCUMENT = "quittance.document"
SURVEY = "quittance.survey"
CSRF = "quittance.csrf"
CSRF_MAX_AGE = timedelta(hours=2)
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")  # what token_urlsafe(24) gives


class LinkInvalid(Exception):
    """Not a link we signed (altered, truncated, another purpose, a retired key)."""


class LinkExpired(Exception):
    """A link we signed whose time is over; `claim` says whose it was (to offer a new one)."""

    def __init__(self, claim: Any) -> None:
        super().__init__("link expired")
        self.claim = claim


@dataclass(frozen=True, slots=True)
class PortalClaim:
    customer_id: int
    generation: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DocumentClaim:
    number: str
    generation: int
    expires_at: datetime
    expired: bool = False  # set when read from a LinkExpired, to tell the two apart


@dataclass(frozen=True, slots=True)
class SurveyClaim:
    invoice_id: int
    expires_at: datetime
    scale: int = 0  # the scale the email asked on (0: a token from before it was signed in)


_Claim = TypeVar("_Claim", PortalClaim, DocumentClaim, SurveyClaim)


def expiry_in(days: int) -> datetime:
    return datetime.fromtimestamp(int(time.time()) + days * 86400, UTC)


class LinkSigner:
    """Signs and reads the customer's links. `keys`: the signing secret first, then the
    former ones still accepted."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys or not keys[0]:
            raise ValueError("a link secret is needed to sign links")
        newest_last = list(reversed(keys))  # itsdangerous signs with the last key
        sha256 = {"digest_method": hashlib.sha256}  # itsdangerous defaults to SHA-1
        self._signers = {
            salt: URLSafeSerializer(newest_last, salt=salt, signer_kwargs=sha256)
            for salt in (PORTAL, DOCUMENT, SURVEY)
        }
        self._csrf = URLSafeTimedSerializer(newest_last, salt=CSRF, signer_kwargs=sha256)

    def portal_token(self, customer_id: int, generation: int, expires_at: datetime) -> str:
        payload = {"c": customer_id, "g": generation, "x": _unix(expires_at)}
        return self._signers[PORTAL].dumps(payload)

    def read_portal(self, token: str) -> PortalClaim:
        data = self._load(PORTAL, token, ("c", "g", "x"))
        claim = PortalClaim(int(data["c"]), int(data["g"]), _moment(data["x"]))
        return _unexpired(claim)

    def document_token(self, number: str, generation: int, expires_at: datetime) -> str:
        payload = {"n": number, "g": generation, "x": _unix(expires_at)}
        return self._signers[DOCUMENT].dumps(payload)

    def read_document(self, token: str, number: str | None = None) -> DocumentClaim:
        """The claim of a link to `number` (None: to whichever document it names)."""
        data = self._load(DOCUMENT, token, ("n", "g", "x"))
        if number is not None and data["n"] != number:  # a valid link to another document
            raise LinkInvalid("the link is for another document")
        return _unexpired(DocumentClaim(str(data["n"]), int(data["g"]), _moment(data["x"])))

    def survey_token(self, invoice_id: int, expires_at: datetime, scale: int) -> str:
        payload = {"i": invoice_id, "x": _unix(expires_at), "s": scale}
        return self._signers[SURVEY].dumps(payload)

    def read_survey(self, token: str) -> SurveyClaim:
        data = self._load(SURVEY, token, ("i", "x"))
        claim = SurveyClaim(int(data["i"]), _moment(data["x"]), int(data.get("s") or 0))
        return _unexpired(claim)

    # CSRF, double submit: a random nonce in a SameSite=Lax cookie and, signed, in the
    # form; a cross-site form carries neither, a scanner replaying the form lacks the cookie.
    def new_csrf(self, cookie: str = "") -> tuple[str, str]:
        """(cookie value, form value); the browser's current cookie is kept, so that forms
        open in several tabs all stay valid."""
        nonce = cookie if _NONCE.fullmatch(cookie) else random.token_urlsafe(24)
        return nonce, self._csrf.dumps(nonce)

    def csrf_matches(self, cookie: str, form_value: str) -> bool:
        if not cookie or not form_value:
            return False
        try:
            nonce = self._csrf.loads(form_value, max_age=int(CSRF_MAX_AGE.total_seconds()))
        except (BadSignature, SignatureExpired):
            return False
        return random.compare_digest(str(nonce).encode(), cookie.encode("utf-8", "replace"))

    def _load(self, salt: str, token: str, keys: tuple[str, ...]) -> dict[str, Any]:
        try:
            data = self._signers[salt].loads(token)
        except BadSignature:
            raise LinkInvalid("not a link we signed") from None
        if not isinstance(data, dict) or any(k not in data for k in keys):
            raise LinkInvalid("a signed payload of another shape")
        return data


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def _unexpired(claim: _Claim) -> _Claim:
    if claim.expires_at.timestamp() <= time.time():
        raise LinkExpired(claim)
    return claim
