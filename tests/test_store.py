"""Store foundation: migrations, orders, issuing, immutability, events, alerts.

Snapshots come from `tests/support/snapshots.py` (the b2c case, renumbered as a test needs).
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing as mp
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bridge.invoicing.snapshot import (
    InvoiceSnapshot,
)
from bridge.store import (
    GENESIS_HASH,
    InvoiceImmutableError,
    Store,
    chain_hash,
    chain_problems,
)
from bridge.store.migrate import alembic_config
from bridge.store.schema import metadata
from tests.support.orders import make_order
from tests.support.snapshots import T0, issue, make_snapshot


@pytest.fixture
def store(db_url: str) -> Any:
    with Store.open(db_url) as s:
        yield s


# -- migrations ---------------------------------------------------------------------------


def test_open_migrates_and_schema_matches_metadata(db_url: str) -> None:
    with Store.open(db_url) as first, Store.open(db_url) as second:  # second open: no-op
        assert second.dialect in ("sqlite", "postgresql")
        with first.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            assert diff == []
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_pg_tables_live_in_the_search_path_schema(pg_url: str) -> None:
    with Store.open(pg_url) as store, store.engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        assert schema.startswith("t_")
        found = conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
            {"s": schema},
        ).scalars()
        assert {"alembic_version", "invoices", "jobs", "events"} <= set(found)


def _open_at_once(url: str, barrier: Any) -> None:
    barrier.wait()
    with Store.open(url) as store:
        store.append_event("worker.started")


@pytest.mark.slow
def test_concurrent_open_of_a_fresh_database(db_url: str) -> None:
    """Workers started together all migrate the same empty database: none may fail."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_open_at_once, args=(db_url, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * 4
    with Store.open(db_url) as store:
        assert len(store.events(kind="worker.started")) == 4


def test_plain_postgresql_url_means_psycopg3(pg_url: str) -> None:
    with Store.open(pg_url.replace("postgresql+psycopg://", "postgresql://")) as store:
        assert store.dialect == "postgresql" and store.engine.driver == "psycopg"


