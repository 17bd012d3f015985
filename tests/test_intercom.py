"""The Intercom channel against the local Intercom: which conversation gets the PDF, what the
note says and carries, how refusals, throttling, odd answers and earlier runs of the same job
are read, and the doctor's check of the token and the admin."""

from __future__ import annotations

import logging
import math
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from bridge.config.channels import HelpdeskConfig
from bridge.delivery.channel import CLOCK_MARGIN, Handover, NothingToDo, Sent
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.helpdesk.intercom import API_VERSION, add_to_intercom, check_intercom
from bridge.delivery.sandboxes.intercom import IntercomSandbox
from bridge.failures import LeaseLost
from bridge.handover import handover_check
from tests.support.handovers import handover

TOKEN = "dG9rOmFiY2RlZi0xMjM0NTY3ODkw"
ADMIN = "991267696"
EMAIL = "marie.curie@example.fr"
HOUR = 3600
PDF = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF\n"  # every byte value, none lost


class FakeClock:
    """Wall-clock seconds that only move when slept: shared by the sandbox and the client,
    so a window's reset and the wait read from it are exact. Starts from now (whatever the
    suite's clock says), 3.5 s into a 10-second window."""

    def __init__(self) -> None:
        self.now = math.floor(time.time() / 10) * 10 + 3.5
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def intercom(clock: FakeClock) -> Iterator[IntercomSandbox]:
    with IntercomSandbox(token=TOKEN, clock=clock) as sandbox:
        sandbox.add_admin(ADMIN, name="Support Théière")
        sandbox.add_contact(EMAIL, "Marie Curie")
        yield sandbox


def config(sandbox: IntercomSandbox, **changes: Any) -> HelpdeskConfig:
    values: dict[str, Any] = {
        "shop": "theiere",
        "kind": "intercom",
        "url": sandbox.url,
        "token": TOKEN,
        "admin_id": ADMIN,
        "timeout_seconds": 5,
    }
    return HelpdeskConfig(**{**values, **changes})


def invoice(**changes: Any) -> Handover:
    return handover(**{"shop": "theiere", "customer_name": "Marie Curie",
                       "customer_email": EMAIL, "pdf": PDF, **changes})  # fmt: skip


def deliver(sandbox: IntercomSandbox, clock: FakeClock, doc: Handover | None = None, **cfg: Any):
    return add_to_intercom(config(sandbox, **cfg), doc or invoice(), sleep=clock.sleep, clock=clock)


def admin_parts(sandbox: IntercomSandbox, conversation_id: str) -> list[dict[str, Any]]:
    return [p for p in sandbox.parts(conversation_id) if p["author"]["type"] == "admin"]


# --------------------------------------------------------------------------- where it goes


def test_note_goes_to_the_latest_open_conversation(intercom, clock) -> None:
    now = clock()
    older = intercom.add_conversation(EMAIL, updated_at=now - HOUR)
    latest = intercom.add_conversation(EMAIL, updated_at=now - 60)
    oldest = intercom.add_conversation(EMAIL, updated_at=now - 2 * HOUR)
    closed = intercom.add_conversation(EMAIL, state="closed", updated_at=now)
    snoozed = intercom.add_conversation(EMAIL, state="snoozed", updated_at=now)

    outcome = deliver(intercom, clock)

    assert isinstance(outcome, Sent)
    assert outcome.target == f"intercom conversation {latest}"
    assert [len(admin_parts(intercom, c)) for c in (older, latest, oldest, closed, snoozed)] == [
        0,
        1,
        0,
        0,
        0,
    ]


def test_the_note_is_an_internal_note_by_the_configured_admin(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)

    outcome = deliver(intercom, clock)

    (part,) = admin_parts(intercom, conversation)
    assert (part["part_type"], part["author"]["id"]) == ("note", ADMIN)
    assert outcome == Sent(
        external_id=f"{conversation}/{part['id']}",
        target=f"intercom conversation {conversation}",
        detail="note",
    )


