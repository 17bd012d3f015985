"""Texting through apprise, for real, against a local gateway: apprise's `json://` plugin
posts to a loopback server, the customer's number in the URL's path or query. And the
doctor's check, which reads the URL without sending."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.config.channels import SmsConfig
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.sms.apprise_route import check_apprise, send_apprise
from bridge.failures import HandoverRefused
from bridge.handover import handover_check
from connectors.sandbox_server import Reply, Request, SandboxServer

TO = "+33612345678"
BODY = "MaBoutique : facture FA-2026-000042 (42,00 €, commande 1042) acquittée."
SECRET = "gw-key-5f3a9c"  # the gateway's key, as the URL carries it


class Gateway(SandboxServer):
    """An SMS gateway's HTTP endpoint: it takes what apprise's json:// plugin posts."""

    methods = ("POST",)

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[Request] = []

    def route(self, request: Request) -> Reply:
        with self.lock:
            self.posts.append(request)
        return 200, {"ok": True}, {}


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with Gateway() as server:
        yield server


def _cfg(url: str, **changes: Any) -> SmsConfig:
    return SmsConfig(shop="woo", gateway="apprise", apprise_url=url, **changes)


def _in_path(gateway: Gateway) -> str:
    host = gateway.url.removeprefix("http://")
    return f"json://gw:{SECRET}@{host}/sms/{{to}}"


def _in_query(gateway: Gateway) -> str:
    host = gateway.url.removeprefix("http://")
    return f"json://gw:{SECRET}@{host}/sms?-to={{to}}"


def _transient(url: str, **changes: Any) -> TransientDeliveryError:
    with pytest.raises(TransientDeliveryError) as caught:
        send_apprise(_cfg(url, **changes), TO, BODY)
    return caught.value


def _permanent(url: str) -> PermanentDeliveryError:
    with pytest.raises(PermanentDeliveryError) as caught:
        send_apprise(_cfg(url), TO, BODY)
    return caught.value


def test_a_text_taken_by_the_gateway_is_sent_without_a_message_id(gateway: Gateway) -> None:
    sent = send_apprise(_cfg(_in_path(gateway)), TO, BODY)
    assert (sent.external_id, sent.target, sent.detail) == ("", TO, "apprise: sent (no message id)")


def test_the_gateway_gets_the_body(gateway: Gateway) -> None:
    send_apprise(_cfg(_in_path(gateway)), TO, BODY)
    [post] = gateway.posts
    assert json.loads(post.body)["message"] == BODY


def test_the_number_goes_in_the_path_in_e164_with_its_plus(gateway: Gateway) -> None:
    send_apprise(_cfg(_in_path(gateway)), TO, BODY)
    assert gateway.posts[0].path == f"/sms/{TO}"


def test_the_number_goes_in_the_query_with_its_plus_intact(gateway: Gateway) -> None:
    send_apprise(_cfg(_in_query(gateway)), TO, BODY)
    assert gateway.posts[0].query == {"to": TO}


def test_a_gateway_error_is_transient_and_says_it_cannot_be_told_apart(gateway: Gateway) -> None:
    gateway.fail_next(1, 500)
    message = str(_transient(_in_path(gateway)))
    assert "cannot tell a bad number from an outage" in message
    assert "[jobs] give_up_after_hours" in message


def test_a_url_apprise_cannot_read_is_permanent_and_names_the_setting() -> None:
    message = str(_permanent(f"nosuchgateway://gw:{SECRET}@{{to}}"))
    assert message.startswith("[[sms]] apprise_url of shop woo is not an apprise URL apprise")


def test_the_key_in_the_url_never_appears_in_an_error(gateway: Gateway) -> None:
    gateway.fail_next(1, 500)
    errors = [_transient(_in_path(gateway)), _permanent(f"nosuchgateway://gw:{SECRET}@{{to}}")]
    assert [SECRET in str(error) for error in errors] == [False, False]