def test_sqlite_pragmas(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'q.db'}"  # the missing folder gets created
    with Store.open(url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# -- orders -------------------------------------------------------------------------------


def test_record_and_quarantine_orders(store: Store) -> None:
    order = make_order("7")
    store.record_order(order)
    rec = store.get_order("shop-a", "7")
    assert rec is not None and rec.status == "received" and rec.payload == order
    store.record_order(order)  # upsert, not a duplicate
    store.quarantine_order("shop-a", "7", "totals off by 0.05")
    store.quarantine_order("shop-a", "bad", "unparseable body")  # no row yet
    quarantined = store.list_quarantined()
    assert [(o.order_id, o.reason) for o in quarantined] == [
        ("7", "totals off by 0.05"),
        ("bad", "unparseable body"),
    ]
    assert quarantined[1].payload is None
    assert store.get_order("shop-a", "nope") is None


def test_issue_marks_order_issued_and_issued_stays_issued(store: Store) -> None:
    store.record_order(make_order("7"))
    issue(store, "7")
    assert store.get_order("shop-a", "7").status == "issued"  # type: ignore[union-attr]
    store.record_order(make_order("7"))  # late webhook
    store.quarantine_order("shop-a", "7", "late check")
    assert store.get_order("shop-a", "7").status == "issued"  # type: ignore[union-attr]


# -- issuing ------------------------------------------------------------------------------


def test_issue_is_idempotent(store: Store) -> None:
    calls: list[int] = []

    def build(seq: int) -> InvoiceSnapshot:
        calls.append(seq)
        return make_snapshot(seq, order_id="1001")

    kw: dict[str, Any] = dict(shop="shop-a", order_id="1001", kind="invoice", series="FA")
    first = store.issue_invoice(**kw, period="2026", build=build)
    again = store.issue_invoice(**kw, period="2026", build=build)
    assert first.created and not again.created
    assert again.invoice == first.invoice
    assert calls == [1]  # build not called for the duplicate
    inv = first.invoice
    assert (inv.number, inv.sequence, inv.period, inv.prev_hash) == (
        "FA-2026-000001",
        1,
        "2026",
        GENESIS_HASH,
    )
    assert inv.hash == hashlib.sha256((GENESIS_HASH + inv.snapshot_json).encode()).hexdigest()
    assert inv.snapshot.canonical_json() == inv.snapshot_json
    assert inv.issued_at == T0
    assert store.get_invoice("FA-2026-000001") == inv
    assert store.get_invoice_by_id(inv.id) == inv
    assert store.get_invoice_for_order("shop-a", "1001") == inv
    assert store.get_invoice_for_order("shop-a", "1001", "credit_note") is None
    [event] = store.events(kind="invoice.issued")
    assert (event.invoice_number, event.order_id, event.detail["invoice_id"]) == (
        inv.number,
        "1001",
        inv.id,
    )


def test_build_raising_burns_no_number(store: Store) -> None:
    issue(store, "1")

    def boom(seq: int) -> InvoiceSnapshot:
        raise RuntimeError(f"render failed for {seq}")

    with pytest.raises(RuntimeError, match="render failed for 2"):
        store.issue_invoice(
            shop="shop-a", order_id="2", kind="invoice", series="FA", period="2026", build=boom
        )
    assert store.get_invoice_for_order("shop-a", "2") is None
    assert issue(store, "2").invoice.sequence == 2
    assert store.events(kind="invoice.issued")[0].invoice_number == "FA-2026-000002"


def test_failure_after_insert_rolls_back_everything(store: Store) -> None:
    issue(store, "1")
    with pytest.raises(TypeError):  # a follow-up payload that is not JSON: fails after insert
        issue(store, "2", follow_up_jobs=[("render", {"bad": object()})])
    assert store.get_invoice_for_order("shop-a", "2") is None
    assert store.job_counts()["pending"] == 0
    assert issue(store, "2").invoice.sequence == 2


def test_snapshot_must_match_allocation(store: Store) -> None:
    def wrong(seq: int) -> InvoiceSnapshot:
        return make_snapshot(seq + 1, order_id="1")

    def bad_number(seq: int) -> InvoiceSnapshot:
        return make_snapshot(seq, "FA 2026 #1", order_id="1")

    for build in (wrong, bad_number):
        with pytest.raises(ValueError, match="invalid invoice snapshot"):
            store.issue_invoice(
                shop="shop-a",
                order_id="1",
                kind="invoice",
                series="FA",
                period="2026",
                build=build,
            )
    assert issue(store, "1").invoice.sequence == 1


def test_follow_up_jobs_in_same_transaction(store: Store) -> None:
    res = issue(store, "1", follow_up_jobs=[("render", {}), ("email", {"_dedupe_key": "mail-1"})])
    jobs = {j.kind: j for j in store.list_jobs(("pending",))}
    inv_id = res.invoice.id
    assert jobs["render"].dedupe_key == f"render:{inv_id}"
    assert jobs["email"].dedupe_key == "mail-1" and jobs["email"].payload == {}
    assert {j.invoice_id for j in jobs.values()} == {inv_id}
    assert {(j.shop, j.order_id) for j in jobs.values()} == {("shop-a", "1")}


# -- immutability -------------------------------------------------------------------------


def test_database_refuses_invoice_update_and_delete(store: Store) -> None:
    inv = issue(store, "1").invoice
    statements = [
        "UPDATE invoices SET number = 'FA-X' WHERE id = :id",
        "UPDATE invoices SET snapshot = '{}' WHERE id = :id",
        "UPDATE invoices SET hash = prev_hash WHERE id = :id",
        # setting the PDF hash while also changing another column is refused too
        "UPDATE invoices SET pdf_sha256 = :h, sequence = 9 WHERE id = :id",
        "DELETE FROM invoices WHERE id = :id",
        "DELETE FROM invoices",
    ]
    for sql in statements:
        with pytest.raises(InvoiceImmutableError), store.engine.begin() as conn:
            conn.execute(text(sql), {"id": inv.id, "h": "a" * 64})
    if store.dialect == "postgresql":
        with pytest.raises(InvoiceImmutableError), store.engine.begin() as conn:
            conn.execute(text("TRUNCATE invoices"))
    assert store.get_invoice_by_id(inv.id) == inv


def test_set_pdf_sha256_once(store: Store) -> None:
    inv = issue(store, "1").invoice
    digest = hashlib.sha256(b"%PDF-1.4").hexdigest()
    store.set_pdf_sha256(inv.id, digest)
    store.set_pdf_sha256(inv.id, digest)  # same value: no-op
    with pytest.raises(InvoiceImmutableError):
        store.set_pdf_sha256(inv.id, "b" * 64)
    # and not behind the store's back either: NULL -> value was the one allowed change
    with pytest.raises(InvoiceImmutableError), store.engine.begin() as conn:
        conn.execute(text("UPDATE invoices SET pdf_sha256 = :h"), {"h": "c" * 64})
    with pytest.raises(InvoiceImmutableError), store.engine.begin() as conn:
        conn.execute(text("UPDATE invoices SET pdf_sha256 = NULL"))
    with pytest.raises(ValueError):
        store.set_pdf_sha256(inv.id, "not-a-hash")
    with pytest.raises(LookupError):
        store.set_pdf_sha256(inv.id + 1, digest)
    after = store.get_invoice_by_id(inv.id)
    assert after is not None and after.pdf_sha256 == digest and after.hash == inv.hash


def test_events_are_append_only(store: Store) -> None:
    first = store.append_event("order.received", shop="shop-a", order_id="1", detail={"n": 1})
    store.append_event("order.received", shop="shop-a", order_id="2")
    store.append_event("alert.sent")
    assert [e.id for e in store.events(kind="order.received")][::-1][0] == first
    assert [e.kind for e in store.events(limit=2)] == ["alert.sent", "order.received"]
    assert store.events(kind="order.received")[-1].detail == {"n": 1}
    for sql in ("UPDATE events SET kind = 'x'", "DELETE FROM events"):
        with pytest.raises(InvoiceImmutableError), store.engine.begin() as conn:
            conn.execute(text(sql))
    # (the first is the migration's record of where keyed links begin)
    kinds = ["alert.sent", "order.received", "order.received", "chain.keyed_from"]
    assert [e.kind for e in store.events()] == kinds


def test_chain_links_verify_and_tampering_is_detected(store: Store) -> None:
    for i in range(1, 6):
        issue(store, str(i))
    issue(store, "c1", series="AV")  # another series has its own chain
    records = list(store.iter_invoices(page_size=2))  # small pages exercise the keyset
    assert [(r.series, r.sequence) for r in records] == [("AV", 1)] + [
        ("FA", i) for i in range(1, 6)
    ]
    assert chain_problems(records) == []
    fa = [r for r in records if r.series == "FA"]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(fa))
    assert all(r.hash == chain_hash(r.prev_hash, r.snapshot_json) for r in records)
    forged = records[:2] + records[3:]  # a missing invoice breaks the next link
    assert chain_problems(forged) == [
        f"{records[3].number}: prev_hash does not link to the previous invoice",
        f"{records[3].number}: expected sequence 2 (a number is missing)",
    ]