def test_public_setting_replies_to_the_customer(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)

    outcome = deliver(intercom, clock, public=True)

    (part,) = admin_parts(intercom, conversation)
    assert part["part_type"] == "comment"
    assert outcome.detail == "public reply"
    assert "veuillez trouver ci-joint votre facture FA-2026-000042" in part["body"]


def test_every_contact_with_the_address_is_looked_at(intercom, clock) -> None:
    lead = intercom.add_contact(EMAIL, "Marie (visiteuse)", role="lead")
    intercom.add_conversation(EMAIL, updated_at=clock() - HOUR)  # the first contact's
    of_lead = intercom.add_conversation(EMAIL, contact_id=lead)

    outcome = deliver(intercom, clock)

    assert outcome.target == f"intercom conversation {of_lead}"


def test_the_latest_is_found_beyond_the_first_page_of_results(clock) -> None:
    with IntercomSandbox(token=TOKEN, clock=clock, page_limit=1) as sandbox:
        sandbox.add_admin(ADMIN)
        for age in (3, 2, 1):
            sandbox.add_conversation(EMAIL, updated_at=clock() - age * HOUR)
        latest = sandbox.add_conversation(EMAIL, updated_at=clock())

        outcome = deliver(sandbox, clock)

    assert outcome.target == f"intercom conversation {latest}"


def test_no_contact_with_the_address_is_nothing_to_do(intercom, clock) -> None:
    intercom.add_conversation(EMAIL)
    stranger = invoice(customer_email="jamais.venue@example.fr")

    outcome = deliver(intercom, clock, stranger)

    assert outcome == NothingToDo(
        "no Intercom contact with jamais.venue@example.fr: nothing to add FA-2026-000042 to"
    )


def test_no_open_conversation_is_nothing_to_do(intercom, clock) -> None:
    intercom.add_conversation(EMAIL, state="closed")
    intercom.add_conversation(EMAIL, state="snoozed")

    outcome = deliver(intercom, clock)

    assert isinstance(outcome, NothingToDo)
    assert outcome.reason.startswith(f"no open Intercom conversation for {EMAIL}")


# ------------------------------------------------------------------------- what it carries


def test_the_pdf_arrives_byte_for_byte(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)

    deliver(intercom, clock)

    (upload,) = intercom.uploads_to(conversation)
    assert (upload.name, upload.content_type, upload.data) == (
        "FA-2026-000042.pdf",
        "application/pdf",
        PDF,
    )


def test_a_credit_note_is_added_with_its_own_words_and_file(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)
    credit = invoice(kind="credit_note", number="AV-2026-000007", filename="AV-2026-000007.pdf")

    deliver(intercom, clock, credit)

    (part,) = admin_parts(intercom, conversation)
    assert "Avoir AV-2026-000007" in part["body"]
    assert [a["name"] for a in part["attachments"]] == ["AV-2026-000007.pdf"]


def test_the_text_is_escaped_into_html_paragraphs(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)
    doc = invoice(customer_name="<b>Marie & Co</b>")

    deliver(intercom, clock, doc, public=True)

    (part,) = admin_parts(intercom, conversation)
    assert part["body"].startswith("<p>Bonjour &lt;b&gt;Marie &amp; Co&lt;/b&gt;,")
    assert part["body"].endswith("</p>")


def test_every_request_names_the_api_version(intercom, clock) -> None:
    intercom.add_conversation(EMAIL)

    deliver(intercom, clock)

    assert set(intercom.versions) == {API_VERSION}


# ------------------------------------------------------------------------------ earlier runs


def since_created_now(clock: FakeClock) -> datetime:
    """`Handover.since` of a job created now, as the caller gives it: the creation (UTC, with
    its fraction of a second) less the margin for Intercom's clock."""
    return datetime.fromtimestamp(clock(), UTC) - CLOCK_MARGIN


