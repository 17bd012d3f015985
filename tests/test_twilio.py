"""Texting through Twilio's Messages API, against the local Twilio sandbox: what is sent, how
each refusal is classified, looking for an earlier run's text (apart from the send, as a job's
run does it: look, then send when nothing is found), the doctor's check of the account; and
the sandbox's contract."""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from bridge.config.channels import SmsConfig
from bridge.delivery.channel import CLOCK_MARGIN, Sent
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.sandboxes.twilio import TwilioSandbox
from bridge.delivery.sms import twilio
from bridge.delivery.sms.twilio import check_twilio, find_earlier_text, send_twilio
from bridge.failures import HandoverRefused
from bridge.handover import handover_check
from tests.support.waiting import HANG

TO = "+33612345678"
SENDER = "+33757000000"
BODY = "MaBoutique : facture FA-2026-000042 (42,00 €, commande 1042) acquittée."
MARKER = "FA-2026-000042"


def _since(created: datetime | None = None) -> datetime:
    """`since` as the caller gives it: the job's creation (a minute ago unless said) less the
    margin for Twilio's clock."""
    return (created or datetime.now(UTC) - timedelta(minutes=1)) - CLOCK_MARGIN


@pytest.fixture
def sandbox() -> Iterator[TwilioSandbox]:
    with TwilioSandbox(landlines={"+33123456789"}, opted_out={"+33698765432"}) as server:
        yield server


def _cfg(sandbox: TwilioSandbox, **changes: Any) -> SmsConfig:
    values: dict[str, Any] = {
        "shop": "woo",
        "api_url": sandbox.url,
        "account_sid": sandbox.account_sid,
        "auth_token": sandbox.auth_token,
        "sender": SENDER,
        "timeout_seconds": 5.0,
    }
    return SmsConfig(**{**values, **changes})


class Sleeps(list[float]):
    """Stands in for time.sleep: records the waits, waits none."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _send(
    sandbox: TwilioSandbox,
    to: str = TO,
    *,
    sleep: Callable[[float], None] | None = None,
    **changes: Any,
) -> Sent:
    return send_twilio(
        _cfg(sandbox, **changes), to, BODY, sleep=sleep if sleep is not None else Sleeps()
    )


def _find(
    sandbox: TwilioSandbox,
    *,
    since: datetime,
    known: frozenset[str] = frozenset(),
    to: str = TO,
    **changes: Any,
) -> Sent | None:
    return find_earlier_text(
        _cfg(sandbox, **changes), to, marker=MARKER, since=since, known=known, sleep=Sleeps()
    )


def _run(sandbox: TwilioSandbox, *, since: datetime, known: frozenset[str] = frozenset()) -> Sent:
    """A job's run: look for its earlier text, send only when there is none."""
    return _find(sandbox, since=since, known=known) or _send(sandbox)


def _refusal(sandbox: TwilioSandbox, to: str = TO, **changes: Any) -> str:
    with pytest.raises(PermanentDeliveryError) as caught:
        _send(sandbox, to, **changes)
    return str(caught.value)


def _posts(sandbox: TwilioSandbox) -> int:
    return sum(method == "POST" for method, _, _ in sandbox.requests)


def _gets(sandbox: TwilioSandbox) -> list[dict[str, str]]:
    return [query for method, _, query in sandbox.requests if method == "GET"]


# -- sending --------------------------------------------------------------------------------


def test_a_text_is_sent_to_the_number_from_the_sender_with_the_body(
    sandbox: TwilioSandbox,
) -> None:
    _send(sandbox)
    [message] = sandbox.messages
    assert (message.to, message.sender, message.body) == (TO, SENDER, BODY)


def test_the_sent_result_carries_twilio_s_message_sid_and_status(sandbox: TwilioSandbox) -> None:
    sent = _send(sandbox)
    assert (sent.external_id, sent.target, sent.detail, sent.already) == (
        sandbox.messages[0].sid,
        TO,
        "twilio queued",
        False,
    )


