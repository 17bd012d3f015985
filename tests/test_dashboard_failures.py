"""The dashboard's failures, deliveries and audit pages over a real bridge: its failures made
by the real steps (a mail server refusing the mailbox, an order without an email address,
one whose lines do not add up), read through bridge/overview.py like `quittance failures`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi.testclient import TestClient
from markupsafe import escape
from typer.testing import CliRunner

from bridge.cli import app
from bridge.config import load_settings
from bridge.corrections import resend_document
from bridge.dashboard.accounts import add_user
from bridge.dashboard.pages import Frame
from bridge.dashboard.views import deliveries as deliveries_view
from bridge.dashboard.views import failures as failures_view
from bridge.model import Order
from bridge.overview import (
    Failure,
    day_start,
    delivery_counts,
    failure_count,
    failures,
    order_key,
    plain_reason,
)
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.worker import work
from tests.support.cli import widen_consoles
from tests.support.clock import FrozenClock
from tests.support.config import write_config
from tests.support.dashboard import PASSWORD, csrf_of, dashboard_client, sign_in, signed_in
from tests.support.orders import orders_by_id
from tests.support.smtp import ScriptedHandler, SMTPServer

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

MAILBOX_UNKNOWN = "550 5.1.1 Mailbox unavailable"
ACCOUNTANT = "comptable"


@dataclass(frozen=True)
class World:
    svc: Services
    config: Path
    owner: TestClient  # reads English
    accountant: TestClient  # reads French


def issued(svc: Services, *orders: Order) -> None:
    for order in orders:
        submit_order(svc, order)
    work(svc, once=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One email sent, then a mail server refusing every mailbox: a dead email (1001), a
    skipped one (1004, no address) and a quarantined order (1006). Built once: the tests
    that change it make failures of their own (`dead_email`)."""
    folder = tmp_path_factory.mktemp("dashboard-failures")
    handler = ScriptedHandler()
    with SMTPServer(handler) as smtp:
        config = write_config(folder / "quittance.toml", smtp_port=smtp.port)
        clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
        svc = Services.from_settings(load_settings(config, environ={}), clock=clock)
        try:
            samples = orders_by_id()
            issued(svc, samples["1002"])
            handler.reject_all(MAILBOX_UNKNOWN)
            issued(svc, samples["1001"], samples["1004"], samples["1006"])
            yield World(svc, config, signed_in(svc, "owner"), _french_accountant(svc))
        finally:
            svc.close()


def _french_accountant(svc: Services) -> TestClient:
    add_user(svc.store, ACCOUNTANT, PASSWORD, "accountant", "fr")
    client = dashboard_client(svc)
    sign_in(client, ACCOUNTANT)
    return client


def dead_email(world: World) -> Failure:
    """One more dead email, as `quittance resend` of order 1001 makes it: the server still
    refuses the mailbox. The newest job is its."""
    svc = world.svc
    doc = svc.store.current_invoice("demo", "1001")
    assert doc is not None
    resend_document(svc, doc)
    work(svc, once=True)
    found = max((f for f in failures(svc) if f.job_id is not None), key=lambda f: f.job_id or 0)
    assert (found.step, found.state) == ("email", "dead"), found
    return found


def retry(client: TestClient, key: str, csrf: str | None = None) -> httpx.Response:
    token = csrf if csrf is not None else csrf_of(client.get("/failures").text)
    return client.post("/failures/retry", data={"key": key, "csrf": token}, follow_redirects=False)


def job_state(world: World, failure: Failure) -> str:
    assert failure.job_id is not None
    job = world.svc.store.get_job(failure.job_id)
    assert job is not None
    return job.state


def listed_keys(html: str) -> list[str]:
    return re.findall(r'<tr data-key="([^"]+)"', html)


# -- failures -------------------------------------------------------------------------------


def cli_keys(output: str) -> list[str]:
    """The failures `quittance failures` lists, in its order, as keys (its list layout: one
    heading line per failure, "job 8 (email) dead: …" or "order quarantined: shop S, order O")."""
    keys = []
    for line in output.splitlines():
        if job := re.match(r"job (\d+) \(", line):
            keys.append(f"job:{job[1]}")
        elif order := re.match(r"order \w+: shop (\S+), order (\S+)$", line):
            keys.append(order_key(order[1], order[2]))
    return keys


