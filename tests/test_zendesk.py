"""The Zendesk channel against the Zendesk sandbox (a real HTTP server on loopback): which
ticket gets the document, what the note says, how Zendesk's refusals and odd answers are
sorted, that a job's earlier run is found instead of written twice (and a resend's original
is not), and the doctor's check."""

from __future__ import annotations

import base64
import dataclasses
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from bridge.config.channels import HelpdeskConfig
from bridge.delivery.channel import CLOCK_MARGIN, Handover, NothingToDo, Outcome, Sent
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.helpdesk.wording import note_text
from bridge.delivery.helpdesk.zendesk import add_to_zendesk, check_zendesk
from bridge.delivery.sandboxes.zendesk import ZendeskSandbox
from bridge.handover import handover_check
from tests.support.clock import FrozenClock
from tests.support.handovers import handover
from tests.support.waiting import HANG, eventually

AGENT = "agent@boutique.fr"
TOKEN = "zd-api-token-7Qx9vK2mLp"
CUSTOMER = "marie@example.fr"
NBSP = "\u00a0"
PDF = b"%PDF-1.7\n" + bytes(range(256)) + b"\r\n\x00binary tail\n%%EOF\n"


@pytest.fixture
def clock() -> FrozenClock:
    """Zendesk's clock, standing at the suite's now (whole seconds) until a test moves it."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def zendesk(clock: FrozenClock) -> Iterator[ZendeskSandbox]:
    with ZendeskSandbox(email=AGENT, token=TOKEN, now=clock) as sandbox:
        yield sandbox


def config(sandbox: ZendeskSandbox, **changes: Any) -> HelpdeskConfig:
    fields: dict[str, Any] = {
        "shop": "boutique",
        "kind": "zendesk",
        "url": sandbox.url,
        "email": AGENT,
        "token": SecretStr(TOKEN),
        "timeout_seconds": HANG,  # only there to turn a hang into a failure
    }
    return HelpdeskConfig(**(fields | changes))


def invoice(**changes: Any) -> Handover:
    return handover(**{"customer_email": CUSTOMER, "pdf": PDF,
                       "link": "https://factures.boutique.fr/c/abc123", **changes})  # fmt: skip


def job_run(clock: FrozenClock, created: datetime | None = None, **changes: Any) -> Handover:
    """The invoice as a job's run hands it over: the job created at `created` by our clock (a
    minute ago by Zendesk's, unless told), looking from CLOCK_MARGIN before, as the caller
    does."""
    created = created or clock() - timedelta(minutes=1)
    return invoice(since=created - CLOCK_MARGIN, **changes)


def resend_of(clock: FrozenClock, original: Outcome, **changes: Any) -> Handover:
    """A resend's run: a new job, the original delivery's id known."""
    assert isinstance(original, Sent)
    return job_run(clock, created=clock(), known=frozenset({original.external_id}), **changes)


def gets(sandbox: ZendeskSandbox) -> list[str]:
    return [path for method, path, _ in sandbox.requests if method == "GET"]


def credit_note(**changes: Any) -> Handover:
    fields = {
        "number": "AV-2026-000007",
        "kind": "credit_note",
        "amount": Decimal("12.50"),
        "filename": "AV-2026-000007.pdf",
    }
    return invoice(**(fields | changes))


def hand_over(
    sandbox: ZendeskSandbox, doc: Handover | None = None, waits: list[float] | None = None, **cfg
) -> Outcome:
    sleep = waits.append if waits is not None else _no_sleep
    return add_to_zendesk(config(sandbox, **cfg), doc or invoice(), sleep=sleep)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"asked to wait {seconds} s where no wait was expected")


def last_comment(sandbox: ZendeskSandbox, ticket_id: int) -> dict[str, Any]:
    return sandbox.comments(ticket_id)[-1]


def puts(sandbox: ZendeskSandbox) -> list[str]:
    return [path for method, path, _ in sandbox.requests if method == "PUT"]


# -- which ticket -----------------------------------------------------------------------------


def test_note_goes_to_the_most_recently_updated_open_ticket(zendesk: ZendeskSandbox) -> None:
    older = zendesk.add_ticket(CUSTOMER, status="open", updated_ago=timedelta(days=3))
    solved = zendesk.add_ticket(CUSTOMER, status="solved", updated_ago=timedelta(minutes=1))
    recent = zendesk.add_ticket(CUSTOMER, status="pending", updated_ago=timedelta(hours=2))

    outcome = hand_over(zendesk)

    assert isinstance(outcome, Sent)
    assert outcome.target == f"zendesk ticket #{recent}"
    assert len(zendesk.comments(recent)) == 2
    assert len(zendesk.comments(older)) == len(zendesk.comments(solved)) == 1


def test_another_customers_ticket_is_never_chosen(zendesk: ZendeskSandbox) -> None:
    # "marie@example.fr" is part of this address: the search's partial match must not count.
    other = zendesk.add_ticket("anne-marie@example.fr", status="open")

    outcome = hand_over(zendesk)

    assert isinstance(outcome, NothingToDo)
    assert len(zendesk.comments(other)) == 1


def test_sent_names_the_ticket_and_the_audit_of_the_note(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)

    outcome = hand_over(zendesk)

    assert isinstance(outcome, Sent) and not outcome.already
    assert outcome.external_id == f"{ticket}/{last_comment(zendesk, ticket)['audit_id']}"


# -- what is written --------------------------------------------------------------------------


def test_note_is_internal_by_default(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)

    outcome = hand_over(zendesk)

    assert isinstance(outcome, Sent) and outcome.detail == "internal note"
    assert last_comment(zendesk, ticket)["public"] is False


def test_note_is_a_public_reply_with_the_link_when_configured(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)

    outcome = hand_over(zendesk, public=True)

    comment = last_comment(zendesk, ticket)
    assert isinstance(outcome, Sent) and outcome.detail == "public reply"
    assert comment["public"] is True
    assert "https://factures.boutique.fr/c/abc123" in comment["body"]


def test_pdf_arrives_intact_as_a_pdf_attachment(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)

    hand_over(zendesk)

    [attachment] = last_comment(zendesk, ticket)["attachments"]
    assert attachment["file_name"] == "FA-2026-000042.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(PDF)
    assert zendesk.attachment_bytes(attachment["id"]) == PDF


def test_invoice_note_names_amount_order_and_customer(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)

    hand_over(zendesk)

    assert last_comment(zendesk, ticket)["body"] == (
        f"Facture FA-2026-000042 (42,00{NBSP}€, commande n° 1042) envoyée à "
        "marie@example.fr ; le PDF est joint."
    )


def test_credit_note_note_says_what_was_refunded(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)

    hand_over(zendesk, credit_note())

    assert last_comment(zendesk, ticket)["body"] == (
        f"Avoir AV-2026-000007 (12,50{NBSP}€ remboursés, commande n° 1042) envoyé à "
        "marie@example.fr ; le PDF est joint."
    )


def test_english_customer_gets_the_note_in_english() -> None:
    assert note_text(credit_note(locale="en"), public=False) == (
        "Credit note AV-2026-000007 (€12.50 refunded, order #1042) sent to marie@example.fr; "
        "the PDF is attached."
    )


def test_public_reply_without_a_link_offers_none() -> None:
    text = note_text(invoice(link=""), public=True)

    assert "FA-2026-000042" in text
    assert "http" not in text and "consulter" not in text


# -- no open ticket ---------------------------------------------------------------------------


def test_customer_unknown_to_zendesk_is_nothing_to_do(zendesk: ZendeskSandbox) -> None:
    outcome = hand_over(zendesk)

    assert outcome == NothingToDo(
        "no open Zendesk ticket for marie@example.fr: nothing to add FA-2026-000042 to "
        "(set open_ticket = true in its [[helpdesks]] table to open one)"
    )
    assert zendesk.uploads() == []


def test_customer_with_only_solved_and_closed_tickets_is_nothing_to_do(
    zendesk: ZendeskSandbox,
) -> None:
    zendesk.add_ticket(CUSTOMER, status="solved")
    zendesk.add_ticket(CUSTOMER, status="closed")

    assert isinstance(hand_over(zendesk), NothingToDo)
    assert zendesk.uploads() == []


def test_open_ticket_opens_one_with_the_note_and_the_pdf(zendesk: ZendeskSandbox) -> None:
    outcome = hand_over(zendesk, open_ticket=True)

    [ticket_id] = zendesk.tickets_of(CUSTOMER)
    ticket = zendesk.ticket(ticket_id)
    [comment] = zendesk.comments(ticket_id)
    assert outcome == Sent(
        f"{ticket_id}/{comment['audit_id']}", f"zendesk ticket #{ticket_id}", "new ticket"
    )
    assert ticket["subject"] == "Facture FA-2026-000042"
    assert zendesk.users[ticket["requester_id"]]["name"] == "Marie Dupont"
    assert comment["public"] is False
    assert [a["file_name"] for a in comment["attachments"]] == ["FA-2026-000042.pdf"]


def test_opened_ticket_belongs_to_the_existing_user(zendesk: ZendeskSandbox) -> None:
    zendesk.add_ticket(CUSTOMER, status="solved")
    user_id = zendesk.add_user(CUSTOMER)

    outcome = hand_over(zendesk, open_ticket=True)

    assert isinstance(outcome, Sent) and outcome.detail == "new ticket"
    ticket_id = int(outcome.external_id.split("/")[0])
    assert zendesk.ticket(ticket_id)["requester_id"] == user_id


# -- a job's earlier run, a resend -------------------------------------------------------------


def test_retry_finds_its_earlier_runs_note_and_writes_nothing(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)
    first = hand_over(zendesk, job_run(clock))
    assert isinstance(first, Sent)

    again = hand_over(zendesk, job_run(clock))

    assert again == dataclasses.replace(first, already=True)
    assert len(zendesk.comments(ticket)) == 2
    assert len(zendesk.uploads()) == 1


def test_retry_finds_its_note_on_a_ticket_solved_since_and_pushed_down_by_newer_ones(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    run = job_run(clock)
    first_ticket = zendesk.add_ticket(CUSTOMER, updated_ago=timedelta(hours=1))
    hand_over(zendesk, run)
    clock.advance(minutes=1)
    zendesk.set_status(first_ticket, "solved")
    newer = []
    for _ in range(5):
        clock.advance(seconds=30)
        newer.append(zendesk.add_ticket(CUSTOMER, status="open"))

    again = hand_over(zendesk, run)

    assert isinstance(again, Sent) and again.already
    assert again.target == f"zendesk ticket #{first_ticket}"
    assert all(len(zendesk.comments(ticket)) == 1 for ticket in newer)


def test_retry_finds_its_note_past_the_first_page_of_tickets_updated_since(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    run = job_run(clock)
    first_ticket = zendesk.add_ticket(CUSTOMER)
    hand_over(zendesk, run)
    clock.advance(seconds=1)
    newer = [zendesk.add_ticket(CUSTOMER, status="open") for _ in range(100)]

    again = hand_over(zendesk, run)

    assert isinstance(again, Sent) and again.already
    assert again.target == f"zendesk ticket #{first_ticket}"
    assert len(zendesk.comments(newer[-1])) == 1


def test_first_run_with_no_ticket_updated_since_reads_no_comments(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    ticket = zendesk.add_ticket(CUSTOMER, updated_ago=timedelta(hours=2))
    requester = zendesk.ticket(ticket)["requester_id"]

    outcome = hand_over(zendesk, job_run(clock))

    assert isinstance(outcome, Sent) and not outcome.already
    assert gets(zendesk) == [
        "/api/v2/users/search",
        f"/api/v2/users/{requester}/tickets/requested",
    ]


def test_retry_without_its_note_adds_it(zendesk: ZendeskSandbox, clock: FrozenClock) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)
    hand_over(zendesk, job_run(clock, number="FA-2026-000041", filename="FA-2026-000041.pdf"))

    outcome = hand_over(zendesk, job_run(clock))

    assert isinstance(outcome, Sent) and not outcome.already
    assert "FA-2026-000042" in last_comment(zendesk, ticket)["body"]


def test_retry_ignores_the_customers_own_copy_of_the_pdf(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    # The customer sent the PDF back ("it is wrong"): same file name, not our note.
    ticket = zendesk.add_ticket(CUSTOMER)
    zendesk.add_comment(ticket, "Ma facture est fausse", files={"FA-2026-000042.pdf": PDF})

    outcome = hand_over(zendesk, job_run(clock))

    assert isinstance(outcome, Sent) and not outcome.already
    assert len(zendesk.comments(ticket)) == 3


def test_retry_finds_its_note_when_zendesks_clock_is_minutes_behind_ours(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    # The job was created now by our clock, which Zendesk's is 4 minutes behind: the note is
    # stamped before the job's creation, and must still be found.
    ticket = zendesk.add_ticket(CUSTOMER)
    run = job_run(clock, created=clock() + timedelta(minutes=4))
    hand_over(zendesk, run)
    clock.advance(seconds=20)

    again = hand_over(zendesk, run)

    assert isinstance(again, Sent) and again.already
    assert len(zendesk.comments(ticket)) == 2


def test_resend_within_the_same_minute_writes_a_new_note(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)
    original = hand_over(zendesk, job_run(clock))
    clock.advance(seconds=20)

    resent = hand_over(zendesk, resend_of(clock, original))

    assert isinstance(resent, Sent) and not resent.already
    assert resent != original
    assert len(zendesk.comments(ticket)) == 3
    assert len(zendesk.uploads()) == 2


def test_resends_retry_finds_the_resends_note_not_the_original(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    zendesk.add_ticket(CUSTOMER)
    original = hand_over(zendesk, job_run(clock))
    clock.advance(seconds=20)
    resend = resend_of(clock, original)
    resent = hand_over(zendesk, resend)
    assert isinstance(resent, Sent)

    again = hand_over(zendesk, resend)

    assert again == dataclasses.replace(resent, already=True)


def test_opened_ticket_carries_the_shop_and_the_documents_number_as_external_id(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    hand_over(zendesk, job_run(clock), open_ticket=True)

    [ticket_id] = zendesk.tickets_of(CUSTOMER)
    assert zendesk.ticket(ticket_id)["external_id"] == "quittance:boutique:FA-2026-000042"


def foreign_ticket(sandbox: ZendeskSandbox, requester: str, external_id: str) -> int:
    """A ticket opened just now by someone else, carrying a note like ours for the invoice."""
    ticket = sandbox.add_ticket(requester, external_id=external_id)
    sandbox.add_comment(ticket, "Facture FA-2026-000042", files={"FA-2026-000042.pdf": PDF})
    return ticket


def test_foreign_ticket_with_the_same_bare_number_is_not_taken_for_ours(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    foreign = foreign_ticket(zendesk, "paul@example.com", "FA-2026-000042")

    outcome = hand_over(zendesk, job_run(clock), open_ticket=True)

    assert isinstance(outcome, Sent) and not outcome.already
    assert outcome.target != f"zendesk ticket #{foreign}"
    assert len(zendesk.tickets_of(CUSTOMER)) == 1


def test_ticket_with_our_external_id_requested_by_someone_else_is_not_taken_for_ours(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    foreign = foreign_ticket(zendesk, "paul@example.com", "quittance:boutique:FA-2026-000042")

    outcome = hand_over(zendesk, job_run(clock), open_ticket=True)

    assert isinstance(outcome, Sent) and not outcome.already
    assert outcome.target != f"zendesk ticket #{foreign}"
    assert len(zendesk.tickets_of(CUSTOMER)) == 1


def test_retry_after_a_timed_out_ticket_creation_opens_no_second_ticket(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    # Zendesk took the creation after we gave up waiting, and the user it created for the
    # requester is not in the search index yet: the retry finds the ticket by external_id.
    zendesk.search_lag = True
    run = job_run(clock)
    slow = handover_check(lambda: zendesk.fail_next(1, None, delay=2.0, path="/tickets"))
    with slow, pytest.raises(TransientDeliveryError, match="cannot reach it"):
        hand_over(zendesk, run, open_ticket=True, timeout_seconds=1.0)
    [ticket_id] = eventually("the ticket Zendesk opened late", lambda: zendesk.tickets_of(CUSTOMER))
    [comment] = zendesk.comments(ticket_id)

    again = hand_over(zendesk, run, open_ticket=True)

    assert again == Sent(
        f"{ticket_id}/{comment['audit_id']}", f"zendesk ticket #{ticket_id}", "new ticket", True
    )
    assert zendesk.tickets_of(CUSTOMER) == [ticket_id]
    assert len(zendesk.uploads()) == 1


def test_retry_of_an_opened_ticket_reports_the_same_ticket(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    first = hand_over(zendesk, job_run(clock), open_ticket=True)

    again = hand_over(zendesk, job_run(clock), open_ticket=True)

    assert again == dataclasses.replace(first, already=True)
    assert len(zendesk.tickets_of(CUSTOMER)) == 1


def test_resend_opens_a_new_ticket_when_the_original_one_is_solved(
    zendesk: ZendeskSandbox, clock: FrozenClock
) -> None:
    original = hand_over(zendesk, job_run(clock), open_ticket=True)
    assert isinstance(original, Sent)
    zendesk.set_status(int(original.external_id.split("/")[0]), "solved")
    clock.advance(seconds=20)

    resent = hand_over(zendesk, resend_of(clock, original), open_ticket=True)

    assert isinstance(resent, Sent) and not resent.already
    assert resent.detail == "new ticket"
    assert len(zendesk.tickets_of(CUSTOMER)) == 2


# -- throttling and failures ------------------------------------------------------------------


def test_short_retry_after_is_waited_once_then_the_note_is_added(
    zendesk: ZendeskSandbox,
) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)
    zendesk.fail_next(1, 429, retry_after=2, path="/users/search")
    waits: list[float] = []

    outcome = hand_over(zendesk, waits=waits)

    assert isinstance(outcome, Sent)
    assert waits == [2.0]
    assert len(zendesk.comments(ticket)) == 2


def test_long_retry_after_goes_back_to_the_queue_with_it(zendesk: ZendeskSandbox) -> None:
    zendesk.add_ticket(CUSTOMER)
    zendesk.fail_next(1, 429, retry_after=600)

    with pytest.raises(TransientDeliveryError) as caught:
        hand_over(zendesk)

    assert caught.value.retry_after == 600.0
    assert zendesk.uploads() == []


def test_throttled_update_is_not_retried_within_the_handover(zendesk: ZendeskSandbox) -> None:
    # After the lease check the hand-over must fit its budget: no in-process wait there.
    ticket = zendesk.add_ticket(CUSTOMER)
    zendesk.fail_next(1, 429, retry_after=2, path=f"/api/v2/tickets/{ticket}")

    with pytest.raises(TransientDeliveryError) as caught:
        hand_over(zendesk)

    assert caught.value.retry_after == 2.0
    assert len(puts(zendesk)) == 1


def test_refused_token_is_permanent_names_the_keys_and_hides_the_token(
    zendesk: ZendeskSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    zendesk.add_ticket(CUSTOMER)
    wrong = "zd-api-token-WRONG-4242"
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PermanentDeliveryError) as caught:
        hand_over(zendesk, token=SecretStr(wrong))

    message = str(caught.value)
    assert "[[helpdesks]] email and token of shop boutique (zendesk)" in message
    assert "Couldn't authenticate you" in message
    for secret in (wrong, TOKEN):
        assert secret not in message and secret not in repr(caught.value)
        assert secret not in caplog.text


def test_server_error_on_the_update_is_transient_and_not_repeated(
    zendesk: ZendeskSandbox,
) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)
    zendesk.fail_next(1, 500, path=f"/api/v2/tickets/{ticket}")

    with pytest.raises(TransientDeliveryError):
        hand_over(zendesk)

    assert len(puts(zendesk)) == 1
    assert len(zendesk.comments(ticket)) == 1


def test_colliding_update_409_is_transient(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)
    zendesk.fail_next(1, 409, path=f"/api/v2/tickets/{ticket}")

    with pytest.raises(TransientDeliveryError, match=r"HTTP 409.*DatabaseConflict"):
        hand_over(zendesk)

    assert len(zendesk.comments(ticket)) == 1


def test_concurrent_user_creation_409_on_a_new_ticket_is_transient(
    zendesk: ZendeskSandbox,
) -> None:
    zendesk.fail_next(1, 409, path="/api/v2/tickets")

    with pytest.raises(TransientDeliveryError, match="HTTP 409"):
        hand_over(zendesk, open_ticket=True)

    assert zendesk.tickets_of(CUSTOMER) == []


def basic_credentials(token: str = TOKEN) -> str:
    return base64.b64encode(f"{AGENT}/token:{token}".encode()).decode()


def test_proxy_echoing_the_authorization_header_shows_neither_credentials_nor_token(
    zendesk: ZendeskSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    zendesk.add_ticket(CUSTOMER)
    zendesk.echo_headers_next(502)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(TransientDeliveryError) as caught:
        hand_over(zendesk)

    message = str(caught.value)
    assert "Authorization: Basic ***" in message
    for secret in (basic_credentials(), TOKEN):
        assert secret not in message and secret not in caplog.text


def test_credentials_cut_short_by_the_quoted_300_characters_are_masked(
    zendesk: ZendeskSandbox,
) -> None:
    # The quote ends 10 characters into the Basic credentials: that start is masked too.
    header = "Authorization: Basic "
    zendesk.echo_headers_next(502, lead="." * (300 - len(header) - 10))

    with pytest.raises(TransientDeliveryError) as caught:
        hand_over(zendesk)

    message = str(caught.value)
    assert message.endswith(f"{header}***")
    assert basic_credentials()[:10] not in message


def test_user_without_an_id_is_an_unexpected_answer_and_transient(
    zendesk: ZendeskSandbox,
) -> None:
    zendesk.add_ticket(CUSTOMER)
    zendesk.answer_next({"users": [{"email": CUSTOMER}], "count": 1}, path="/users/search")

    with pytest.raises(TransientDeliveryError, match="look up the customer: answered something"):
        hand_over(zendesk)

    assert zendesk.uploads() == []


def test_ticket_list_that_is_no_list_is_an_unexpected_answer_and_transient(
    zendesk: ZendeskSandbox,
) -> None:
    zendesk.add_ticket(CUSTOMER)
    zendesk.answer_next({"tickets": {"id": 1}}, path="/tickets/requested")

    with pytest.raises(TransientDeliveryError, match="answered something unexpected"):
        hand_over(zendesk)


def test_opened_ticket_answered_without_its_id_is_transient(zendesk: ZendeskSandbox) -> None:
    zendesk.answer_next({"ticket": {"status": "new"}}, status=201, path="/api/v2/tickets")

    with pytest.raises(TransientDeliveryError, match="open a ticket for FA-2026-000042: answered"):
        hand_over(zendesk, open_ticket=True)


def test_expired_upload_token_is_transient(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)
    zendesk.upload_lifetime = timedelta(0)

    with pytest.raises(TransientDeliveryError, match="upload was refused"):
        hand_over(zendesk)

    assert len(zendesk.comments(ticket)) == 1


def test_note_written_without_its_pdf_is_transient(zendesk: ZendeskSandbox) -> None:
    # Should Zendesk drop a stale token instead of refusing it, the note lacks the PDF: the
    # next run must add one that carries it rather than report this one as sent.
    zendesk.add_ticket(CUSTOMER)
    zendesk.upload_lifetime = timedelta(0)
    zendesk.stale_uploads_ignored = True

    with pytest.raises(TransientDeliveryError, match="without its PDF"):
        hand_over(zendesk)


def test_other_refusal_of_the_update_is_permanent(zendesk: ZendeskSandbox) -> None:
    # A 422 neither about the upload nor a closed ticket (a field the account requires…)
    # will be refused again: retrying it would only delay the owner's alert.
    ticket = zendesk.add_ticket(CUSTOMER)
    zendesk.fail_next(1, 422, path=f"/api/v2/tickets/{ticket}")

    with pytest.raises(PermanentDeliveryError, match="HTTP 422"):
        hand_over(zendesk)


def test_ticket_deleted_before_the_update_is_permanent(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)

    deleted_meanwhile = handover_check(lambda: zendesk.delete_ticket(ticket))
    with deleted_meanwhile, pytest.raises(PermanentDeliveryError, match="RecordNotFound"):
        hand_over(zendesk)


def test_ticket_closed_before_the_update_is_transient(zendesk: ZendeskSandbox) -> None:
    ticket = zendesk.add_ticket(CUSTOMER)

    closed_meanwhile = handover_check(lambda: zendesk.set_status(ticket, "closed"))
    with closed_meanwhile, pytest.raises(TransientDeliveryError, match="closed"):
        hand_over(zendesk)


def test_refused_handover_check_uploads_nothing(zendesk: ZendeskSandbox) -> None:
    zendesk.add_ticket(CUSTOMER)
    refusal = RuntimeError("lease taken over")

    def refuse() -> None:
        raise refusal

    with handover_check(refuse), pytest.raises(RuntimeError) as caught:
        hand_over(zendesk)

    assert caught.value is refusal
    assert zendesk.uploads() == []
    assert puts(zendesk) == []


def test_send_budget_is_the_upload_plus_the_update_each_connecting_then_answering(
    zendesk: ZendeskSandbox,
) -> None:
    assert config(zendesk, timeout_seconds=7).send_budget_seconds == 2 * 2 * 7


# -- the doctor's check -----------------------------------------------------------------------


def check(sandbox: ZendeskSandbox, **cfg: Any) -> str:
    return check_zendesk(config(sandbox, **cfg), sleep=_no_sleep)


def check_refusal(sandbox: ZendeskSandbox, **cfg: Any) -> str:
    with pytest.raises(PermanentDeliveryError) as caught:
        check(sandbox, **cfg)
    return str(caught.value)


def test_check_names_the_signed_in_agent_and_role(zendesk: ZendeskSandbox) -> None:
    assert check(zendesk) == f"signed in as {AGENT} (agent)"


def test_check_accepts_an_admin(zendesk: ZendeskSandbox) -> None:
    zendesk.set_role(zendesk.agent_id, "admin")

    assert check(zendesk) == f"signed in as {AGENT} (admin)"


def test_check_reads_only_who_is_signed_in(zendesk: ZendeskSandbox) -> None:
    check(zendesk)

    assert [(method, path) for method, path, _ in zendesk.requests] == [("GET", "/api/v2/users/me")]


def test_check_with_a_refused_token_is_permanent_and_names_the_keys(
    zendesk: ZendeskSandbox,
) -> None:
    message = check_refusal(zendesk, token=SecretStr("zd-api-token-WRONG-4242"))

    assert "HTTP 401" in message and "credentials refused" in message
    assert "[[helpdesks]] email and token of shop boutique (zendesk)" in message


def test_check_signed_in_anonymously_is_refused_credentials(zendesk: ZendeskSandbox) -> None:
    # Zendesk may answer users/me 200 with the anonymous user (id null) to bad credentials.
    zendesk.anonymous_me = True

    message = check_refusal(zendesk, token=SecretStr("zd-api-token-WRONG-4242"))

    assert "anonymous user, credentials refused" in message
    assert "[[helpdesks]] email and token of shop boutique (zendesk)" in message


def test_check_signed_in_as_an_end_user_is_permanent(zendesk: ZendeskSandbox) -> None:
    zendesk.set_role(zendesk.agent_id, "end-user")

    message = check_refusal(zendesk)

    assert f"signed in as {AGENT} (end-user), who cannot add notes" in message
    assert "[[helpdesks]] email and token of shop boutique (zendesk)" in message


def test_check_never_quotes_the_token(zendesk: ZendeskSandbox) -> None:
    wrong = "zd-api-token-WRONG-4242"
    refused = check_refusal(zendesk, token=SecretStr(wrong))
    zendesk.anonymous_me = True
    anonymous = check_refusal(zendesk, token=SecretStr(wrong))

    for message in (refused, anonymous):
        assert wrong not in message and TOKEN not in message


def test_check_of_an_unreachable_zendesk_is_transient(zendesk: ZendeskSandbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    waits: list[float] = []

    with pytest.raises(TransientDeliveryError, match="check the credentials: cannot reach it"):
        check_zendesk(config(zendesk, url=closed), sleep=waits.append)


def test_check_of_a_failing_zendesk_is_transient(zendesk: ZendeskSandbox) -> None:
    zendesk.fail_next(1, 503, path="/users/me")

    with pytest.raises(TransientDeliveryError, match="HTTP 503"):
        check(zendesk)


def test_sandbox_answers_users_me_with_the_agent_and_an_authenticity_token(
    zendesk: ZendeskSandbox,
) -> None:
    answer = requests.get(
        f"{zendesk.url}/api/v2/users/me", auth=(f"{AGENT}/token", TOKEN), timeout=HANG
    )

    user = answer.json()["user"]
    assert (answer.status_code, user["id"], user["email"], user["role"]) == (
        200,
        zendesk.agent_id,
        AGENT,
        "agent",
    )
    assert user["authenticity_token"]


def test_sandbox_answers_users_me_anonymously_when_told(zendesk: ZendeskSandbox) -> None:
    zendesk.anonymous_me = True

    answer = requests.get(f"{zendesk.url}/api/v2/users/me", timeout=HANG)

    user = answer.json()["user"]
    assert (answer.status_code, user["id"], user["role"]) == (200, None, "end-user")


def test_a_note_answered_without_its_audit_id_is_retried_rather_than_recorded_bare(
    zendesk: ZendeskSandbox,
) -> None:
    # a bare ticket id never matches what a later look compares: the next run reads the
    # note back and records it by its full id
    ticket = zendesk.add_ticket(CUSTOMER)
    zendesk.answer_next({"ticket": {"id": ticket, "status": "open"}}, path=f"/tickets/{ticket}")
    with pytest.raises(TransientDeliveryError, match="without an audit id"):
        add_to_zendesk(config(zendesk), invoice())
