"""`quittance run` as real subprocesses against BOTH platform sandboxes.

1. One service (SQLite, 2 workers), one WooCommerce and one Shopify shop: signed webhooks become
   one email per paid order and the note / metafield on the order; a lost webhook is caught by
   the next scheduled poll; health, readiness and metrics answer.
2. Two services on one PostgreSQL (same config, another port), many paid orders arriving by
   webhook (some delivered to both services) and by polling: one invoice each, gapless numbers,
   one email each, both services did work, each shop polled once per interval (not twice).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import load_settings
from bridge.devsmtp import CaptureSMTPServer, free_port
from bridge.services import Services
from bridge.store import EventRecord, InvoiceRecord
from connectors.shopify import sandbox_orders as shopify_sb
from connectors.shopify.sandbox import ShopifySandbox
from connectors.shopify.sandbox_orders import build_order
from connectors.woocommerce.sandbox import WooSandbox
from connectors.woocommerce.sandbox_orders import Item, make_order
from tests.support.config import SERVER, SOON_RETRY_JOBS, smtp_table, write_config
from tests.support.numbering import assert_gapless
from tests.support.service import (
    log_lines,
    polls_of,
    settled,
    start_service,
    stop,
    wait_healthy,
)
from tests.support.shops import shopify_shop, woo_shop
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

WOO, SHOPIFY = "theiere-woo", "theiere-shopify"
KEY, SECRET, HOOK_SECRET = "ck_run_123", "cs_run_456", "whsec-run-789"
INTERVAL = 10  # the smallest poll interval the configuration accepts
POLLING = {"poll_interval_seconds": INTERVAL, "poll_overlap_seconds": 120}


def run_config(
    path: Path,
    *,
    database_url: str,
    smtp_port: int,
    http_port: int,
    wc: WooSandbox,
    sb: ShopifySandbox,
    metrics_port: int = 0,
) -> Path:
    return write_config(
        path,
        database_url=database_url,
        archive_dir=path.parent / "archive",
        jobs=SOON_RETRY_JOBS,
        email=smtp_table(smtp_port, timeout=None),
        server={**SERVER, "host": "127.0.0.1", "port": http_port, "metrics_port": metrics_port},
        logging={"format": "json"},
        shops=[woo_shop(WOO, wc, **POLLING), shopify_shop(SHOPIFY, sb, **POLLING)],
    )


def woo_order(n: int, *, paid: bool = True) -> dict:
    now = datetime.now(UTC)
    return make_order(
        n,
        items=[Item("Thé vert Sencha", "12.00", 2, rate_id=2), Item("Tasse", "9.00", 1)],
        shipping=("Colissimo", "5.00", 1),
        status="processing" if paid else "pending",
        paid=paid,
        created=now - timedelta(minutes=1),
        paid_at=now if paid else None,
        billing={
            "first_name": "Client",
            "last_name": f"Woo{n}",
            "email": f"woo{n}@example.fr",
            "address_1": "1 rue Neuve",
            "postcode": "69001",
            "city": "Lyon",
            "country": "FR",
        },
    )


def shopify_order(n: int, *, paid: bool = True) -> dict:
    return build_order(
        n,
        f"#S{n}",
        [shopify_sb.Item("Rooibos vanille", "8.50", 3, rate="5.5")],
        shipping=shopify_sb.Shipping("Colissimo", "6.90"),
        customer={"firstName": "Client", "lastName": f"Shop{n}", "email": f"shop{n}@example.fr"},
        # paid one minute after creation: keep that in the past
        created_at=datetime.now(UTC) - timedelta(minutes=2),
        paid=paid,
    )


def invoices_by_order(svc: Services) -> dict[tuple[str, str], InvoiceRecord]:
    return {(i.shop, i.order_id): i for i in svc.store.iter_invoices()}


def poll_events(svc: Services, shop: str) -> list[EventRecord]:
    """The `poll.done` events of `shop`, oldest first."""
    done = [e for e in svc.store.events(5000, "poll.done") if e.shop == shop]
    return sorted(done, key=lambda e: e.id)


def last_poll_event_id(svc: Services, shop: str) -> int:
    return max((e.id for e in poll_events(svc, shop)), default=0)


def polls_until_found(svc: Services, shop: str, *, after_event: int) -> int:
    """How many finished polls of `shop` after event `after_event` it took until one found a
    new order."""
    later = [e for e in poll_events(svc, shop) if e.id > after_event]
    found = [n for n, e in enumerate(later, start=1) if e.detail["new"]]
    assert found, f"no poll of {shop} found a new order: {[e.detail for e in later]}"
    return found[0]


def first_polls_done(svc: Services) -> bool:
    return all(n >= 1 for n in polls_of(svc, (WOO, SHOPIFY)).values())


def test_run_serves_webhooks_polls_lost_ones_and_reports_health(tmp_path: Path) -> None:
    http_port, metrics_port = free_port(), free_port()
    log = tmp_path / "service.log"
    with (
        WooSandbox(
            consumer_key=KEY, consumer_secret=SECRET, webhook_secret=HOOK_SECRET, seed=False
        ) as wc,
        ShopifySandbox(seed=False) as sb,
        CaptureSMTPServer() as smtp,
    ):
        config = run_config(
            tmp_path / "quittance.toml",
            database_url=f"sqlite:///{tmp_path / 'q.db'}",
            smtp_port=smtp.port,
            http_port=http_port,
            wc=wc,
            sb=sb,
            metrics_port=metrics_port,
        )
        svc = Services.from_settings(load_settings(config, environ={}))
        proc = start_service(config, log)
        try:
            wait_healthy(http_port, proc)
            base = f"http://127.0.0.1:{http_port}"
            ready = requests.get(f"{base}/readyz", timeout=5)
            assert ready.status_code == 200 and ready.json() == {"status": "ready"}

            # the first tick polls each shop at start: wait for it, so the rest is webhooks
            eventually("the first poll of both shops", lambda: first_polls_done(svc))

            # paid orders, each announced by a signed webhook
            for n in (101, 102):
                wc.add_order(woo_order(n), notify=False)
                assert [
                    r.status for r in wc.deliver_webhook(f"{base}/webhooks/woocommerce/{WOO}", n)
                ] == [200]
            for n in (7001, 7002):
                sb.add_order(shopify_order(n))
                assert sb.deliver_webhook(f"{base}/webhooks/shopify/{SHOPIFY}", n) == [200]
            # a signed-but-duplicate retry of the same Shopify event changes nothing
            assert sb.deliver_webhook(
                f"{base}/webhooks/shopify/{SHOPIFY}", 7001, event_id="evt-7001", duplicate=2
            ) == [200, 200]

            # and two orders that become paid while the webhook is lost
            wc.add_order(woo_order(103, paid=False), notify=False)
            sb.add_order(shopify_order(7003, paid=False))

            eventually("4 emails", lambda: len(smtp.received) >= 4)
            # lost webhooks: the owner marks them paid, nothing is delivered
            before = {shop: last_poll_event_id(svc, shop) for shop in (WOO, SHOPIFY)}
            wc.set_status(103, "processing")
            wc.flush_webhooks(lose=True)
            sb.mark_paid(7003)
            eventually(
                "the lost orders to be invoiced by polling",
                lambda: {(WOO, "103"), (SHOPIFY, "7003")} <= set(invoices_by_order(svc)),
            )
            # caught by the next scheduled poll (or the one after, if one was under way when
            # they were paid), not by some later safety net. A poll records its pages before it
            # logs `poll.done`: the invoice can be issued before that poll's event is written.
            for shop in (WOO, SHOPIFY):
                eventually(
                    f"the poll of {shop} that found them to finish",
                    lambda shop=shop: any(
                        e.detail["new"] for e in poll_events(svc, shop) if e.id > before[shop]
                    ),
                )
                assert polls_until_found(svc, shop, after_event=before[shop]) <= 2
            eventually("6 emails", lambda: len(smtp.received) >= 6)

            def attached() -> bool:
                invs = invoices_by_order(svc)
                notes_ok = all(len(wc.our_notes(n)) == 1 for n in (101, 102, 103))
                mf_ok = all(
                    sb.metafield(n, "invoice_number") == invs[(SHOPIFY, str(n))].number
                    for n in (7001, 7002, 7003)
                )
                return notes_ok and mf_ok

            eventually("notes and metafields on the orders", attached)
            settled(svc, (WOO, SHOPIFY))  # a duplicate email or a second note would show now

            invs = invoices_by_order(svc)
            assert len(invs) == 6
            assert_gapless(invs.values(), 6)
            for n in (101, 102, 103):
                (note,) = wc.our_notes(n)
                assert invs[(WOO, str(n))].number in note["note"]
                assert note["customer_note"] is False
            for n in (7001, 7002, 7003):
                url = sb.metafield(n, "invoice_url")
                assert url and url.startswith("https://factures.latheiere.example.fr/invoices/")
            recipients = sorted(r.rcpt_tos[0] for r in smtp.received)
            expected = [f"shop{n}@example.fr" for n in (7001, 7002, 7003)] + [
                f"woo{n}@example.fr" for n in (101, 102, 103)
            ]
            assert recipients == sorted(expected)
            assert all(len(r.rcpt_tos) == 1 for r in smtp.received)
            assert wc.refund_posts == 0
            counts = svc.store.job_counts()
            assert counts["dead"] == 0 and counts["retry"] == 0, counts
            # the lost ones never came in as webhooks: 4 stored webhook events (the retry
            # under a new event id carried the same body: a replay, not stored again)
            assert (
                sum(svc.store.webhook_counts_since(datetime(2000, 1, 1, tzinfo=UTC)).values()) == 4
            )

            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
            ready = requests.get(f"{base}/readyz", timeout=5)
            assert ready.status_code == 200 and ready.json() == {"status": "ready"}
            metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
            assert metrics.status_code == 200
            assert "quittance_webhooks_total" in metrics.text
            samples = [
                s for family in text_string_to_metric_families(metrics.text)
                for s in family.samples
            ]  # fmt: skip
            stored: Counter[str] = Counter()
            jobs_by_state: Counter[str] = Counter()
            for s in samples:
                if s.name == "quittance_webhook_events_total":  # from the database
                    stored[s.labels["platform"]] += int(s.value)
                if s.name == "quittance_jobs":
                    jobs_by_state[s.labels["state"]] += int(s.value)
            assert stored == {"woocommerce": 2, "shopify": 2}, samples
            assert jobs_by_state["dead"] == 0
            assert jobs_by_state["done"] == counts["done"]
        finally:
            code = stop(proc)
            svc.close()
        assert code == 0
    lines = log_lines(log)
    assert any(x.get("event") == "poll done" and x.get("shop") == WOO for x in lines)
    assert any(x.get("event") == "poll done" and x.get("shop") == SHOPIFY for x in lines)
    assert not [x for x in lines if x.get("level") in ("error", "critical")], lines


def child_pids(pid: int) -> set[int]:
    """The worker processes a service spawned (Linux /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(x) for x in text)
    return found


