"""The operator's views (`bridge/overview.py`) and how `quittance status` and `failures` print
them: every document counted, one list of failures, plain reasons, and layouts that fit."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog
from rich.console import Console
from typer.testing import CliRunner

import bridge.cli as cli_module
from bridge.cli import app
from bridge.config import load_settings
from bridge.delivery.sms.numbers import NotAMobile, mobile_e164
from bridge.model import Order, Refund
from bridge.ops import failures_view, status_tables
from bridge.outages import human_duration
from bridge.overview import (
    ROUTINE_SKIPS,
    Failure,
    day_start,
    failure_count,
    failure_summary,
    failures,
    lag_words,
    parse_page_key,
    plain_reason,
    retry_failure,
    retrying,
    shop_overviews,
)
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.worker import work
from tests.support.cli import widen_consoles
from tests.support.clock import FrozenClock
from tests.support.config import write_config
from tests.support.orders import make_order, orders_by_id, sample_path
from tests.support.smtp import ScriptedHandler, SMTPServer

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

SHOP = "boutique"  # configured; the samples' shop "demo" is not: its documents are "manual"
MAILBOX_UNKNOWN = "550 5.1.1 Mailbox unavailable"
SHORT_HEADERS = ("shop", "platform", "polled", "lag", "hooks", "inv", "credit", "queue")


def boutique() -> dict[str, Any]:
    # never polled by these tests: nothing listens there
    return {
        "name": SHOP, "platform": "woocommerce", "url": "http://127.0.0.1:9",
        "consumer_key": "ck_test", "consumer_secret": "cs_test", "webhook_secret": "whsec",
    }  # fmt: skip


def write(tmp_path: Path, db_url: str, smtp_port: int, **tables: Any) -> Path:
    return write_config(
        tmp_path / "quittance.toml", database_url=db_url, archive_dir=tmp_path / "archive",
        smtp_port=smtp_port, shops=[boutique()], **tables,
    )  # fmt: skip


@pytest.fixture
def handler() -> ScriptedHandler:
    return ScriptedHandler()


@pytest.fixture
def smtp_server(handler: ScriptedHandler) -> Iterator[SMTPServer]:
    with SMTPServer(handler) as server:
        yield server


@pytest.fixture
def config(tmp_path: Path, db_url: str, smtp_server: SMTPServer) -> Path:
    return write(tmp_path, db_url, smtp_server.port)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def svc(config: Path, clock: FrozenClock) -> Iterator[Services]:
    services = Services.from_settings(load_settings(config, environ={}), clock=clock)
    yield services
    services.close()


def cli(*args: str | Path) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    structlog.reset_defaults()  # the CLI configured it on the runner's closed stderr
    return result


def issued(svc: Services, *orders: Order) -> None:
    for order in orders:
        submit_order(svc, order)
    work(svc, once=True)


def sample(order_id: str) -> Order:
    return orders_by_id()[order_id]


def refunded(order: Order) -> Order:
    refund = Refund(
        refund_id="r1", amount=Decimal("5.00"), reason="Geste",
        created_at=order.payment.paid_at + timedelta(hours=1),
    )  # fmt: skip
    return order.model_copy(update={"refunds": [refund]})


def overview_of(svc: Services, shop: str) -> Any:
    [found] = [row for row in shop_overviews(svc, svc.store.clock()) if row.shop == shop]
    return found


def rendered(views: Any, *, width: int, terminal: bool) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)
    for view in views:
        console.print(view)
    return console.file.getvalue()  # type: ignore[attr-defined]


def the_failure(svc: Services, state: str, step: str) -> Failure:
    listed = [*failures(svc), *retrying(svc)]  # a retrying job is listed apart
    [found] = [f for f in listed if (f.state, f.step) == (state, step)]
    return found


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- every document counted ---------------------------------------------------------------


def test_a_manual_issue_document_is_counted_in_status(
    config: Path, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    widen_consoles(monkeypatch)
    assert cli("issue", "-c", config, "--order", sample_path("01_")).exit_code == 0

    demo = overview_of(svc, "demo")
    assert (demo.platform, demo.invoices_today) == ("manual", 1)
    result = cli("status", "-c", config)
    assert result.exit_code == 0, result.output
    assert "shop demo (manual)" in result.output
    assert "1 invoice(s)" in result.output


def test_credit_notes_are_counted_in_status(svc: Services) -> None:
    issued(svc, refunded(make_order("501", shop=SHOP)))

    shop = overview_of(svc, SHOP)
    assert (shop.platform, shop.invoices_today, shop.credit_notes_today) == ("woocommerce", 1, 1)
    assert "1 credit note(s)" in rendered(status_tables(svc), width=80, terminal=False)


def test_a_document_from_before_the_sellers_midnight_is_not_counted_today(
    svc: Services, clock: FrozenClock
) -> None:
    paris = ZoneInfo("Europe/Paris")  # the demo seller's [seller] timezone
    midnight = (datetime.now(paris) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    clock.now = (midnight - timedelta(minutes=5)).astimezone(UTC)
    issued(svc, make_order("502", shop=SHOP))
    assert overview_of(svc, SHOP).invoices_today == 1

    # Paris is ahead of UTC: still the same UTC day, but a new day for the seller
    clock.now = (midnight + timedelta(minutes=5)).astimezone(UTC)
    assert overview_of(svc, SHOP).invoices_today == 0


def test_day_start_follows_the_seller_timezone_across_midnight(svc: Services) -> None:
    zone = svc.settings.seller.zoneinfo
    midnight = (datetime.now(zone) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    before = day_start(svc, (midnight - timedelta(minutes=1)).astimezone(UTC))
    after = day_start(svc, (midnight + timedelta(minutes=1)).astimezone(UTC))

    assert after == midnight and after.tzinfo is UTC
    assert before.astimezone(zone).time().isoformat() == "00:00:00"
    assert timedelta(hours=23) <= after - before <= timedelta(hours=25)  # DST days too


# -- one list of failures -------------------------------------------------------------------


@pytest.fixture
def failing(svc: Services, handler: ScriptedHandler) -> Services:
    """A dead email (the server refuses the mailbox), a skipped one (no address) and a
    quarantined order (its lines do not add up), all by the real steps."""
    handler.reject_all(MAILBOX_UNKNOWN)
    issued(svc, sample("1001"), sample("1004"), sample("1006"))
    return svc


def test_status_failures_are_the_failures_list(failing: Services) -> None:
    [*_, listed] = status_tables(failing)
    full = failures_view(failing)

    assert full is not None and len(full.blocks) == len(failures(failing)) == 3
    assert listed.blocks == full.blocks


def test_status_lists_the_first_failures_and_says_how_many_more(
    failing: Services, clock: FrozenClock
) -> None:
    clock.advance(seconds=1)
    for n in range(3):
        job = failing.store.enqueue("email", {}, dedupe_key=f"extra:{n}", shop=SHOP)
        assert job is not None
        failing.store.claim_jobs("w", limit=10)
        failing.store.kill_job(job, "w", error="KeyError: 'frobnicate'")

    text = rendered(status_tables(failing), width=80, terminal=False)
    assert "… 1 more: `quittance failures`" in text


def test_a_skipped_job_appears_in_status_and_failures(
    config: Path, failing: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    widen_consoles(monkeypatch)
    skipped = the_failure(failing, "skipped", "email")
    heading = f"job {skipped.job_id} (email) skipped: shop demo, order 1004"

    assert heading in cli("status", "-c", config).output
    assert heading in cli("failures", "-c", config).output


def test_a_quarantined_order_appears_once_as_the_order(failing: Services) -> None:
    held = [f for f in failures(failing) if f.order_id == "1006"]

    assert [(f.key, f.step, f.state) for f in held] == [
        ("order:demo:1006", "quarantine", "quarantined")
    ]
    assert "lines add up to 90.00" in held[0].reason


def test_retry_failure_requeues_a_dead_job_and_a_quarantined_order(failing: Services) -> None:
    dead = the_failure(failing, "dead", "email")
    assert dead.job_id is not None

    assert retry_failure(failing, dead.key) and retry_failure(failing, "order:demo:1006")
    job = failing.store.get_job(dead.job_id)
    assert job is not None and job.state == "pending"
    order = failing.store.get_order("demo", "1006")
    assert order is not None and order.status == "received"
    assert not retry_failure(failing, dead.key)  # not dead any more: nothing to replay
    assert not retry_failure(failing, "order:demo:1006")


# -- plain reasons --------------------------------------------------------------------------


def test_plain_reason_of_a_real_smtp_refusal_in_french_and_english(failing: Services) -> None:
    dead = the_failure(failing, "dead", "email")

    assert MAILBOX_UNKNOWN in dead.reason
    assert "refused the customer's email address" in plain_reason(dead, "en")
    assert "a refusé l'adresse e-mail du client" in plain_reason(dead, "fr")


def test_plain_reason_of_a_missing_address_and_of_totals_that_do_not_add_up(
    failing: Services,
) -> None:
    skipped = the_failure(failing, "skipped", "email")
    held = the_failure(failing, "quarantined", "quarantine")

    assert "n'a pas d'adresse e-mail" in plain_reason(skipped, "fr")
    assert "has no email address" in plain_reason(skipped, "en")
    assert "ne font pas son total" in plain_reason(held, "fr")
    assert "`quittance retry order:demo:1006`" in plain_reason(held, "en")


def test_plain_reason_of_an_unreachable_mail_server(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    config = write(tmp_path, db_url, closed_port())
    down = Services.from_settings(load_settings(config, environ={}), clock=clock)
    try:
        issued(down, sample("1001"))
        retrying = the_failure(down, "retry", "email")
    finally:
        down.close()
    assert "mail server cannot be reached" in plain_reason(retrying, "en")
    assert "messagerie est injoignable" in plain_reason(retrying, "fr")


def test_an_unknown_reason_falls_back_and_the_raw_reason_stays_visible(
    failing: Services,
) -> None:
    dead = the_failure(failing, "dead", "email")
    odd = replace(dead, reason="KeyError: 'frobnicate'")

    assert plain_reason(odd, "en").startswith("Quittance could not finish this step")
    assert plain_reason(odd, "fr").startswith("Quittance n'a pas pu terminer cette étape")
    view = failures_view(failing)
    assert view is not None
    raw = [dict(block.lines)["raw reason"] for block in view.blocks]
    assert dead.reason in raw


# -- layouts ----------------------------------------------------------------------------------


def test_piped_output_uses_the_list_layout_within_80_columns(
    config: Path, failing: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    for console in (cli_module.console, cli_module.err_console):
        monkeypatch.setattr(console, "_width", 80)  # what Rich picks when piped
    for command in ("status", "failures"):
        result = cli(command, "-c", config)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert max(len(line) for line in lines) <= 80, command
        assert not any("─" in line for line in lines), command  # no table rules
    assert "shop boutique (woocommerce)" in cli("status", "-c", config).output


def test_a_terminal_too_narrow_for_the_shops_table_gets_their_list(failing: Services) -> None:
    text = rendered(status_tables(failing), width=80, terminal=True)

    assert "shop boutique (woocommerce)" in text and "poll error" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_wide_terminal_gets_tables_whose_header_words_are_not_split(svc: Services) -> None:
    issued(svc, sample("1001"))
    text = rendered(status_tables(svc), width=200, terminal=True)

    [header] = [line for line in text.splitlines() if "platform" in line]
    assert header.split()[: len(SHORT_HEADERS)] == list(SHORT_HEADERS)
    assert "webho" not in text.replace("webhooks", "")
    assert "shop boutique (woocommerce)" not in text  # the table, not the list


# -- what counts as a failure ------------------------------------------------------------------


def skipped(svc: Services, kind: str, reason: str, n: int = 0) -> int:
    """A job of `kind` recorded skipped with `reason`, as the worker records one."""
    job = svc.store.enqueue(kind, {}, dedupe_key=f"{kind}:skipped:{n}:{reason}", shop=SHOP)
    assert job is not None
    svc.store.claim_jobs("w", limit=100)
    assert svc.store.skip_job(job, "w", reason=reason)
    return job


def not_a_mobile(raw: str) -> str:
    """The reason the SMS step records for `raw` (bridge/customer_channels.py)."""
    try:
        mobile_e164(raw, "FR")
    except NotAMobile as exc:
        return f"no text sent: {exc}"
    raise AssertionError(f"{raw} is a mobile")


# Skips whose reason leaves the owner nothing to do, as the steps write them.
ROUTINE = (
    ("sms", not_a_mobile("01 23 45 67 89")),
    ("sms", not_a_mobile("")),
    ("credit", "refund r1 gave nothing back: no credit note"),
    ("zendesk", "no email address on the order: zendesk cannot find the customer"),
    ("zendesk", "no open Zendesk ticket for a@example.fr: nothing to add FA-1 to (set "
                "open_ticket = true in its [[helpdesks]] table to open one)"),
    ("intercom", "no Intercom contact with a@example.fr: nothing to add FA-1 to"),
    ("intercom", "no open Intercom conversation for a@example.fr: FA-1 not added"),
)  # fmt: skip
# Skips the owner can act on.
NEEDS_YOU = (
    ("email", "no email address on the order: `quittance resend NUMBER --to ADDRESS` sends "
              "it once the customer gives one"),
    ("email", "email is not configured ([email] host is empty)"),
    ("sms", "daily SMS cap reached: shop boutique sent 50 texts today, FA-1 is not texted"),
    ("credit", "refused: the refund is more than remains on the invoice"),
)  # fmt: skip


def test_a_text_to_a_landline_is_not_a_failure(svc: Services) -> None:
    job = skipped(svc, "sms", not_a_mobile("01 23 45 67 89"))

    assert f"job:{job}" not in {f.key for f in failures(svc)}
    assert failure_count(svc) == 0
    assert failure_summary(svc).nothing_to_do == 1


def test_a_refund_that_gave_nothing_back_is_not_a_failure(svc: Services) -> None:
    order = refunded(make_order("503", shop=SHOP))
    nothing = order.refunds[0].model_copy(update={"amount": Decimal("0")})  # a restock
    issued(svc, order.model_copy(update={"refunds": [nothing]}))

    [credit] = svc.store.list_jobs(states=("skipped",))
    assert (credit.kind, "gave nothing back" in (credit.last_error or "")) == ("credit", True)
    assert failures(svc) == [] and failure_count(svc) == 0
    assert failure_summary(svc).nothing_to_do == 1


def test_a_helpdesk_without_a_ticket_is_not_a_failure(svc: Services) -> None:
    skipped(svc, "zendesk", "no open Zendesk ticket for a@example.fr: nothing to add FA-1 to")

    assert failures(svc) == [] and failure_count(svc) == 0


def test_a_text_over_the_daily_cap_still_needs_the_owner(svc: Services) -> None:
    job = skipped(svc, "sms", "daily SMS cap reached: shop boutique sent 50 texts today")

    assert [f.key for f in failures(svc)] == [f"job:{job}"]
    assert failure_count(svc) == 1


def test_the_skips_left_out_are_the_ones_whose_plain_reason_says_nothing_to_do(
    svc: Services,
) -> None:
    for n, (kind, reason) in enumerate(ROUTINE + NEEDS_YOU):
        skipped(svc, kind, reason, n)
    listed = failures(svc)

    assert {(f.step, f.reason) for f in listed} == set(NEEDS_YOU)
    assert not any("Nothing to do" in plain_reason(f, "en") for f in listed)
    left_out = [replace(listed[0], step=kind, reason=reason) for kind, reason in ROUTINE]
    # the helpdesk's missing address reads as the email's (the email job tells the owner)
    helpdesk_no_address = {ROUTINE[3][1]}
    assert all(
        "Nothing to do" in plain_reason(f, "en") for f in left_out
        if f.reason not in helpdesk_no_address
    )  # fmt: skip
    assert failure_summary(svc).nothing_to_do == len(ROUTINE)


def test_every_routine_skip_pattern_is_plain_like_without_wildcard_underscores() -> None:
    # `_` is a LIKE wildcard: a pattern may only use `%`, so SQL and the docs agree
    assert all("_" not in like and "\\" not in like for _steps, like in ROUTINE_SKIPS)


def test_a_retrying_job_is_listed_apart_and_not_counted(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    config = write(tmp_path, db_url, closed_port())
    down = Services.from_settings(load_settings(config, environ={}), clock=clock)
    try:
        issued(down, sample("1001"))
        assert [f.step for f in retrying(down)] == ["email"]
        assert failures(down) == [] and failure_count(down) == 0
        assert failure_summary(down).retrying == 1
    finally:
        down.close()


def test_status_counts_the_failures_as_failure_count(failing: Services) -> None:
    [*_, listed] = status_tables(failing)

    assert failure_count(failing) == 3
    assert listed.title.startswith("Failures (3, ")


def test_quittance_failures_lists_retrying_jobs_in_their_own_section(
    tmp_path: Path, db_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    widen_consoles(monkeypatch)
    config = write(tmp_path, db_url, closed_port())
    down = Services.from_settings(load_settings(config, environ={}), clock=clock)
    try:
        issued(down, sample("1001"))
    finally:
        down.close()
    result = cli("failures", "-c", config)

    assert result.exit_code == 0, result.output
    assert "No failures" in result.output
    assert "Retrying by themselves (1, " in result.output


def test_quittance_failures_limit_shows_the_newest(
    config: Path, failing: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    widen_consoles(monkeypatch)
    result = cli("failures", "-c", config, "--limit", "1")

    assert result.exit_code == 0, result.output
    assert "… 2 more: `quittance failures`" in result.output


# -- paging -------------------------------------------------------------------------------------


def test_failures_page_back_by_page_key_without_gaps_or_repeats(
    failing: Services, clock: FrozenClock
) -> None:
    # the same instant for all of them (a frozen clock): the row decides the order
    for n in range(4):
        skipped(failing, "email", f"email is not configured ([email] host is empty) {n}", n)
    failing.store.quarantine_order("demo", "2001", "cannot read the order: total is missing")
    everything = failures(failing)

    paged: list[Failure] = []
    before = None
    while page := failures(failing, limit=2, before=before):
        paged += page
        before = parse_page_key(page[-1].page_key)
    assert [f.key for f in paged] == [f.key for f in everything]
    assert len(everything) == failure_count(failing) == 8


def test_a_page_key_that_is_not_one_reads_as_none() -> None:
    assert parse_page_key("20261399T000000.000000Z-j1") is None
    assert parse_page_key("job:12") is None
    assert parse_page_key("20260101T120000.000001Z-o7") == (
        datetime(2026, 1, 1, 12, 0, 0, 1, tzinfo=UTC),
        1,
        7,
    )


# -- times and durations in the reader's terms ----------------------------------------------


def test_failure_times_are_in_the_seller_timezone_said_once(failing: Services) -> None:
    view = failures_view(failing)
    assert view is not None
    zone = failing.settings.seller.zoneinfo
    first = failures(failing)[0]

    assert view.title == f"Failures (3, times in {failing.settings.seller.timezone})"
    since = dict(view.blocks[0].lines)["since"]
    assert since == f"{first.since.astimezone(zone):%Y-%m-%d %H:%M}"
    assert "UTC" not in since


def test_lag_words_use_the_status_duration_in_the_readers_language() -> None:
    lag = int(timedelta(days=2, hours=3).total_seconds())

    assert lag_words(lag, "en") == human_duration(timedelta(seconds=lag)) == "2 d 3 h"
    assert lag_words(lag, "fr") == "2 j 3 h"
    assert lag_words(90, "fr") == "90 s"
    assert lag_words(None, "en") == "—"
