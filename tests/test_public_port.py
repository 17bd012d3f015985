"""What the public port tells a stranger: one answer for an unknown shop and a bad signature,
no docs, no metrics, readiness without its reasons; and `quittance run`'s own metrics port."""

from __future__ import annotations

import random
import socket
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import ConfigError, load_settings
from bridge.devsmtp import free_port
from bridge.services import Services
from bridge.web.app import create_app, create_ops_app
from tests.support.config import write_config
from tests.support.service import log_lines, start_service, stop, wait_healthy
from tests.support.waiting import eventually
from tests.test_intake_limits import HOOK, SHOP, PublicServer, head, signed, status_of

BODY = b'{"id": 1001, "status": "processing"}'
TOKEN = "metrics-token-for-tests"


def _services(tmp_path: Path, **server: object) -> Services:
    config = write_config(tmp_path / "quittance.toml", server=server, shops=[SHOP])
    return Services.from_settings(load_settings(config, environ={}))


@pytest.fixture
def public(tmp_path: Path) -> Iterator[str]:
    svc = _services(tmp_path)
    try:
        with PublicServer(svc) as running:
            yield f"http://127.0.0.1:{running.port}"
    finally:
        svc.close()


def post(
    url: str, body: bytes = BODY, signature: str = "bm90IGEgc2lnbmF0dXJl"
) -> requests.Response:
    headers = {"X-WC-Webhook-Signature": signature, "X-WC-Webhook-Topic": "order.updated"}
    return requests.post(url, data=body, headers=headers, timeout=30)


def answer(response: requests.Response) -> tuple[int, bytes]:
    return response.status_code, response.content


def test_an_unknown_shop_gets_the_answer_of_a_bad_signature(public: str) -> None:
    assert answer(post(f"{public}/webhooks/woocommerce/nope")) == answer(post(public + HOOK))


def test_an_unknown_platform_gets_the_answer_of_a_bad_signature(public: str) -> None:
    assert answer(post(f"{public}/webhooks/magento/theiere")) == answer(post(public + HOOK))


def test_a_shop_under_another_platform_gets_the_answer_of_a_bad_signature(public: str) -> None:
    # signed with the shop's real secret: still no way to tell that the name exists
    wrong_platform = post(f"{public}/webhooks/shopify/theiere", signature=signed(BODY))
    assert answer(wrong_platform) == answer(post(public + HOOK))


def test_a_missing_signature_gets_the_same_answer_as_a_wrong_one(public: str) -> None:
    missing = requests.post(public + HOOK, data=BODY, timeout=30)
    assert answer(missing) == answer(post(public + HOOK))


def test_the_unsigned_creation_ping_is_200_for_an_unknown_shop_as_for_a_known_one(
    public: str,
) -> None:
    ping = b"webhook_id=7"
    known = requests.post(public + HOOK, data=ping, timeout=30)
    unknown = requests.post(f"{public}/webhooks/woocommerce/nope", data=ping, timeout=30)
    assert answer(unknown) == answer(known) == (200, b'{"ok":true,"ping":true}')


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_the_api_docs_are_off_by_default(public: str, path: str) -> None:
    assert requests.get(public + path, timeout=30).status_code == 404


def test_the_api_docs_are_served_when_configured(tmp_path: Path) -> None:
    svc = _services(tmp_path, docs=True)
    try:
        with PublicServer(svc) as running:
            schema = requests.get(f"http://127.0.0.1:{running.port}/openapi.json", timeout=30)
    finally:
        svc.close()
    assert "/webhooks/{platform}/{shop}" in schema.json()["paths"]


def test_metrics_are_not_on_the_public_port_by_default(public: str) -> None:
    assert requests.get(f"{public}/metrics", timeout=30).status_code == 404