def count_polls(wc: WooSandbox, sb: ShopifySandbox, polls: Counter[str]) -> None:
    """Count each poll as the shop sees it: its first page request."""
    list_orders, paid_orders = wc._list_orders, sb._op_QuittancePaidOrders

    def woo_list(query):  # type: ignore[no-untyped-def]
        if query.get("page", "1") == "1" and "modified_after" in query:
            polls[WOO] += 1
        return list_orders(query)

    def shopify_list(variables, query):  # type: ignore[no-untyped-def]
        if not variables.get("after"):
            polls[SHOPIFY] += 1
        return paid_orders(variables, query)

    wc._list_orders = woo_list  # type: ignore[method-assign]
    sb._op_QuittancePaidOrders = shopify_list  # type: ignore[method-assign]


def claim_times(svc: Services, shop: str) -> list[datetime]:
    """When each finished poll of `shop` won its lease, oldest first (from the database)."""
    done = [e for e in svc.store.events(5000, "poll.done") if e.shop == shop]
    return sorted(datetime.fromisoformat(e.detail["claimed_at"]) for e in done)


@dataclass(frozen=True)
class Load:
    per_platform: int  # paid orders per platform
    webhooked: int  # of those, announced by a webhook; the rest are left to polling
    duplicated: int  # of the webhooked, delivered to both services