def test_a_messaging_service_sender_goes_as_messaging_service_sid(
    sandbox: TwilioSandbox,
) -> None:
    service = "MG" + "0" * 32
    cfg = _cfg(sandbox, sender=service)
    sent = send_twilio(cfg, TO, BODY, sleep=Sleeps())
    [message] = sandbox.messages
    assert (message.messaging_service_sid, message.sender) == (service, None)
    assert sent.detail == "twilio accepted"


def test_a_sender_name_beginning_with_mg_is_still_a_from(sandbox: TwilioSandbox) -> None:
    _send(sandbox, sender="MGBoutique")
    assert sandbox.messages[0].sender == "MGBoutique"


def test_the_send_budget_is_one_request_connecting_then_awaiting_the_answer(
    sandbox: TwilioSandbox,
) -> None:
    assert _cfg(sandbox, timeout_seconds=7.0).send_budget_seconds == 14.0


# -- refusals -------------------------------------------------------------------------------


def test_refused_credentials_are_permanent_and_name_the_keys_to_check(
    sandbox: TwilioSandbox,
) -> None:
    message = _refusal(sandbox, auth_token="not-the-token")
    assert "HTTP 401" in message and "error 20003" in message
    assert "[[sms]] account_sid and auth_token of shop woo" in message


def test_the_auth_token_never_appears_in_an_error(sandbox: TwilioSandbox) -> None:
    sandbox.refusals[TO] = (21408, f"Permission denied for token {sandbox.auth_token}")
    message = _refusal(sandbox)
    assert sandbox.auth_token not in message
    assert "***" in message


def test_the_base64_credentials_never_appear_in_an_error(sandbox: TwilioSandbox) -> None:
    # What a proxy echoing the Authorization header would show.
    pair = f"{sandbox.account_sid}:{sandbox.auth_token}".encode()
    encoded = base64.b64encode(pair).decode()
    sandbox.refusals[TO] = (21408, f"Denied for Authorization: Basic {encoded}")
    message = _refusal(sandbox)
    assert encoded not in message
    assert "Basic ***" in message


def test_a_number_not_in_e164_is_permanent_with_twilio_s_code(sandbox: TwilioSandbox) -> None:
    assert "error 21211" in _refusal(sandbox, "0612345678")


def test_a_landline_is_permanent_and_said_not_a_mobile(sandbox: TwilioSandbox) -> None:
    message = _refusal(sandbox, "+33123456789")
    assert "error 21614" in message and "not a mobile" in message


def test_a_customer_who_replied_stop_is_permanent_and_said_so(sandbox: TwilioSandbox) -> None:
    message = _refusal(sandbox, "+33698765432")
    assert "error 21610" in message and "STOP" in message


def test_a_country_not_enabled_is_permanent_and_points_to_the_permissions(
    sandbox: TwilioSandbox,
) -> None:
    sandbox.refusals[TO] = (21408, "Permission to send an SMS has not been enabled")
    message = _refusal(sandbox)
    assert "error 21408" in message and "geographic permissions" in message


def test_a_sender_the_account_cannot_use_is_permanent_and_names_the_setting(
    sandbox: TwilioSandbox,
) -> None:
    sandbox.senders = {"+33757111111"}
    message = _refusal(sandbox)
    assert "error 21606" in message and "[[sms]] sender" in message


def test_a_full_sender_queue_is_transient(sandbox: TwilioSandbox) -> None:
    sandbox.refusals[TO] = (21611, "This 'From' number has exceeded the maximum queue size")
    with pytest.raises(TransientDeliveryError, match="21611"):
        _send(sandbox)


# -- throttling and outages -----------------------------------------------------------------


def test_a_short_429_is_waited_out_and_the_text_sent_once(sandbox: TwilioSandbox) -> None:
    sandbox.fail_next(1, 429, retry_after=2)
    sleeps = Sleeps()
    _send(sandbox, sleep=sleeps)
    assert sleeps == [2.0]
    assert len(sandbox.messages) == 1


