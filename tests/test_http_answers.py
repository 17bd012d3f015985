"""How connectors read an HTTP answer (Retry-After, status, body) and retry in-step."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from bridge.quick_retry import RetrySoon, quick_retries
from connectors.base import PermanentConnectorError, TransientConnectorError
from connectors.http import HttpRules, read_json, retry_after
from tests.support.waiting import HANG


def test_retry_after_in_seconds_is_read_as_is() -> None:
    assert retry_after("3") == 3.0


def test_retry_after_as_an_http_date_is_the_time_left_until_it() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after(header, now=now) == pytest.approx(90.0)


def test_retry_after_that_is_not_a_finite_number_is_ignored() -> None:
    assert retry_after("inf") is None and retry_after("nan") is None


def test_retry_after_in_the_past_means_retry_now() -> None:
    now = datetime.now(UTC)
    assert retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon"])
def test_retry_after_absent_or_unreadable_leaves_the_wait_to_our_backoff(header) -> None:
    assert retry_after(header) is None


# ------------------------------------------------ read_json's decision, against a real server


class _Scripted(BaseHTTPRequestHandler):
    answer: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")

    def do_GET(self) -> None:
        status, headers, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answer() -> Iterator[Callable[..., requests.Response]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def get(status: int, body: bytes = b"{}", **headers: str) -> requests.Response:
        server.answer = (status, {"Content-Type": "application/json", **headers}, body)  # type: ignore[attr-defined]
        return requests.get(f"http://127.0.0.1:{server.server_port}/orders/1", timeout=HANG)

    yield get
    server.shutdown()
    server.server_close()


def _rules(throttle: Callable[[int, Any], float | None] | None = None) -> HttpRules:
    extra = {"throttle": throttle} if throttle else {}
    return HttpRules(
        shop="theiere",
        refused=lambda status, _r: f"check the API key ({status})",
        not_found=lambda what, _r: f"{what}: check the shop URL",
        **extra,
    )


def test_a_429_is_retried_soon_waiting_what_retry_after_says(answer) -> None:
    with pytest.raises(RetrySoon) as retry:
        read_json(answer(429, **{"Retry-After": "2"}), "GET /orders/1", _rules())
    assert (retry.value.wait, retry.value.throttled) == (2.0, True)


def test_a_5xx_asking_for_more_than_a_minute_goes_to_the_job_queue(answer) -> None:
    response = answer(503, **{"Retry-After": "3600"})
    with pytest.raises(TransientConnectorError, match=r"theiere.*Retry-After 3600s"):
        read_json(response, "GET /orders/1", _rules())


def test_a_refused_key_is_permanent_with_the_platform_s_help(answer) -> None:
    with pytest.raises(PermanentConnectorError, match=r"shop theiere: check the API key \(401\)"):
        read_json(answer(401), "GET /orders/1", _rules())


def test_a_404_is_permanent_with_the_platform_s_help(answer) -> None:
    with pytest.raises(PermanentConnectorError, match="GET /orders/1: check the shop URL"):
        read_json(answer(404), "GET /orders/1", _rules())


def test_another_4xx_is_permanent_even_when_not_json(answer) -> None:
    response = answer(422, b"<html>nope</html>", **{"Content-Type": "text/html"})
    with pytest.raises(PermanentConnectorError, match="HTTP 422: <html>nope</html>"):
        read_json(response, "GET /orders/1", _rules())


def test_a_2xx_that_is_not_json_is_retried_soon(answer) -> None:
    response = answer(200, b"<html>maintenance</html>", **{"Content-Type": "text/html"})
    with pytest.raises(RetrySoon, match="non-JSON"):
        read_json(response, "GET /orders/1", _rules())


def test_a_2xx_the_platform_calls_throttled_is_retried_soon(answer) -> None:
    def throttled(status: int, body: Any) -> float | None:
        return 1.5 if body.get("errors") == ["THROTTLED"] else None

    response = answer(200, b'{"errors": ["THROTTLED"]}')
    with pytest.raises(RetrySoon) as retry:
        read_json(response, "POST /graphql", _rules(throttled))
    assert (retry.value.wait, retry.value.throttled) == (1.5, True)


def test_a_2xx_json_answer_is_its_body(answer) -> None:
    assert read_json(answer(200, b'{"id": 1}'), "GET /orders/1", _rules()) == {"id": 1}


# ------------------------------------------------------------------------- quick retries


def test_quick_retries_report_each_retry_that_really_follows() -> None:
    reported: list[tuple[int, float]] = []
    slept: list[float] = []

    def always_busy() -> None:
        raise RetrySoon("busy", 0.25)

    retrying = quick_retries(
        attempts=3, initial=0.1, sleep=slept.append,
        on_retry=lambda _e, wait, attempt: reported.append((attempt, wait)),
    )  # fmt: skip
    with pytest.raises(RetrySoon):
        retrying(always_busy)
    assert reported == [(1, 0.25), (2, 0.25)] and slept == [0.25, 0.25]