def test_public_metrics_need_the_configured_bearer_token(tmp_path: Path) -> None:
    svc = _services(tmp_path, metrics_token=TOKEN)
    try:
        with PublicServer(svc) as running:
            url = f"http://127.0.0.1:{running.port}/metrics"
            missing = requests.get(url, timeout=30).status_code
            wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=30)
            right = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    finally:
        svc.close()
    assert (missing, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "quittance_webhooks_total" in right.text


def test_public_readiness_says_not_ready_without_the_reasons(tmp_path: Path) -> None:
    svc = _services(tmp_path)
    try:
        problem = ["database: the SQLite file /srv/q.db is read-only"]
        public = TestClient(create_app(svc, readiness=lambda: problem)).get("/readyz")
        ops = TestClient(create_ops_app(svc, readiness=lambda: problem)).get("/readyz")
    finally:
        svc.close()
    assert (public.status_code, public.json()) == (503, {"status": "not ready"})
    assert (ops.status_code, ops.json()["problems"]) == (503, problem)


def _series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _junk(rng: random.Random) -> str:
    word = "".join(rng.choices(string.ascii_lowercase + string.digits, k=12))
    return rng.choice(
        [f"/webhooks/{word}/{word}", f"/webhooks/woocommerce/{word}", f"/webhooks/shopify/{word}",
         f"/{word}", f"/webhooks/{word}"]
    )  # fmt: skip


def test_junk_posts_to_random_paths_and_shops_add_no_metric_series(tmp_path: Path) -> None:
    svc = _services(tmp_path)
    try:
        client, ops = TestClient(create_app(svc)), TestClient(create_ops_app(svc))
        rng = random.Random(5)
        for _ in range(20):  # every kind of junk once: its series (if any) exist from now on
            client.post(_junk(rng), content=b"{}")
        before = ops.get("/metrics").text
        for _ in range(500):
            client.post(_junk(rng), content=b"{}")
        after = ops.get("/metrics").text
    finally:
        svc.close()
    assert _series(after) == _series(before)
    assert len(after) - len(before) < 100  # only counter digits grew


def test_a_metrics_port_equal_to_the_public_port_is_refused_naming_the_key(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "q.toml", server={"port": 8080, "metrics_port": 8080})
    with pytest.raises(ConfigError, match=r"metrics_port.*another port than \[server\] port"):
        load_settings(config, environ={})


def test_a_body_limit_of_zero_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path / "q.toml", server={"max_body_bytes": 0})
    with pytest.raises(ConfigError, match=r"max_body_bytes"):
        load_settings(config, environ={})


# -- `quittance run`: the metrics listener, a client that hangs up, SIGTERM -------------------


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    http_port, metrics_port = free_port(), free_port()
    config = write_config(
        tmp_path / "quittance.toml",
        server={"host": "127.0.0.1", "port": http_port, "metrics_port": metrics_port},
        logging={"format": "json"},
        shops=[SHOP],
    )
    log = tmp_path / "service.log"
    proc = start_service(config, log, workers=0)
    try:
        wait_healthy(http_port, proc)
        yield f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{metrics_port}", log
    finally:
        assert stop(proc) == 0


@pytest.mark.slow
def test_run_serves_metrics_on_the_metrics_port_only(running: tuple[str, str, Path]) -> None:
    public, ops, _ = running
    assert "quittance_webhooks_total" in requests.get(f"{ops}/metrics", timeout=30).text
    assert requests.get(f"{public}/metrics", timeout=30).status_code == 404


@pytest.mark.slow
def test_a_client_that_hangs_up_mid_body_is_one_log_line_without_traceback(
    running: tuple[str, str, Path],
) -> None:
    public, _, log = running
    port = int(public.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head(HOOK, "Content-Length: 100") + b"x" * 50)

    def disconnects() -> list[dict[str, object]]:
        return [line for line in log_lines(log) if line.get("event") == "client disconnected"]

    [line] = eventually("the disconnect logged", disconnects)
    assert line["path"] == HOOK
    assert "Traceback" not in log.read_text(encoding="utf-8")


@pytest.mark.slow
def test_run_answers_a_webhook_status_line_as_before(running: tuple[str, str, Path]) -> None:
    public, _, _ = running
    port = int(public.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head(HOOK, f"Content-Length: {len(BODY)}") + BODY)
        assert status_of(sock) == 401


def test_a_public_port_chosen_on_the_command_line_equal_to_the_metrics_port_leaves_metrics_off(
    tmp_path: Path,
) -> None:
    from bridge.service import bind_metrics

    port = free_port()
    config = write_config(tmp_path / "q.toml", server={"metrics_port": port})
    assert bind_metrics(load_settings(config, environ={}), port) is None