def test_a_long_429_goes_back_to_the_queue_with_its_wait(sandbox: TwilioSandbox) -> None:
    sandbox.fail_next(1, 429, retry_after=120)
    with pytest.raises(TransientDeliveryError) as caught:
        _send(sandbox)
    assert caught.value.retry_after == 120.0
    assert sandbox.messages == []


def test_a_server_error_is_transient_and_not_repeated_at_once(sandbox: TwilioSandbox) -> None:
    # a 5xx may have come after the text left: the next run looks before sending again
    sandbox.fail_next(1, 500)
    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        _send(sandbox)
    assert _posts(sandbox) == 1


def test_a_503_s_retry_after_is_kept_for_the_queue(sandbox: TwilioSandbox) -> None:
    sandbox.fail_next(1, 503, retry_after=60)
    with pytest.raises(TransientDeliveryError) as caught:
        _send(sandbox)
    assert caught.value.retry_after == 60.0


def test_a_gateway_that_cannot_be_reached_is_transient(sandbox: TwilioSandbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(TransientDeliveryError, match="cannot reach it"):
        _send(sandbox, api_url=closed)


def test_a_2xx_without_a_message_sid_is_transient(sandbox: TwilioSandbox) -> None:
    sandbox.fail_next(1, 200)  # a JSON answer, but not a message
    with pytest.raises(TransientDeliveryError, match="without a message sid"):
        _send(sandbox)


# -- the check before the hand-over ---------------------------------------------------------


def test_a_refused_handover_check_stops_the_send_and_is_let_through(
    sandbox: TwilioSandbox,
) -> None:
    refusal = HandoverRefused("lease lost")

    def check() -> None:
        raise refusal

    with handover_check(check), pytest.raises(HandoverRefused) as caught:
        _send(sandbox)
    assert caught.value is refusal
    assert _posts(sandbox) == 0


def test_the_handover_check_is_made_right_before_the_send_s_request(
    sandbox: TwilioSandbox,
) -> None:
    seen: list[int] = []
    with handover_check(lambda: seen.append(len(sandbox.requests))):
        _send(sandbox)
    assert (seen, _posts(sandbox)) == ([0], 1)


def test_the_look_up_writes_nothing_so_a_refused_handover_check_does_not_stop_it(
    sandbox: TwilioSandbox,
) -> None:
    since = _since()
    earlier = _left(sandbox, TO, BODY, at=since + timedelta(minutes=5))

    def check() -> None:
        raise HandoverRefused("lease lost")

    with handover_check(check):
        found = _find(sandbox, since=since)
    assert found is not None and found.external_id == earlier.sid


def test_each_quick_retry_checks_again_before_its_request(sandbox: TwilioSandbox) -> None:
    sandbox.fail_next(1, 429, retry_after=1)
    checks: list[None] = []
    with handover_check(lambda: checks.append(None)):
        _send(sandbox)
    assert len(checks) == 2


# -- looking for an earlier run's text -------------------------------------------------------


def _left(sandbox: TwilioSandbox, to: str, body: str, **kwargs: Any) -> Any:
    """A text an earlier run (or job) left, from the shop's sender."""
    return sandbox.record(to, body, sender=SENDER, **kwargs)


def test_an_earlier_text_about_the_document_is_reported_as_already_sent(
    sandbox: TwilioSandbox,
) -> None:
    since = _since()
    earlier = _left(sandbox, TO, BODY, at=since + timedelta(minutes=5))
    assert _find(sandbox, since=since) == Sent(
        earlier.sid, target=TO, detail="twilio delivered (sent by an earlier attempt)", already=True
    )


def test_sending_does_not_look_for_an_earlier_text(sandbox: TwilioSandbox) -> None:
    _left(sandbox, TO, BODY)
    assert _send(sandbox).already is False
    assert _gets(sandbox) == []


def test_a_queued_text_sent_by_an_earlier_run_is_found_and_not_sent_again(
    sandbox: TwilioSandbox,
) -> None:
    since = _since()
    first = _run(sandbox, since=since)  # Twilio still holds it: queued, no date_sent
    again = _run(sandbox, since=since)
    assert (again.external_id, again.already, again.detail) == (
        first.external_id,
        True,
        "twilio queued (sent by an earlier attempt)",
    )
    assert _posts(sandbox) == 1


def test_a_delivered_text_sent_by_an_earlier_run_is_found_and_not_sent_again(
    sandbox: TwilioSandbox,
) -> None:
    since = _since()
    first = _run(sandbox, since=since)
    sandbox.deliver(first.external_id)
    assert _run(sandbox, since=since).detail == "twilio delivered (sent by an earlier attempt)"
    assert _posts(sandbox) == 1


def test_a_retry_finds_its_own_queued_text_when_twilio_s_clock_is_behind_ours() -> None:
    # Twilio dates the text four minutes before our job was created: within since's margin.
    with TwilioSandbox(now=lambda: datetime.now(UTC) - timedelta(minutes=4)) as behind:
        since = _since(datetime.now(UTC))
        first = _run(behind, since=since)
        again = _run(behind, since=since)
        assert (again.external_id, again.already) == (first.external_id, True)
        assert _posts(behind) == 1


def test_a_listing_where_an_older_sent_text_comes_first_still_finds_our_queued_text(
    sandbox: TwilioSandbox,
) -> None:
    since = _since()
    ours = _left(sandbox, TO, BODY, at=since + timedelta(minutes=5), status="queued")
    # Listed first: Twilio sorts by DateSent, and ours has none yet.
    _left(sandbox, TO, "FA-2026-000041 acquittée", at=since - timedelta(days=3))
    found = _find(sandbox, since=since)
    assert found is not None and found.external_id == ours.sid


def test_a_resend_does_not_take_the_original_s_text_for_its_own_and_sends(
    sandbox: TwilioSandbox,
) -> None:
    # The owner resends three minutes after the original: within the resend's since margin.
    created = datetime.now(UTC)
    original = _left(sandbox, TO, BODY, at=created - timedelta(minutes=3))
    sent = _run(sandbox, since=_since(created), known=frozenset({original.sid}))
    assert sent.already is False and sent.external_id != original.sid
    assert _posts(sandbox) == 1


def test_a_resend_s_retry_finds_its_own_text_past_the_original_s(sandbox: TwilioSandbox) -> None:
    created = datetime.now(UTC)
    original = _left(sandbox, TO, BODY, at=created - timedelta(minutes=3))
    since, known = _since(created), frozenset({original.sid})
    first = _run(sandbox, since=since, known=known)
    assert _run(sandbox, since=since, known=known).external_id == first.external_id
    assert _posts(sandbox) == 1


def test_a_text_to_the_number_from_before_since_is_not_found(sandbox: TwilioSandbox) -> None:
    # An earlier resend of the same document, or another job's text about it.
    since = _since()
    _left(sandbox, TO, BODY, at=since - timedelta(hours=2))
    assert _find(sandbox, since=since) is None


@pytest.mark.parametrize("status", ["failed", "undelivered", "canceled"])
def test_an_earlier_text_that_never_reached_the_customer_is_not_found(
    sandbox: TwilioSandbox, status: str
) -> None:
    since = _since()
    _left(sandbox, TO, BODY, at=since + timedelta(minutes=5), status=status)
    assert _find(sandbox, since=since) is None


def test_an_earlier_text_about_another_document_is_not_found(sandbox: TwilioSandbox) -> None:
    since = _since()
    _left(sandbox, TO, BODY.replace(MARKER, MARKER + "1"), at=since + timedelta(minutes=5))
    assert _find(sandbox, since=since) is None


def test_an_earlier_text_to_another_number_is_not_found(sandbox: TwilioSandbox) -> None:
    since = _since()
    _left(sandbox, "+33611111111", BODY, at=since + timedelta(minutes=5))
    assert _find(sandbox, since=since) is None


def test_the_look_up_lists_the_number_s_texts_from_the_sender_without_a_date_filter(
    sandbox: TwilioSandbox,
) -> None:
    _find(sandbox, since=_since())
    [query] = _gets(sandbox)
    assert {key: query[key] for key in query if key != "PageSize"} == {"To": TO, "From": SENDER}


def test_the_look_up_for_a_messaging_service_lists_by_the_number_alone(
    sandbox: TwilioSandbox,
) -> None:
    _find(sandbox, since=_since(), sender="MG" + "0" * 32)
    [query] = _gets(sandbox)
    assert "From" not in query and query["To"] == TO


def test_the_look_up_follows_twilio_s_next_pages(
    sandbox: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio, "PAGE_SIZE", 2)
    since = _since()
    ours = _left(sandbox, TO, BODY, at=since + timedelta(minutes=5), status="queued")  # last
    for minutes in (1, 2, 3, 4):
        _left(sandbox, TO, f"another text {minutes}", at=since + timedelta(minutes=minutes))
    found = _find(sandbox, since=since)
    assert found is not None and found.external_id == ours.sid
    assert len(_gets(sandbox)) == 3


def test_the_look_up_reads_on_past_texts_created_before_since(
    sandbox: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio, "PAGE_SIZE", 1)
    since = _since()
    for hours in (1, 2, 3):
        _left(sandbox, TO, BODY, at=since - timedelta(hours=hours))
    _find(sandbox, since=since)
    assert len(_gets(sandbox)) == 3


def test_the_look_up_reads_no_more_than_its_page_cap(
    sandbox: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio, "PAGE_SIZE", 1)
    monkeypatch.setattr(twilio, "MAX_PAGES", 2)
    since = _since()
    for minutes in (1, 2, 3):
        _left(sandbox, TO, f"another text {minutes}", at=since + timedelta(minutes=minutes))
    _find(sandbox, since=since)
    assert len(_gets(sandbox)) == 2


def test_a_failed_look_up_is_transient(sandbox: TwilioSandbox) -> None:
    sandbox.fail_next(1, 500, path="Messages.json")
    with pytest.raises(TransientDeliveryError, match="look for an earlier text"):
        _find(sandbox, since=_since())


# -- the doctor's check of the account ------------------------------------------------------


def _check(sandbox: TwilioSandbox, **changes: Any) -> str:
    return check_twilio(_cfg(sandbox, **changes), sleep=Sleeps())


def _check_refusal(sandbox: TwilioSandbox, **changes: Any) -> str:
    with pytest.raises(PermanentDeliveryError) as caught:
        _check(sandbox, **changes)
    return str(caught.value)


def test_the_check_names_the_active_account(sandbox: TwilioSandbox) -> None:
    sandbox.friendly_name = "MaBoutique SAS"
    assert _check(sandbox) == "account 'MaBoutique SAS' active"


def test_the_check_texts_nobody(sandbox: TwilioSandbox) -> None:
    _check(sandbox)
    assert (_posts(sandbox), sandbox.messages) == (0, [])


def test_the_check_with_refused_credentials_is_permanent_and_names_the_keys(
    sandbox: TwilioSandbox,
) -> None:
    message = _check_refusal(sandbox, auth_token="not-the-token")
    assert "HTTP 401" in message and "credentials refused" in message
    assert "[[sms]] account_sid and auth_token of shop woo" in message


@pytest.mark.parametrize("status", ["suspended", "closed"])
def test_the_check_of_an_inactive_account_is_permanent_and_says_its_status(
    sandbox: TwilioSandbox, status: str
) -> None:
    sandbox.account_status = status
    message = _check_refusal(sandbox)
    assert f"account 'Boutique de test' is {status}" in message
    assert "[[sms]] account_sid and auth_token of shop woo" in message


def test_the_check_never_quotes_the_auth_token(sandbox: TwilioSandbox) -> None:
    # The account resource itself carries the token: neither refusal may repeat it.
    wrong = "not-the-token-5f3a9c"
    refused = _check_refusal(sandbox, auth_token=wrong)
    sandbox.account_status = "suspended"
    suspended = _check_refusal(sandbox)
    for message in (refused, suspended):
        assert wrong not in message and sandbox.auth_token not in message


def test_the_check_of_an_account_the_credentials_do_not_reach_is_permanent(
    sandbox: TwilioSandbox,
) -> None:
    sandbox.fail_next(1, 404, path=".json")
    message = _check_refusal(sandbox)
    assert f"no account {sandbox.account_sid}" in message
    assert "[[sms]] account_sid and auth_token of shop woo" in message


def test_the_check_of_an_unreachable_twilio_is_transient(sandbox: TwilioSandbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(TransientDeliveryError, match="fetch the account: cannot reach it"):
        _check(sandbox, api_url=closed)


def test_the_check_of_a_failing_twilio_is_transient(sandbox: TwilioSandbox) -> None:
    sandbox.fail_next(1, 503)
    with pytest.raises(TransientDeliveryError, match="HTTP 503"):
        _check(sandbox)


# -- the sandbox's contract -----------------------------------------------------------------


def _api(sandbox: TwilioSandbox, method: str, **kwargs: Any) -> requests.Response:
    url = f"{sandbox.url}/2010-04-01/Accounts/{sandbox.account_sid}/Messages.json"
    auth = kwargs.pop("auth", (sandbox.account_sid, sandbox.auth_token))
    return requests.request(method, url, auth=auth, timeout=HANG, **kwargs)


def test_sandbox_create_answers_201_with_twilio_s_message_resource(
    sandbox: TwilioSandbox,
) -> None:
    answer = _api(sandbox, "POST", data={"To": TO, "From": SENDER, "Body": BODY})
    data = answer.json()
    assert answer.status_code == 201
    assert re.fullmatch(r"SM[0-9a-f]{32}", data["sid"])
    assert (data["status"], data["to"], data["from"], data["body"]) == (
        "queued",
        TO,
        SENDER,
        BODY,
    )
    assert data["num_segments"] == "1"


def test_sandbox_dates_are_rfc_2822_from_the_current_clock(sandbox: TwilioSandbox) -> None:
    data = _api(sandbox, "POST", data={"To": TO, "From": SENDER, "Body": BODY}).json()
    created = parsedate_to_datetime(data["date_created"])
    assert abs(created - datetime.now(UTC)) < timedelta(hours=1)


def test_sandbox_refuses_bad_credentials_with_20003(sandbox: TwilioSandbox) -> None:
    answer = _api(sandbox, "GET", auth=(sandbox.account_sid, "wrong"))
    assert answer.status_code == 401
    assert answer.json()["code"] == 20003


def test_sandbox_errors_have_twilio_s_shape(sandbox: TwilioSandbox) -> None:
    answer = _api(sandbox, "POST", data={"To": "12", "From": SENDER, "Body": BODY})
    assert answer.status_code == 400
    assert answer.json() == {
        "code": 21211,
        "message": "Invalid 'To' Phone Number: 12",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }


def test_sandbox_injected_faults_have_twilio_s_shape(sandbox: TwilioSandbox) -> None:
    sandbox.fail_next(1, 429, retry_after=3)
    answer = _api(sandbox, "GET")
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "3")
    assert answer.json()["code"] == 20429


def test_sandbox_creates_a_text_queued_without_a_date_sent(sandbox: TwilioSandbox) -> None:
    data = _api(sandbox, "POST", data={"To": TO, "From": SENDER, "Body": BODY}).json()
    [listed] = _api(sandbox, "GET", params={"To": TO}).json()["messages"]
    assert (data["date_sent"], listed["status"], listed["date_sent"]) == (None, "queued", None)


def test_sandbox_delivers_a_text_with_its_date_sent(sandbox: TwilioSandbox) -> None:
    sid = _api(sandbox, "POST", data={"To": TO, "From": SENDER, "Body": BODY}).json()["sid"]
    sandbox.deliver(sid)
    [listed] = _api(sandbox, "GET", params={"To": TO}).json()["messages"]
    assert listed["status"] == "delivered" and listed["date_sent"] is not None


def test_sandbox_date_sent_filters_leave_out_a_text_not_sent_yet(
    sandbox: TwilioSandbox,
) -> None:
    _api(sandbox, "POST", data={"To": TO, "From": SENDER, "Body": BODY})
    today = datetime.now(UTC).date().isoformat()
    data = _api(sandbox, "GET", params={"To": TO, "DateSent>": today}).json()
    assert data["messages"] == []


def test_sandbox_lists_by_date_sent_most_recent_first(sandbox: TwilioSandbox) -> None:
    now = datetime.now(UTC)
    sent_early = sandbox.record(TO, "created last, sent first", at=now - timedelta(hours=1))
    sent_late = sandbox.record(TO, "created first", at=now - timedelta(hours=3), status="queued")
    sandbox.deliver(sent_late.sid)
    data = _api(sandbox, "GET", params={"To": TO}).json()
    assert [m["sid"] for m in data["messages"]] == [sent_late.sid, sent_early.sid]


def test_sandbox_lists_texts_not_sent_yet_after_the_sent_ones(sandbox: TwilioSandbox) -> None:
    now = datetime.now(UTC)
    queued = sandbox.record(TO, "newest, queued", at=now, status="queued")
    older = sandbox.record(TO, "older, queued", at=now - timedelta(hours=1), status="queued")
    sent = sandbox.record(TO, "oldest, sent", at=now - timedelta(days=3))
    data = _api(sandbox, "GET", params={"To": TO}).json()
    assert [m["sid"] for m in data["messages"]] == [sent.sid, queued.sid, older.sid]


def test_sandbox_list_filters_by_to_and_date_sent(sandbox: TwilioSandbox) -> None:
    now = datetime.now(UTC)
    recent = sandbox.record(TO, "recent", at=now - timedelta(hours=1))
    sandbox.record(TO, "old", at=now - timedelta(days=5))
    sandbox.record("+33611111111", "someone else", at=now)
    since = (now - timedelta(days=2)).date().isoformat()
    data = _api(sandbox, "GET", params={"To": TO, "DateSent>": since}).json()
    assert [m["sid"] for m in data["messages"]] == [recent.sid]


def test_sandbox_list_pages_as_twilio_does(sandbox: TwilioSandbox) -> None:
    for n in range(3):
        sandbox.record(TO, f"text {n}")
    first = _api(sandbox, "GET", params={"PageSize": "2"}).json()
    assert (len(first["messages"]), first["page"], first["page_size"]) == (2, 0, 2)
    rest = requests.get(
        sandbox.url + first["next_page_uri"],
        auth=(sandbox.account_sid, sandbox.auth_token),
        timeout=HANG,
    ).json()
    assert (len(rest["messages"]), rest["next_page_uri"]) == (1, None)


def test_sandbox_does_not_serve_another_account_s_messages(sandbox: TwilioSandbox) -> None:
    url = f"{sandbox.url}/2010-04-01/Accounts/AC{'f' * 32}/Messages.json"
    answer = requests.get(url, auth=(sandbox.account_sid, sandbox.auth_token), timeout=HANG)
    assert (answer.status_code, answer.json()["code"]) == (404, 20404)


def test_sandbox_answers_the_account_resource_as_twilio_does(sandbox: TwilioSandbox) -> None:
    url = f"{sandbox.url}/2010-04-01/Accounts/{sandbox.account_sid}.json"
    answer = requests.get(url, auth=(sandbox.account_sid, sandbox.auth_token), timeout=HANG)
    data = answer.json()
    assert answer.status_code == 200
    assert (data["sid"], data["friendly_name"], data["status"]) == (
        sandbox.account_sid,
        "Boutique de test",
        "active",
    )
    assert data["uri"] == f"/2010-04-01/Accounts/{sandbox.account_sid}.json"


def test_sandbox_refuses_the_account_to_bad_credentials_with_20003(
    sandbox: TwilioSandbox,
) -> None:
    url = f"{sandbox.url}/2010-04-01/Accounts/{sandbox.account_sid}.json"
    answer = requests.get(url, auth=(sandbox.account_sid, "wrong"), timeout=HANG)
    assert (answer.status_code, answer.json()["code"]) == (401, 20003)