def test_a_retry_finds_its_own_note_and_writes_nothing(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)
    job = invoice(since=since_created_now(clock))
    clock.sleep(1)
    first = deliver(intercom, clock, job)
    clock.sleep(60)

    again = deliver(intercom, clock, job)

    assert again == replace(first, already=True)
    assert len(admin_parts(intercom, conversation)) == 1
    assert intercom.replies_received() == 1


def test_a_retry_whose_earlier_run_left_nothing_writes_the_note(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)
    job = invoice(since=since_created_now(clock))
    deliver(intercom, clock, invoice(number="FA-2026-000041", filename="FA-2026-000041.pdf"))

    outcome = deliver(intercom, clock, job)

    assert outcome.already is False
    assert len(admin_parts(intercom, conversation)) == 2


def test_a_resend_within_the_same_minute_writes_a_new_note(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)
    original = deliver(intercom, clock, invoice(since=since_created_now(clock)))
    clock.sleep(20)
    resend = invoice(since=since_created_now(clock), known=frozenset({original.external_id}))

    resent = deliver(intercom, clock, resend)

    assert resent.already is False and resent.external_id != original.external_id
    assert [u.name for u in intercom.uploads_to(conversation)] == ["FA-2026-000042.pdf"] * 2


def test_a_retry_finds_its_note_on_a_conversation_closed_since_and_pushed_down_by_newer_ones(
    intercom, clock
) -> None:
    conversation = intercom.add_conversation(EMAIL)
    job = invoice(since=since_created_now(clock))
    first = deliver(intercom, clock, job)
    clock.sleep(HOUR)
    intercom.close(conversation)
    newer = []
    for _ in range(5):  # the customer wrote again, and again
        clock.sleep(60)
        newer.append(intercom.add_conversation(EMAIL))

    again = deliver(intercom, clock, job)

    assert again == replace(first, already=True)
    assert [admin_parts(intercom, c) for c in newer] == [[]] * 5


def test_a_retry_finds_its_note_when_intercoms_clock_is_minutes_behind_ours(clock) -> None:
    def behind() -> float:
        return clock() - 4 * 60

    with IntercomSandbox(token=TOKEN, clock=behind) as sandbox:
        sandbox.add_admin(ADMIN)
        conversation = sandbox.add_conversation(EMAIL)
        job = invoice(since=since_created_now(clock))
        first = deliver(sandbox, clock, job)
        clock.sleep(60)

        again = deliver(sandbox, clock, job)

        assert again == replace(first, already=True)
        assert len(admin_parts(sandbox, conversation)) == 1


def test_a_first_run_reads_only_the_conversation_it_writes_to(intercom, clock) -> None:
    # an older conversation not updated since is not read; the one written to always is
    # (a search index lagging our own note must not hide it)
    intercom.add_conversation(EMAIL, updated_at=clock() - 2 * HOUR, state="closed")
    conversation = intercom.add_conversation(EMAIL, updated_at=clock() - HOUR)

    deliver(intercom, clock, invoice(since=since_created_now(clock)))

    assert [(method, path) for method, path, _ in intercom.requests] == [
        ("POST", "/contacts/search"),
        ("POST", "/conversations/search"),
        ("GET", f"/conversations/{conversation}"),
        ("POST", f"/conversations/{conversation}/reply"),
    ]


def test_a_retry_whose_only_conversation_was_closed_since_is_already_sent(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)
    job = invoice(since=since_created_now(clock))
    first = deliver(intercom, clock, job)
    intercom.close(conversation)

    again = deliver(intercom, clock, job)

    assert again == replace(first, already=True)


def test_a_retry_finds_its_note_when_another_conversation_is_the_latest_now(
    intercom, clock
) -> None:
    intercom.add_conversation(EMAIL)
    job = invoice(since=since_created_now(clock))
    first = deliver(intercom, clock, job)
    clock.sleep(HOUR)
    latest = intercom.add_conversation(EMAIL)

    again = deliver(intercom, clock, job)

    assert again == replace(first, already=True)
    assert admin_parts(intercom, latest) == []


