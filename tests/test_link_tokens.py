"""The signed links the customer holds (bridge/portal/tokens.py): each kind reads back as it
was signed, only for its own purpose, unaltered, until its expiry; the keys rotate; the CSRF
pair of a form matches its own cookie only, for two hours."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from bridge.portal.tokens import (
    DocumentClaim,
    LinkExpired,
    LinkInvalid,
    LinkSigner,
    PortalClaim,
    SurveyClaim,
    expiry_in,
)

KEY = "the-current-link-secret-0123456789"
OLD_KEY = "the-previous-link-secret-9876543210"
OTHER_KEY = "another-shop-s-link-secret-000000"

Reader = Callable[[LinkSigner, str], Any]

# (sign, read) for each kind of link, with the claim it must read back
KINDS: dict[str, tuple[Callable[[LinkSigner, datetime], str], Reader]] = {
    "portal": (lambda s, x: s.portal_token(42, 3, x), lambda s, t: s.read_portal(t)),
    "document": (
        lambda s, x: s.document_token("FA-2026-000123", 3, x),
        lambda s, t: s.read_document(t),
    ),
    "survey": (lambda s, x: s.survey_token(42, x, 5), lambda s, t: s.read_survey(t)),
}


def expected_claim(kind: str, expires_at: datetime) -> Any:
    return {
        "portal": PortalClaim(customer_id=42, generation=3, expires_at=expires_at),
        "document": DocumentClaim(number="FA-2026-000123", generation=3, expires_at=expires_at),
        "survey": SurveyClaim(invoice_id=42, expires_at=expires_at, scale=5),
    }[kind]


def later(**delta: float) -> time_machine.travel:
    """The clock moved forward from now, standing still there."""
    return time_machine.travel(datetime.now(UTC) + timedelta(**delta), tick=False)


@pytest.mark.parametrize("kind", KINDS)
def test_a_signed_link_reads_back_its_claim(kind: str) -> None:
    sign, read = KINDS[kind]
    signer = LinkSigner([KEY])
    expires_at = expiry_in(90)
    assert read(signer, sign(signer, expires_at)) == expected_claim(kind, expires_at)


@pytest.mark.parametrize(
    ("kind", "other"), [(k, o) for k in KINDS for o in KINDS if k != o], ids=lambda v: v
)
def test_a_link_of_one_purpose_is_refused_for_another(kind: str, other: str) -> None:
    signer = LinkSigner([KEY])
    token = KINDS[kind][0](signer, expiry_in(90))
    with pytest.raises(LinkInvalid):
        KINDS[other][1](signer, token)


def test_a_document_link_is_refused_for_another_number() -> None:
    signer = LinkSigner([KEY])
    token = signer.document_token("FA-2026-000123", 0, expiry_in(90))
    with pytest.raises(LinkInvalid):
        signer.read_document(token, "FA-2026-000124")


def _with_payload(token: str, **changes: Any) -> str:
    """`token` with its signed JSON payload changed and its signature kept."""
    payload, _, signature = token.partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + signature


def test_a_portal_link_whose_customer_was_changed_is_refused() -> None:
    signer = LinkSigner([KEY])
    token = signer.portal_token(42, 0, expiry_in(90))
    with pytest.raises(LinkInvalid):
        signer.read_portal(_with_payload(token, c=43))


def test_a_link_whose_expiry_was_pushed_back_is_refused() -> None:
    signer = LinkSigner([KEY])
    token = signer.portal_token(42, 0, expiry_in(7))
    with pytest.raises(LinkInvalid):
        signer.read_portal(_with_payload(token, x=int(expiry_in(3650).timestamp())))


@pytest.mark.parametrize("cut", ["payload", "signature"])
def test_a_truncated_link_is_refused(cut: str) -> None:
    signer = LinkSigner([KEY])
    token = signer.portal_token(42, 0, expiry_in(90))
    payload, _, signature = token.partition(".")
    shorter = f"{payload[:-4]}.{signature}" if cut == "payload" else f"{payload}.{signature[:-6]}"
    with pytest.raises(LinkInvalid):
        signer.read_portal(shorter)


@pytest.mark.parametrize("garbage", ["", "nothing-signed", "a.b", "0" * 32])
def test_garbage_is_no_link(garbage: str) -> None:
    with pytest.raises(LinkInvalid):
        LinkSigner([KEY]).read_portal(garbage)


@pytest.mark.parametrize("kind", KINDS)
def test_a_link_read_after_its_expiry_raises_expired_with_its_claim(kind: str) -> None:
    sign, read = KINDS[kind]
    signer = LinkSigner([KEY])
    expires_at = expiry_in(90)
    token = sign(signer, expires_at)
    with later(days=91), pytest.raises(LinkExpired) as expired:
        read(signer, token)
    assert expired.value.claim == expected_claim(kind, expires_at)


def test_a_link_still_opens_the_day_before_its_expiry() -> None:
    signer = LinkSigner([KEY])
    token = signer.portal_token(42, 0, expiry_in(90))
    with later(days=89):
        assert signer.read_portal(token).customer_id == 42


def test_a_link_signed_with_a_previous_key_opens_while_that_key_is_kept() -> None:
    token = LinkSigner([OLD_KEY]).portal_token(42, 0, expiry_in(90))
    assert LinkSigner([KEY, OLD_KEY]).read_portal(token).customer_id == 42


def test_a_link_signed_with_a_retired_key_is_refused() -> None:
    token = LinkSigner([OLD_KEY]).portal_token(42, 0, expiry_in(90))
    with pytest.raises(LinkInvalid):
        LinkSigner([KEY]).read_portal(token)


def test_new_links_are_signed_with_the_newest_key() -> None:
    token = LinkSigner([KEY, OLD_KEY]).portal_token(42, 0, expiry_in(90))
    assert LinkSigner([KEY]).read_portal(token).customer_id == 42
    with pytest.raises(LinkInvalid):
        LinkSigner([OLD_KEY]).read_portal(token)


def test_a_signer_needs_a_key() -> None:
    for keys in ([], [""]):
        with pytest.raises(ValueError, match="secret"):
            LinkSigner(keys)


# -- CSRF: a nonce in the cookie, the same nonce signed in the form -------------------------


def test_the_csrf_pair_of_a_form_matches() -> None:
    signer = LinkSigner([KEY])
    cookie, field = signer.new_csrf()
    assert signer.csrf_matches(cookie, field)


def test_each_form_gets_its_own_csrf_pair() -> None:
    signer = LinkSigner([KEY])
    assert signer.new_csrf()[0] != signer.new_csrf()[0]


def test_a_csrf_field_fails_with_another_cookie() -> None:
    signer = LinkSigner([KEY])
    _, field = signer.new_csrf()
    other_cookie, _ = signer.new_csrf()
    assert not signer.csrf_matches(other_cookie, field)


@pytest.mark.parametrize("missing", ["cookie", "field"])
def test_a_csrf_pair_with_a_part_missing_fails(missing: str) -> None:
    signer = LinkSigner([KEY])
    cookie, field = signer.new_csrf()
    if missing == "cookie":
        cookie = ""
    else:
        field = ""
    assert not signer.csrf_matches(cookie, field)


def test_the_cookie_value_alone_is_no_csrf_field() -> None:
    signer = LinkSigner([KEY])
    cookie, _ = signer.new_csrf()
    assert not signer.csrf_matches(cookie, cookie)


def test_a_csrf_field_signed_with_another_key_fails() -> None:
    cookie, field = LinkSigner([OTHER_KEY]).new_csrf()
    assert not LinkSigner([KEY]).csrf_matches(cookie, field)


def test_a_csrf_pair_still_matches_within_two_hours() -> None:
    signer = LinkSigner([KEY])
    cookie, field = signer.new_csrf()
    with later(hours=1, minutes=59):
        assert signer.csrf_matches(cookie, field)


def test_a_csrf_pair_fails_after_two_hours() -> None:
    signer = LinkSigner([KEY])
    cookie, field = signer.new_csrf()
    with later(hours=2, seconds=2):
        assert not signer.csrf_matches(cookie, field)