@pytest.fixture
def load(full_size: bool) -> Load:
    # the full size (300 orders) runs with --full-size; the suite's size keeps every path
    return Load(150, 100, 30) if full_size else Load(50, 30, 10)


@pytest.mark.postgres
def test_two_services_on_postgresql_share_the_work_exactly_once(
    tmp_path: Path, pg_url: str, load: Load
) -> None:
    ports = (free_port(), free_port())
    logs = (tmp_path / "a.log", tmp_path / "b.log")
    n_woo = n_shopify = load.per_platform
    with (
        WooSandbox(
            consumer_key=KEY, consumer_secret=SECRET, webhook_secret=HOOK_SECRET, seed=False
        ) as wc,
        ShopifySandbox(seed=False) as sb,
        CaptureSMTPServer() as smtp,
    ):
        configs = [
            run_config(
                tmp_path / f"quittance-{name}.toml",  # identical but for [server] port
                database_url=pg_url,
                smtp_port=smtp.port,
                http_port=port,
                wc=wc,
                sb=sb,
            )
            for name, port in zip("ab", ports, strict=True)
        ]
        polls_seen: Counter[str] = Counter()
        count_polls(wc, sb, polls_seen)
        svc = Services.from_settings(load_settings(configs[0], environ={}))
        procs = [start_service(cfg, log) for cfg, log in zip(configs, logs, strict=True)]
        workers: dict[str, set[int]] = {}
        try:
            for port, proc in zip(ports, procs, strict=True):
                wait_healthy(port, proc)
            a, b = (f"http://127.0.0.1:{port}" for port in ports)

            eventually("the first poll of both shops", lambda: first_polls_done(svc))
            started = time.monotonic()

            def woo_hook(target: str, n: int) -> int:
                (result,) = wc.deliver_webhook(f"{target}/webhooks/woocommerce/{WOO}", n)
                return result.status

            def shopify_hook(target: str, n: int) -> int:
                # the same event id to both services: a retry that landed on the other replica
                url = f"{target}/webhooks/shopify/{SHOPIFY}"
                (status,) = sb.deliver_webhook(url, n, event_id=f"evt-{n}")
                return status

            for n in range(1, load.webhooked + 1):
                wc.add_order(woo_order(n), notify=False)
                sb.add_order(shopify_order(9000 + n))
            deliveries: list[tuple[Callable[[str, int], int], str, int]] = []
            for n in range(1, load.webhooked + 1):
                deliveries.append((woo_hook, a, n))
                deliveries.append((shopify_hook, b, 9000 + n))
                if n <= load.duplicated:
                    deliveries.append((woo_hook, b, n))
                    deliveries.append((shopify_hook, a, 9000 + n))
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda d: d[0](d[1], d[2]), deliveries))
            assert statuses == [200] * len(deliveries)
            # the rest become paid with no webhook at all: polling must find them
            for n in range(load.webhooked + 1, n_woo + 1):
                wc.add_order(woo_order(n), notify=False)
            for n in range(load.webhooked + 1, n_shopify + 1):
                sb.add_order(shopify_order(9000 + n))

            total = n_woo + n_shopify
            eventually(f"{total} emails", lambda: len(smtp.received) >= total, timeout=300)
            elapsed_work = time.monotonic() - started
            for name, proc in zip("ab", procs, strict=True):
                workers[name] = child_pids(proc.pid)
            # late duplicates would need a job: none appears after one more poll of each shop
            settled(svc, (WOO, SHOPIFY))
        finally:
            codes = [stop(proc) for proc in procs]
        assert codes == [0, 0]
        print(
            f"\n{total} orders ({len(deliveries)} webhook deliveries): all emailed "
            f"{elapsed_work:.1f} s after the first delivery, two services"
        )

        try:
            invoices = list(svc.store.iter_invoices())
            assert len(invoices) == total
            assert_gapless(invoices, total)
            assert {(i.shop, i.order_id) for i in invoices} == {
                (WOO, str(n)) for n in range(1, n_woo + 1)
            } | {(SHOPIFY, str(9000 + n)) for n in range(1, n_shopify + 1)}

            per_recipient = Counter(r for m in smtp.received for r in m.rcpt_tos)
            expected = {f"woo{n}@example.fr" for n in range(1, n_woo + 1)} | {
                f"shop{9000 + n}@example.fr" for n in range(1, n_shopify + 1)
            }
            assert set(per_recipient) == expected
            assert [r for r, c in per_recipient.items() if c != 1] == []  # no duplicate email

            counts = svc.store.job_counts()
            assert counts["dead"] == 0 and counts["skipped"] == 0, counts
            assert all(len(wc.our_notes(n)) == 1 for n in range(1, n_woo + 1))
            numbers = {(i.shop, i.order_id): i.number for i in invoices}
            assert all(
                sb.metafield(9000 + n, "invoice_number") == numbers[(SHOPIFY, str(9000 + n))]
                for n in range(1, n_shopify + 1)
            )
            assert sb.calls.count("QuittanceMetafieldsSet") == n_shopify

            by_service = done_jobs_by_service(svc, workers)
            print(f"done jobs per service: {dict(by_service)}")
            assert by_service["a"] > 0 and by_service["b"] > 0, by_service

            # each shop polled once per interval, not once per service per interval: the
            # database keeps when each poll won its lease (the shop's view of when a poll
            # started varies with load, the claims do not)
            lines = {name: log_lines(log) for name, log in zip("ab", logs, strict=True)}
            for shop in (WOO, SHOPIFY):
                claims = claim_times(svc, shop)
                gaps = [(y - x).total_seconds() for x, y in itertools.pairwise(claims)]
                by_log = {
                    name: sum(
                        1 for x in ls if x.get("event") == "poll done" and x.get("shop") == shop
                    )
                    for name, ls in lines.items()
                }
                state = svc.store.poll_state(shop)
                assert state is not None and state.last_error is None
                print(f"{shop}: {len(claims)} polls, by service {by_log}, "
                      f"gaps {min(gaps):.1f}-{max(gaps):.1f} s")  # fmt: skip
                assert state.polls == len(claims)
                # the stop may land between a poll's finish and its log line: one, at most
                assert len(claims) - 1 <= sum(by_log.values()) <= len(claims)
                # every finished poll reached the shop once (a poll cut by the stop, maybe one)
                assert state.polls <= polls_seen[shop] <= state.polls + 1
                assert min(gaps) >= 0.9 * INTERVAL, gaps
                # and the rhythm holds: a tick is only skipped while a poll is still running,
                # so under any load two claims stay within a few intervals of each other
                assert max(gaps) <= 3 * INTERVAL, gaps
        finally:
            svc.close()


def done_jobs_by_service(svc: Services, workers: dict[str, set[int]]) -> Counter[str]:
    """Done jobs per service (a done job keeps its worker's id, `host:pid/slot`)."""
    from sqlalchemy import text

    with svc.store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT lease_owner, count(*) FROM jobs WHERE state = 'done' GROUP BY lease_owner")
        ).all()
    by_service: Counter[str] = Counter()
    for owner, count in rows:
        pid = int(owner.split(":")[1])  # host:pid:random/index
        service = [name for name, pids in workers.items() if pid in pids]
        assert len(service) == 1, (owner, workers)
        by_service[service[0]] += count
    return by_service