def test_outside_a_job_nothing_is_looked_for(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)

    deliver(intercom, clock)
    deliver(intercom, clock)

    assert len(admin_parts(intercom, conversation)) == 2
    assert [path for method, path, _ in intercom.requests if method == "GET"] == []


# ------------------------------------------------------------------------------ odd answers


def test_a_contact_search_answering_a_list_is_transient(intercom, clock) -> None:
    intercom.add_conversation(EMAIL)
    intercom.answer_next([], path="/contacts/search")

    with pytest.raises(TransientDeliveryError, match="contacts by email: answered something unex"):
        deliver(intercom, clock)

    assert intercom.replies_received() == 0


def test_a_conversation_found_without_an_id_is_transient(intercom, clock) -> None:
    intercom.add_conversation(EMAIL)
    odd = {"type": "conversation.list", "conversations": [{"state": "open"}], "total_count": 1}
    intercom.answer_next(odd, path="/conversations/search")

    with pytest.raises(TransientDeliveryError, match="answered something unexpected"):
        deliver(intercom, clock)

    assert intercom.replies_received() == 0


def test_a_conversation_found_without_updated_at_is_transient_and_writes_nothing(
    intercom, clock
) -> None:
    conversation = intercom.add_conversation(EMAIL)
    found = {"id": conversation, "state": "open", "created_at": int(clock())}
    odd = {"type": "conversation.list", "conversations": [found], "total_count": 1}
    intercom.answer_next(odd, path="/conversations/search")

    with pytest.raises(TransientDeliveryError, match=f"conversation {conversation} without upd"):
        deliver(intercom, clock, invoice(since=since_created_now(clock)))

    assert intercom.replies_received() == 0


def test_a_conversation_read_without_its_parts_is_transient_and_writes_nothing(
    intercom, clock
) -> None:
    conversation = intercom.add_conversation(EMAIL)
    odd = {"type": "conversation", "id": conversation, "conversation_parts": "none"}
    intercom.answer_next(odd, path=f"/conversations/{conversation}")

    with pytest.raises(TransientDeliveryError, match=f"read conversation {conversation}: answ"):
        deliver(intercom, clock, invoice(since=since_created_now(clock)))

    assert intercom.replies_received() == 0


def test_a_proxy_page_is_quoted_in_the_error(intercom, clock) -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    intercom.answer_next(page, status=502, path="/contacts/search")

    with pytest.raises(TransientDeliveryError) as raised:
        deliver(intercom, clock)

    assert str(raised.value).endswith("HTTP 502: <html><body>502 Bad Gateway</body></html>")


# ----------------------------------------------------------------------- throttling, faults


def test_a_spent_window_is_waited_out_as_its_reset_says(clock) -> None:
    # the two searches spend the window; the reply waits for the next one, 6.5 s away
    with IntercomSandbox(token=TOKEN, clock=clock, rate_limit=2) as sandbox:
        sandbox.add_admin(ADMIN)
        conversation = sandbox.add_conversation(EMAIL)

        outcome = deliver(sandbox, clock)

        assert clock.slept == [6.5]
        assert isinstance(outcome, Sent)
        assert len(admin_parts(sandbox, conversation)) == 1


def test_a_long_wait_goes_back_to_the_queue_with_it(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)
    intercom.fail_next(1, 429, retry_after=600, path="/reply")

    with pytest.raises(TransientDeliveryError) as raised:
        deliver(intercom, clock)

    assert raised.value.retry_after == 600
    assert clock.slept == []
    assert admin_parts(intercom, conversation) == []


def test_a_refused_token_is_permanent_and_names_the_config_keys(intercom, clock) -> None:
    intercom.add_conversation(EMAIL)
    wrong = "not-the-token-0123456789"

    with pytest.raises(PermanentDeliveryError) as raised:
        deliver(intercom, clock, token=wrong)

    message = str(raised.value)
    assert "[[helpdesks]] token and admin_id of shop theiere (intercom)" in message
    assert "Access Token Invalid" in message
    assert wrong not in message