def test_the_key_in_the_url_never_appears_in_apprise_s_logs(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.fail_next(1, 500)
    with caplog.at_level(1, logger="apprise"):  # TRACE: apprise's every word
        _transient(_in_path(gateway))
        _permanent(f"nosuchgateway://gw:{SECRET}@{{to}}")
    logged = [record.getMessage() for record in caplog.records]
    assert any("Unparseable" in line for line in logged)  # the record that quoted the key
    assert [line for line in logged if SECRET in line] == []


def test_our_timeout_rules_over_a_longer_one_in_the_url(gateway: Gateway) -> None:
    # The gateway answers after 20 s; the URL would wait 60 (rto), [[sms]] says 0.5.
    gateway.fail_next(1, None, delay=20)
    _transient(_in_path(gateway) + "?rto=60", timeout_seconds=0.5)


def test_apprise_does_not_repeat_a_failed_text_itself(gateway: Gateway) -> None:
    gateway.fail_next(3, 500)
    _transient(_in_path(gateway) + "?retry=2&wait=0")
    assert len(gateway.posts) == 0 and len(gateway.requests) == 1


def test_a_refused_handover_check_stops_the_send_and_is_let_through(gateway: Gateway) -> None:
    refusal = HandoverRefused("lease lost")

    def check() -> None:
        raise refusal

    with handover_check(check), pytest.raises(HandoverRefused) as caught:
        send_apprise(_cfg(_in_path(gateway)), TO, BODY)
    assert caught.value is refusal
    assert gateway.posts == []


def test_the_send_budget_counts_a_login_and_a_send_with_the_throttle_between() -> None:
    cfg = _cfg("json://localhost/{to}", timeout_seconds=10.0)
    assert cfg.send_budget_seconds == 2 * 2 * 10.0 + 5.5


def test_the_log_mask_is_taken_off_after_the_send(gateway: Gateway) -> None:
    before = list(logging.getLogger("apprise").filters)
    send_apprise(_cfg(_in_path(gateway)), TO, BODY)
    assert logging.getLogger("apprise").filters == before


# -- the doctor's check ---------------------------------------------------------------------


def _check_refusal(url: str) -> PermanentDeliveryError:
    with pytest.raises(PermanentDeliveryError) as caught:
        check_apprise(_cfg(url))
    return caught.value


def test_the_check_names_the_plugin_and_says_credentials_wait_for_a_real_text(
    gateway: Gateway,
) -> None:
    assert check_apprise(_cfg(_in_path(gateway))) == (
        "apprise URL understood (JSON); credentials are only checked by a real text"
    )


def test_the_check_sends_nothing_to_the_gateway(gateway: Gateway) -> None:
    check_apprise(_cfg(_in_query(gateway)))
    assert gateway.requests == []


def test_the_check_does_not_need_the_gateway_to_be_reachable() -> None:
    # Octopush's API is not on loopback: reading the URL must not try it.
    url = f"octopush://shop@example.com/{SECRET}/{{to}}"
    assert check_apprise(_cfg(url)).startswith("apprise URL understood (Octopush)")


def test_the_check_of_a_url_apprise_cannot_read_is_permanent_and_names_the_setting() -> None:
    message = str(_check_refusal(f"nosuchgateway://gw:{SECRET}@{{to}}"))
    assert message.startswith("[[sms]] apprise_url of shop woo is not an apprise URL apprise")


def test_the_check_of_a_url_with_to_where_no_number_is_read_is_permanent() -> None:
    message = str(_check_refusal(f"octopush://shop@example.com/{SECRET}/?note={{to}}"))
    assert "read as Octopush but with no recipient" in message
    assert "[[sms]] apprise_url of shop woo" in message


def test_the_check_never_quotes_the_key_in_the_url(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(1, logger="apprise"):
        unreadable = _check_refusal(f"nosuchgateway://gw:{SECRET}@{{to}}")
        no_recipient = _check_refusal(f"octopush://shop@example.com/{SECRET}/?note={{to}}")
    assert [SECRET in str(error) for error in (unreadable, no_recipient)] == [False, False]
    assert [r.getMessage() for r in caplog.records if SECRET in r.getMessage()] == []