# -- alerts -------------------------------------------------------------------------------


def test_claim_alert_once_per_window(db_url: str) -> None:
    now = [T0]
    with Store.open(db_url, clock=lambda: now[0]) as store:
        window = timedelta(minutes=60)
        assert store.claim_alert("smtp-down", window) is True
        assert store.claim_alert("smtp-down", window) is False
        assert store.claim_alert("other", window) is True
        now[0] = T0 + timedelta(minutes=59)
        assert store.claim_alert("smtp-down", window) is False
        now[0] = T0 + timedelta(minutes=61)
        assert store.claim_alert("smtp-down", window) is True
        assert store.claim_alert("smtp-down", window) is False


def test_a_database_error_never_shows_the_values_of_its_statement(db_url: str) -> None:
    """Error texts reach logs, job errors and alerts: a customer's data must not ride along."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from bridge.store.schema import orders

    with Store.open(db_url) as store:
        row = {
            "shop": "s", "order_id": "1", "platform": "woocommerce", "status": "received",
            "payload": "claire.martin@example.fr", "created_at": T0, "updated_at": T0,
        }  # fmt: skip
        with store.engine.begin() as conn:
            conn.execute(insert(orders).values(**row))
        with pytest.raises(IntegrityError) as failed, store.engine.begin() as conn:
            conn.execute(insert(orders).values(**row))  # the same order twice
    assert "claire.martin@example.fr" not in str(failed.value)