def test_the_token_is_masked_where_the_service_quotes_it(intercom, clock, caplog) -> None:
    intercom.add_conversation(EMAIL)
    intercom.fault_message = f"upstream refused Authorization: Bearer {TOKEN}"
    intercom.fail_next(1, 400, path="/contacts/search")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PermanentDeliveryError) as raised:
        deliver(intercom, clock)

    assert "Bearer ***" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert TOKEN not in caplog.text


def test_an_unknown_admin_is_permanent_with_intercoms_message(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)

    with pytest.raises(PermanentDeliveryError, match="admin_not_found: Admin not found"):
        deliver(intercom, clock, admin_id="424242")

    assert admin_parts(intercom, conversation) == []


def test_a_server_error_on_the_reply_is_transient_and_not_repeated(intercom, clock) -> None:
    intercom.add_conversation(EMAIL)
    intercom.fail_next(1, 500, path="/reply")

    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        deliver(intercom, clock)

    assert intercom.replies_received() == 1


def test_a_refused_handover_check_writes_nothing(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)
    refusal = LeaseLost("job 7 is held by another worker now")

    def refuse() -> None:
        raise refusal

    with handover_check(refuse), pytest.raises(LeaseLost) as raised:
        deliver(intercom, clock)

    assert raised.value is refusal
    assert intercom.replies_received() == 0
    assert admin_parts(intercom, conversation) == []


def test_the_send_budget_is_one_reply_connecting_then_answering(intercom) -> None:
    assert config(intercom, timeout_seconds=7).send_budget_seconds == 2 * 7


# ------------------------------------------------------------------------- the doctor's check


def check(sandbox: IntercomSandbox, clock: FakeClock, **cfg: Any) -> str:
    return check_intercom(config(sandbox, **cfg), sleep=clock.sleep, clock=clock)


def check_refusal(sandbox: IntercomSandbox, clock: FakeClock, **cfg: Any) -> str:
    with pytest.raises(PermanentDeliveryError) as raised:
        check(sandbox, clock, **cfg)
    return str(raised.value)


def test_check_names_the_token_s_app_and_the_admin_notes_are_written_as(clock) -> None:
    with IntercomSandbox(token=TOKEN, clock=clock, app_name="La Théière") as sandbox:
        sandbox.add_admin("1001", name="Owner")
        sandbox.add_admin(ADMIN, name="Support Théière")

        assert check(sandbox, clock) == (
            "token of 'La Théière', notes written as 'Support Théière'"
        )


def test_check_writes_nothing(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)

    check(intercom, clock)

    assert [method for method, _, _ in intercom.requests] == ["GET", "GET"]
    assert intercom.replies_received() == 0
    assert admin_parts(intercom, conversation) == []


def test_check_asks_for_the_configured_admin(intercom, clock) -> None:
    check(intercom, clock)

    assert [path for _, path, _ in intercom.requests] == ["/me", f"/admins/{ADMIN}"]


def test_check_with_a_refused_token_is_permanent_and_names_the_keys(intercom, clock) -> None:
    wrong = "not-the-token-0123456789"

    message = check_refusal(intercom, clock, token=wrong)

    assert "HTTP 401" in message and "Access Token Invalid" in message
    assert "[[helpdesks]] token and admin_id of shop theiere (intercom)" in message


def test_check_of_an_unknown_admin_is_permanent_and_names_admin_id(intercom, clock) -> None:
    message = check_refusal(intercom, clock, admin_id="424242")

    assert "no admin 424242 in this workspace" in message
    assert "[[helpdesks]] admin_id of shop theiere (intercom)" in message
    assert "admin_not_found: Admin not found" in message