def test_the_failures_page_lists_the_overview_failures_as_the_cli_does(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    widen_consoles(monkeypatch)
    page = world.owner.get("/failures")
    result = CliRunner().invoke(app, ["failures", "-c", str(world.config)])
    structlog.reset_defaults()  # the CLI configured it on the runner's closed stderr

    found = [f.key for f in failures(world.svc)]
    assert page.status_code == 200
    assert {"quarantined", "dead", "skipped"} <= {f.state for f in failures(world.svc)}
    assert listed_keys(page.text) == found
    assert result.exit_code == 0, result.output
    assert cli_keys(result.output) == found


def test_the_failures_page_filters_by_shop(world: World) -> None:
    assert listed_keys(world.owner.get("/failures?shop=demo").text)
    page = world.owner.get("/failures?shop=elsewhere")

    assert listed_keys(page.text) == []
    assert "No failure for this shop." in page.text


def test_the_plain_reason_is_in_the_readers_language(world: World) -> None:
    dead = dead_email(world)
    english = world.owner.get("/failures").text
    french = world.accountant.get("/failures").text

    assert str(escape("refused the customer's email address")) in english
    assert str(escape("a refusé l'adresse e-mail du client")) in french
    assert plain_reason(dead, "fr").split(" : ")[0] in french.replace("&#39;", "'")
    assert "<summary>Raison technique</summary>" in french
    assert MAILBOX_UNKNOWN in french  # the raw reason, kept for whoever helps the owner


def test_retry_requeues_a_dead_job_and_audits_it(world: World) -> None:
    dead = dead_email(world)

    answer = retry(world.owner, dead.key)

    assert answer.status_code == 303
    assert "done=retried" in answer.headers["location"]
    assert job_state(world, dead) == "pending"
    [event] = [e for e in world.svc.store.audit_trail(20) if e.detail.get("key") == dead.key]
    assert event.kind == "dashboard.failure.retry"
    assert (event.shop, event.order_id, event.invoice_number) == ("demo", "1001", dead.number)
    assert (event.detail["user"], event.detail["role"]) == ("owner", "owner")


def test_retry_without_csrf_is_refused_and_requeues_nothing(world: World) -> None:
    dead = dead_email(world)

    answer = retry(world.owner, dead.key, csrf="")

    assert answer.status_code == 400
    assert job_state(world, dead) == "dead"


def test_an_accountant_sees_no_retry_button_and_may_not_post_one(world: World) -> None:
    dead = dead_email(world)
    page = world.accountant.get("/failures")

    assert dead.key in listed_keys(page.text)
    assert 'action="/failures/retry' not in page.text
    assert retry(world.accountant, dead.key, csrf_of(page.text)).status_code == 403
    assert job_state(world, dead) == "dead"


def test_retrying_an_already_retried_key_says_it_was_handled(world: World) -> None:
    dead = dead_email(world)
    assert retry(world.owner, dead.key).status_code == 303

    again = retry(world.owner, dead.key)
    page = world.owner.get(again.headers["location"])

    assert "done=already" in again.headers["location"]
    assert page.status_code == 200
    assert f"Already handled, nothing left to retry: {dead.key}" in page.text


@pytest.mark.parametrize("key", ["job:²", "job:99999999999999999999999", "order:", "nonsense"])
def test_a_retry_of_a_key_that_names_nothing_says_so(world: World, key: str) -> None:
    answer = retry(world.owner, key)
    assert answer.status_code == 303
    assert "done=already" in answer.headers["location"]


# -- deliveries -----------------------------------------------------------------------------


def count_cells(html: str, shop: str, channel: str) -> dict[str, int]:
    row = re.search(rf'<tr data-shop="{shop}" data-channel="{channel}">(.*?)</tr>', html, re.S)
    assert row, f"no row for {shop}/{channel}"
    return {s: int(n) for s, n in re.findall(r'data-status="(\w+)" class="num">(\d+)<', row[1])}


def test_the_deliveries_page_shows_todays_counts(world: World) -> None:
    page = world.owner.get("/deliveries")
    svc = world.svc

    counts = delivery_counts(svc, day_start(svc, svc.store.clock()))
    cells = count_cells(page.text, "demo", "email")
    assert (cells["sent"], cells["skipped"]) == (1, 1)
    assert {s: n for s, n in cells.items() if n} == counts[("demo", "email")]


def test_the_deliveries_log_filters_by_channel(world: World) -> None:
    emails = world.owner.get("/deliveries?channel=email").text
    attach = world.owner.get("/deliveries?channel=attach").text

    channels = re.findall(r'<tr data-id="\d+" data-channel="(\w+)"', emails)
    assert channels and set(channels) == {"email"}
    assert 'data-channel="email" data-status' not in attach
    assert "No delivery matches." in attach


def test_the_deliveries_log_filters_by_status(world: World) -> None:
    page = world.owner.get("/deliveries?status=sent").text

    assert re.findall(r'data-status="(\w+)">\s*<td', page) == ["sent"]


def test_an_unknown_delivery_filter_is_ignored_with_a_message(world: World) -> None:
    page = world.owner.get("/deliveries?channel=pigeon&status=lost&before=%C2%B2")

    assert page.status_code == 200
    assert "Unknown channel, filter ignored: « pigeon »" in page.text
    assert "Unknown status, filter ignored: « lost »" in page.text
    assert "Unknown page, back to the newest: « ² »" in page.text
    assert 'data-channel="email" data-status="sent"' in page.text  # the whole log, unfiltered


def test_the_deliveries_log_pages_back_by_id(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deliveries_view, "PAGE", 2)
    first = world.owner.get("/deliveries").text
    older = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert older
    second = world.owner.get(older[1].replace("&amp;", "&")).text

    ids = [int(i) for i in re.findall(r'<tr data-id="(\d+)"', first + second)]
    assert ids == [line.id for line in world.svc.store.delivery_log(4)]


def test_a_deliveries_page_id_beyond_64_bits_is_ignored_with_a_message(world: World) -> None:
    page = world.owner.get("/deliveries", params={"before": "9" * 23})
    assert page.status_code == 200
    assert "Unknown page, back to the newest: « 9999" in page.text
    assert 'data-channel="email" data-status="sent"' in page.text  # the newest, unfiltered


# -- audit ----------------------------------------------------------------------------------


def test_the_audit_page_lists_a_login_and_a_retry_with_who_and_when(world: World) -> None:
    dead = dead_email(world)
    retry(world.owner, dead.key)
    page = world.owner.get("/audit").text
    trail = world.svc.store.audit_trail(500)

    [login] = [e for e in trail if e.kind == "dashboard.login" and e.detail["user"] == "owner"]
    [retried] = [e for e in trail if e.detail.get("key") == dead.key]
    when = Frame(world.svc).when
    for event, words in ((login, "Signed in"), (retried, "Failure retried")):
        row = re.search(rf'<tr data-id="{event.id}"[^>]*>(.*?)</tr>', page, re.S)
        assert row, event
        assert words in row[1] and "<strong>owner</strong>" in row[1]
        assert when(event.at, "en") in row[1]
    assert dead.number in page


@pytest.mark.parametrize("before", ["²", "9" * 23], ids=["superscript", "beyond-64-bits"])
def test_an_audit_page_id_that_is_not_one_is_ignored_with_a_message(
    world: World, before: str
) -> None:
    page = world.owner.get("/audit", params={"before": before})
    assert page.status_code == 200
    assert f"« {before}" in page.text


def test_the_audit_page_is_refused_to_an_accountant(world: World) -> None:
    assert world.accountant.get("/audit").status_code == 403


# -- a bridge with nothing failing ------------------------------------------------------------


@pytest.fixture
def calm(tmp_path: Path) -> Iterator[Services]:
    config = write_config(tmp_path / "quittance.toml")
    svc = Services.from_settings(load_settings(config, environ={}))
    yield svc
    svc.close()


def test_no_failure_is_good_news(calm: Services) -> None:
    page = signed_in(calm).get("/failures")

    assert page.status_code == 200
    assert "No failure: every order is done or on its way." in page.text
    assert "/failures/retry-all" not in page.text


def test_retry_all_replays_a_quarantined_order_and_audits_it(calm: Services) -> None:
    calm.store.quarantine_order("demo", "2001", "cannot read the order: total is missing")
    owner = signed_in(calm)
    page = owner.get("/failures").text
    assert listed_keys(page) == ["order:demo:2001"]

    answer = owner.post("/failures/retry-all", data={"csrf": csrf_of(page)}, follow_redirects=False)

    assert "done=retried_all" in answer.headers["location"]
    assert "Queued again: 0 job(s), 1 order(s)" in owner.get(answer.headers["location"]).text
    order = calm.store.get_order("demo", "2001")
    assert order is not None and order.status != "quarantined"
    [event] = calm.store.audit_trail(1)
    assert (event.kind, event.detail["orders"]) == ("dashboard.failure.retry_all", 1)


# -- one count, pages, sections ----------------------------------------------------------------


def test_the_overview_and_the_failures_page_give_failure_count(world: World) -> None:
    count = failure_count(world.svc)
    overview = world.owner.get("/").text
    page = world.owner.get("/failures").text

    assert count >= 3
    assert f"{count} problem(s) need you" in overview
    assert f"<h1>Failures ({count})</h1>" in page


def test_the_failures_page_links_an_older_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(failures_view, "PAGE", 2)
    first = world.owner.get("/failures").text
    older = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert older
    second = world.owner.get(older[1].replace("&amp;", "&")).text

    assert listed_keys(first + second) == [f.key for f in failures(world.svc, limit=4)]


def test_an_unknown_failures_page_goes_back_to_the_newest(world: World) -> None:
    page = world.owner.get("/failures?before=job%3A12").text

    assert "Unknown page, back to the newest: « job:12 »" in page
    assert listed_keys(page)[:1] == [failures(world.svc, limit=1)[0].key]


def test_a_retrying_job_is_listed_apart_and_not_counted(calm: Services) -> None:
    job = calm.store.enqueue("email", {}, dedupe_key="retrying", shop="demo")
    assert job is not None
    calm.store.claim_jobs("w")
    later = calm.store.clock() + timedelta(minutes=5)
    calm.store.retry_job(job, "w", error="TimeoutError: timed out", run_at=later)
    page = signed_in(calm).get("/failures").text

    section = page.split('data-section="retrying"', 1)
    assert len(section) == 2 and f'data-key="job:{job}"' in section[1]
    assert "<h1>Failures</h1>" in page  # no count: nothing needs the owner
    assert "No failure: every order is done or on its way." in page


def test_skips_with_nothing_to_do_are_counted_apart_with_the_deliveries_log(
    calm: Services,
) -> None:
    job = calm.store.enqueue("sms", {}, dedupe_key="landline", shop="demo")
    assert job is not None
    calm.store.claim_jobs("w")
    calm.store.skip_job(job, "w", reason="no text sent: '01 23 45 67 89' is a landline")
    page = signed_in(calm).get("/failures").text

    assert listed_keys(page) == []
    [line] = re.findall(r'<p class="muted" data-count="nothing-to-do">(.*?)</p>', page, re.S)
    assert line.startswith("1 step(s) skipped with nothing to do")
    assert 'href="/deliveries?status=skipped"' in line


def test_the_overview_lag_reads_as_status_words_it_in_each_language(tmp_path: Path) -> None:
    shop = {
        "name": "boutique", "platform": "woocommerce", "url": "http://127.0.0.1:9",
        "consumer_key": "ck", "consumer_secret": "cs", "webhook_secret": "whsec",
    }  # fmt: skip
    config = write_config(tmp_path / "quittance.toml", shops=[shop])
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    svc = Services.from_settings(load_settings(config, environ={}), clock=clock)
    try:
        assert svc.store.claim_poll(
            "boutique", "p", lease=timedelta(minutes=1), interval=timedelta(0)
        )
        svc.store.finish_poll("boutique", "p")
        clock.advance(seconds=int(timedelta(days=2, hours=3).total_seconds()))
        english = signed_in(svc).get("/").text
        french = _french_accountant(svc).get("/").text
    finally:
        svc.close()

    assert "<dd>2 d 3 h</dd>" in english and "<dd>2 j 3 h</dd>" in french
    assert " s</dd>" not in english