def test_check_never_quotes_the_token(intercom, clock) -> None:
    wrong = "not-the-token-0123456789"
    refused = check_refusal(intercom, clock, token=wrong)
    intercom.fault_message = f"upstream refused Authorization: Bearer {TOKEN}"
    intercom.fail_next(1, 404, path="/admins/")
    quoted = check_refusal(intercom, clock)

    assert wrong not in refused
    assert "Bearer ***" in quoted and TOKEN not in quoted


def test_check_of_an_unreachable_intercom_is_transient(intercom, clock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"

    with pytest.raises(TransientDeliveryError, match="cannot reach it"):
        check(intercom, clock, url=closed)


def test_check_of_an_odd_answer_is_transient(intercom, clock) -> None:
    intercom.answer_next(["not", "an", "admin"], path="/me")

    with pytest.raises(TransientDeliveryError, match="answered something unexpected"):
        check(intercom, clock)


def test_check_of_a_failing_intercom_is_transient(intercom, clock) -> None:
    intercom.fail_next(1, 500, path="/me")

    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        check(intercom, clock)


# ------------------------------------------------------------------------ the sandbox itself


def test_the_sandbox_answers_a_spent_window_as_intercom_does(clock) -> None:
    with IntercomSandbox(token=TOKEN, clock=clock, rate_limit=1) as sandbox:
        search = {"query": {"field": "email", "operator": "=", "value": EMAIL}}
        headers = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": API_VERSION}
        url = sandbox.url + "/contacts/search"
        requests.post(url, json=search, headers=headers, timeout=5)
        answer = requests.post(url, json=search, headers=headers, timeout=5)

    assert answer.status_code == 429
    assert answer.json()["errors"][0]["code"] == "rate_limit_exceeded"
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert int(answer.headers["X-RateLimit-Reset"]) == clock() + 6.5


def test_the_sandbox_closes_a_conversation_with_a_close_part(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL, updated_at=clock() - HOUR)

    intercom.close(conversation)

    closed = intercom.conversation(conversation)
    assert (closed["state"], closed["open"], closed["updated_at"]) == (
        "closed",
        False,
        int(clock()),
    )
    assert [(p["part_type"], p["author"]["id"]) for p in intercom.parts(conversation)] == [
        ("close", ADMIN)
    ]


def test_the_sandbox_serves_the_attachment_it_stored(intercom, clock) -> None:
    conversation = intercom.add_conversation(EMAIL)
    deliver(intercom, clock)

    (part,) = admin_parts(intercom, conversation)
    url = part["attachments"][0]["url"]
    assert re.match(rf"{re.escape(intercom.url)}/attachments/\d+/FA-2026-000042\.pdf$", url)
    assert requests.get(url, timeout=5).content == PDF


def test_the_sandbox_identifies_the_token_s_admin_with_its_app(intercom, clock) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": API_VERSION}

    me = requests.get(intercom.url + "/me", headers=headers, timeout=5).json()

    assert (me["type"], me["id"], me["name"]) == ("admin", ADMIN, "Support Théière")
    assert (me["app"]["type"], me["app"]["name"]) == ("app", "Boutique de test")


def test_the_sandbox_answers_an_unknown_admin_as_intercom_does(intercom, clock) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": API_VERSION}

    answer = requests.get(intercom.url + "/admins/424242", headers=headers, timeout=5)

    assert answer.status_code == 404
    assert answer.json()["errors"] == [{"code": "admin_not_found", "message": "Admin not found"}]


def test_a_reply_answered_without_our_part_is_retried_rather_than_recorded_bare(
    intercom, clock
) -> None:
    # a bare conversation id never matches what a later look compares: the next run reads
    # the note back and records it by its full id
    conversation = intercom.add_conversation(EMAIL)
    unnamed = {"type": "conversation", "id": conversation,
               "conversation_parts": {"conversation_parts": []}}  # fmt: skip
    intercom.answer_next(unnamed, path=f"/conversations/{conversation}/reply")
    with pytest.raises(TransientDeliveryError, match="names no part of ours"):
        deliver(intercom, clock)
