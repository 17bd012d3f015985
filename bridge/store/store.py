"""`Store`: the one object the rest of Quittance talks to the database through.

It owns the engine and the transaction boundaries; the SQL itself lives in the small modules
(orders, invoices, jobs, events). Write methods run in a write transaction (BEGIN IMMEDIATE on
SQLite), reads in a plain one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Self

import structlog
from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bridge.chain_key import ChainKeyError, ChainKeyFile, ChainKeys
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.model import Order
from bridge.store import deliveries, events, guards, health, invoices, jobs, orders, reports, shops
from bridge.store import outages as outage_rows
from bridge.store import platform as inbox
from bridge.store import portal as customer_side
from bridge.store.dashboard_side import DashboardRows
from bridge.store.deliveries import DeliveryIn
from bridge.store.delivery_log import DeliveryLog
from bridge.store.engine import create_store_engine, writer
from bridge.store.errors import StoreError
from bridge.store.invoices import FollowUp
from bridge.store.job_queue import JobQueue
from bridge.store.migrate import upgrade_to_head
from bridge.store.outages import FailingJob, OutageRecord
from bridge.store.records import (
    CustomerRecord,
    DeliveryRecord,
    EventRecord,
    InvoiceRecord,
    IssueResult,
    OrderRecord,
    PollStateRecord,
    SurveyRecord,
    UnreadableIn,
    WebhookIn,
    WebhookRecord,
)
from bridge.store.search import DocumentSearch

log = structlog.get_logger()

Clock = Callable[[], datetime]
KEY_CREATED = "chain.key_created"
# Told of each document just committed (the chain head anchored outside the database).
OnIssued = Callable[[InvoiceRecord], None]
# The job that reads an order from its shop again ("ingest" without a webhook event): how an
# order quarantined before it could be read is replayed by `quittance retry`.
REREAD_JOB = "ingest"


def utc_now() -> datetime:
    return datetime.now(UTC)


class Store(JobQueue, DashboardRows, DocumentSearch, DeliveryLog):
    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = utc_now,
        chain_keys: ChainKeyFile | None = None,
        on_issued: OnIssued | None = None,
    ) -> None:
        self.engine = engine
        self._writer = writer(engine)
        # Injectable so tests can move time (leases, retries, alert windows) without sleeping.
        # Across hosts this is the workers' clocks: keep them NTP-synced (leases are minutes).
        self.clock = clock
        # None: plain SHA-256 links (a bare store in tests); a service always has its keys.
        self.chain_keys = chain_keys
        self.on_issued = on_issued

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock = utc_now,
        migrate: bool = True,
        chain_keys: ChainKeyFile | None = None,
        on_issued: OnIssued | None = None,
    ) -> Self:
        engine = create_store_engine(url)
        try:
            if migrate:
                upgrade_to_head(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock=clock, chain_keys=chain_keys, on_issued=on_issued)

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        name = self.engine.dialect.name
        assert name in ("sqlite", "postgresql"), name
        return name  # type: ignore[return-value]

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _write(self) -> AbstractContextManager[Connection]:
        return self._writer.begin()

    def _read(self) -> AbstractContextManager[Connection]:
        return self.engine.connect()

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the store clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    # -- orders -------------------------------------------------------------------------

    def record_order(
        self,
        order: Order,
        status: str = "received",
        *,
        enqueue: tuple[str, Mapping[str, Any], str] | None = None,
        credit_options: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Upsert by (shop, order_id); an `issued` order keeps its status.

        `enqueue=(kind, payload, dedupe_key)` adds that job for the order in the SAME
        transaction (the durable intent cannot be lost between the two). Returns the new job
        id, or None (no job asked, or its dedupe_key already existed). `credit_options` (the
        flow's options, `{}` for none): also one "credit" job per refund of the order.
        """
        with self._write() as conn:
            now = self._now()
            if orders.record(conn, order, status, now):
                jobs.requeue_for_order(conn, order.shop, order.order_id, now)
            if credit_options is not None:
                _enqueue_credits(conn, order, credit_options, now)
            if enqueue is None:
                return None
            kind, payload, dedupe_key = enqueue
            return jobs.enqueue(
                conn,
                kind,
                payload,
                dedupe_key=dedupe_key,
                run_at=now,
                now=now,
                shop=order.shop,
                order_id=order.order_id,
            )

    def requeue_order(self, shop: str, order_id: str) -> bool:
        """Release a quarantined order (quittance retry): status back to `received` and its
        finished pre-invoice jobs (those without invoice_id, e.g. "issue") pending again, in
        one transaction. An order quarantined before it could be read gets a job that reads
        it from the shop again. False (and nothing changed) when it is not quarantined."""
        with self._write() as conn:
            now = self._now()
            record = orders.get(conn, shop, order_id)
            if not orders.release_quarantined(conn, shop, order_id, now):
                return False
            jobs.requeue_for_order(conn, shop, order_id, now)
            if record is not None and record.payload is None:
                jobs.enqueue(
                    conn, REREAD_JOB, {"order_ref": order_id},
                    dedupe_key=f"reread:{shop}:{order_id}", run_at=now, now=now,
                    shop=shop, order_id=order_id,
                )  # fmt: skip
            return True

    def quarantine_order(self, shop: str, order_id: str, reason: str) -> None:
        """Mark (or create) the order quarantined with `reason`; an issued order is left as is."""
        with self._write() as conn:
            orders.quarantine(conn, shop, order_id, reason, self._now())

    def quarantine_unreadable(self, shop: str, items: Sequence[UnreadableIn]) -> list[str]:
        """Paid orders the connector could not map: quarantined, each raw payload kept in its
        `order.quarantined` event (there is no `Order` to store), in one transaction. Returns
        the ids newly quarantined (one already so for the same reason, or issued, is not)."""
        with self._write() as conn:
            now = self._now()
            return [
                item.order_id
                for item in items
                if _quarantine_unreadable(conn, shop, item.order_id, item.reason, item.raw, now)
            ]

    def get_order(self, shop: str, order_id: str) -> OrderRecord | None:
        with self._read() as conn:
            return orders.get(conn, shop, order_id)

    def list_quarantined(self) -> list[OrderRecord]:
        with self._read() as conn:
            return orders.list_by_status(conn, "quarantined")

    # -- invoices -----------------------------------------------------------------------

    def issue_invoice(
        self,
        *,
        shop: str,
        order_id: str,
        kind: str = "invoice",
        series: str,
        period: str,
        build: Callable[[int], InvoiceSnapshot],
        follow_up_jobs: Iterable[FollowUp] = (),
        source: str = "",
    ) -> IssueResult:
        """Number and store a document (see `invoices.issue`); idempotent per (shop, order,
        kind, source)."""
        return self._issue(
            shop=shop, order_id=order_id, kind=kind, series=series, period=period,
            build=build, follow_up_jobs=follow_up_jobs, source=source, credits=None,
        )  # fmt: skip

    def issue_credit_note(
        self,
        *,
        original: InvoiceRecord,
        source: str,
        series: str,
        period: str,
        build: Callable[[int, list[InvoiceSnapshot]], InvoiceSnapshot],
        follow_up_jobs: Iterable[FollowUp] = (),
    ) -> IssueResult:
        """A credit note on `original`, one per `source` and order; `build(sequence, earlier)`
        runs under the credit series lock with the invoice's credit notes so far."""
        return self._issue(
            shop=original.shop, order_id=original.order_id, kind="credit_note", series=series,
            period=period, build=build, follow_up_jobs=follow_up_jobs, source=source,
            credits=original,
        )  # fmt: skip

    def _issue(
        self,
        *,
        shop: str,
        order_id: str,
        kind: str,
        series: str,
        period: str,
        build: Callable[..., InvoiceSnapshot],
        follow_up_jobs: Iterable[FollowUp],
        source: str,
        credits: InvoiceRecord | None,
    ) -> IssueResult:
        # Cheap path for duplicates (most webhooks are): no lock, no write transaction.
        existing = self.get_invoice_for_order(shop, order_id, kind, source)
        if existing is not None:
            return IssueResult(invoice=existing, created=False)
        keys = self.signing_keys()
        try:
            with self._write() as conn:
                result = invoices.issue(
                    conn,
                    shop=shop,
                    order_id=order_id,
                    kind=kind,
                    series=series,
                    period=period,
                    build=build,
                    follow_up_jobs=list(follow_up_jobs),
                    now=self._now(),
                    source=source,
                    credits=credits,
                    keys=keys,
                )
        except IntegrityError:
            # Lost a race on (shop, order_id, kind, source) against an issuer of another
            # series (same series racers are serialised by the counter lock). Our transaction,
            # counter update included, is rolled back: nothing burnt; the winner's is the one.
            existing = self.get_invoice_for_order(shop, order_id, kind, source)
            if existing is not None:
                return IssueResult(invoice=existing, created=False)
            raise
        if result.created and self.on_issued is not None:
            self._tell_issued(result.invoice)
        return result

    def _tell_issued(self, record: InvoiceRecord) -> None:
        try:
            self.on_issued(record)  # type: ignore[misc]
        except Exception as exc:  # committed is committed: the next document anchors again
            log.warning("issued-document hook failed", invoice=record.number, error=str(exc))

    def get_invoice(self, number: str, series: str | None = None) -> InvoiceRecord | None:
        with self._read() as conn:
            return invoices.get_by_number(conn, number, series)

    def get_invoice_by_id(self, invoice_id: int) -> InvoiceRecord | None:
        with self._read() as conn:
            return invoices.get_by_id(conn, invoice_id)

    def get_invoice_for_order(
        self, shop: str, order_id: str, kind: str = "invoice", source: str = ""
    ) -> InvoiceRecord | None:
        with self._read() as conn:
            return invoices.find_for_order(conn, shop, order_id, kind, source)

    def current_invoice(self, shop: str, order_id: str) -> InvoiceRecord | None:
        """The order's invoice in force (the latest; a reissue follows a credited one)."""
        with self._read() as conn:
            return invoices.current_invoice(conn, shop, order_id)

    def documents_for_order(self, shop: str, order_id: str) -> list[InvoiceRecord]:
        with self._read() as conn:
            return invoices.for_order(conn, shop, order_id)

    def orders_with_refund_credits(self, shop: str, since: datetime) -> list[str]:
        with self._read() as conn:
            return invoices.orders_with_refund_credits(conn, shop, since)

    def credit_notes_of(self, invoice_id: int) -> list[InvoiceRecord]:
        with self._read() as conn:
            return invoices.credit_notes_of(conn, invoice_id)

    def credited_total(self, invoice_id: int) -> Decimal:
        with self._read() as conn:
            return invoices.credited_total(conn, invoice_id)

    # -- deliveries -----------------------------------------------------------------------

    def deliveries_for(self, invoice_ids: Sequence[int]) -> list[DeliveryRecord]:
        with self._read() as conn:
            return deliveries.for_invoices(conn, list(invoice_ids))

    def deliveries_for_order(self, order_id: str, shop: str | None = None) -> list[DeliveryRecord]:
        with self._read() as conn:
            return deliveries.for_order(conn, shop, order_id)

    def delivery_counts_since(self, since: datetime) -> dict[tuple[str, str], dict[str, int]]:
        """{(shop, channel): {status: count}} of the deliveries that moved since `since`."""
        with self._read() as conn:
            return deliveries.counts_since(conn, since)

    def recent_deliveries(
        self, limit: int = 50, channel: str | None = None
    ) -> list[DeliveryRecord]:
        """Newest first; `channel`: of that channel only."""
        with self._read() as conn:
            return deliveries.recent(conn, limit, channel)

    def enqueue_delivery(
        self, kind: str, invoice: InvoiceRecord, payload: Mapping[str, Any], *, target: str,
        request_id: str | None = None,
    ) -> int | None:  # fmt: skip
        """One more hand-over of an issued document (`quittance resend`): a new job of the
        channel step `kind` and its delivery row, pending, in one transaction. Never a new
        document. `request_id`: the asking form's id; the same request again queues nothing
        (None)."""
        with self._write() as conn:
            now = self._now()
            if request_id is None:
                again = len(deliveries.for_invoices(conn, [invoice.id])) + 1
                dedupe_key = f"{kind}:{invoice.id}:again:{again}:{now.isoformat()}"
            else:
                dedupe_key = f"{kind}:{invoice.id}:again:{request_id}"
            job_id = jobs.enqueue(
                conn, kind, payload, dedupe_key=dedupe_key,
                run_at=now, now=now, shop=invoice.shop, order_id=invoice.order_id,
                invoice_id=invoice.id,
            )  # fmt: skip
            if job_id is None and request_id is not None:
                return None  # this request's job is queued already (a double submit)
            if job_id is None:
                raise StoreError(f"a {kind} of {invoice.number} was queued this very instant")
            deliveries.record(
                conn, job_id=job_id, invoice_id=invoice.id, attempts=0,
                entry=DeliveryIn(kind, target, "pending"), now=now,
            )  # fmt: skip
            return job_id

    # -- shops ----------------------------------------------------------------------------

    def shop_started_at(self, shop: str) -> datetime:
        """When Quittance first ran for `shop` (recorded now if this is the first time)."""
        with self._write() as conn:
            return shops.started_at(conn, shop, self._now())

    def iter_invoices(self, page_size: int = 500) -> Iterator[InvoiceRecord]:
        """Every invoice, per series in chain order; pages so no transaction stays open."""
        after: tuple[str, int] | None = None
        while True:
            with self._read() as conn:
                batch = invoices.page(conn, after, page_size)
            yield from batch
            if len(batch) < page_size:
                return
            after = (batch[-1].series, batch[-1].id)

    def iter_issued(
        self, since: datetime, until: datetime, shop: str | None = None, page_size: int = 500
    ) -> Iterator[InvoiceRecord]:
        """The documents issued in [since, until), in issue order; pages so no transaction
        stays open and memory stays flat whatever the period."""
        after = 0
        while True:
            with self._read() as conn:
                batch = invoices.issued_page(conn, since, until, shop, after, page_size)
            yield from batch
            if len(batch) < page_size:
                return
            after = batch[-1].id

    def count_issued(self, since: datetime, until: datetime, shop: str | None = None) -> int:
        with self._read() as conn:
            return invoices.count_issued(conn, since, until, shop)

    def chain_problems(self, keys: ChainKeys | None = None) -> list[str]:
        """Every broken link, altered snapshot, missing number or missing newest invoice,
        keyed links checked with `keys` (by default the store's own, when it can read them).
        The counters are read first: an invoice issued meanwhile is newer, not missing."""
        keys = keys if keys is not None else self._readable_keys()
        with self._read() as conn:
            heads = invoices.series_heads(conn)
            # With keys, links are keyed since migration 0006: a plain one after is forged.
            plain_until = events.plain_link_limits(conn) if keys is not None else None
        beyond: list[InvoiceRecord] = []

        def settled() -> Iterator[InvoiceRecord]:
            for record in self.iter_invoices():
                if _not_after(record, heads):
                    yield record
                else:
                    beyond.append(record)

        problems = invoices.chain_problems(settled(), heads, keys, plain_until)
        # Past the counters read first: issued meanwhile, unless still past them now. A
        # counter moved back hides its head from the chain check: it shows here.
        with self._read() as conn:
            now_heads = invoices.series_heads(conn)
        return problems + [
            f"{record.number}: beyond its series counter (the counter was moved back)"
            for record in beyond
            if not _not_after(record, now_heads)
        ]

    def signing_keys(self) -> ChainKeys | None:
        """The keys new links are signed with (None: a bare store signs nothing); made on a
        new install only (bridge/chain_key.py), else ChainKeyError names the missing key."""
        if self.chain_keys is None:
            return None
        keys = self.chain_keys.signing(self._known_key_ids)
        if self.chain_keys.created:  # told once: a second host then cannot make its own
            self.append_event(KEY_CREATED, detail={"key_id": keys.active_id})
            self.chain_keys.created = False
        return keys

    def _known_key_ids(self) -> list[str]:
        """The chain keys this database knows of: those links were signed with, and those
        a host recorded making."""
        with self._read() as conn:
            made = {str(e.detail.get("key_id")) for e in events.of_kind(conn, KEY_CREATED)}
            return sorted(made | set(invoices.link_key_ids(conn)))

    def _readable_keys(self) -> ChainKeys | None:
        try:
            return self.chain_keys.known() if self.chain_keys is not None else None
        except ChainKeyError:  # reported as such by `verify` (bridge/audit.py)
            return None

    def head_invoices(self) -> list[InvoiceRecord]:
        """The newest document of each series (its chain head)."""
        with self._read() as conn:
            return invoices.head_records(conn)

    def set_pdf_sha256(self, invoice_id: int, sha256: str) -> None:
        with self._write() as conn:
            invoices.set_pdf_sha256(conn, invoice_id, sha256)

    # -- platform inbox and polling --------------------------------------------------------

    def record_webhook(
        self,
        *,
        shop: str,
        platform: str,
        event_key: str,
        topic: str,
        order_ref: str,
        headers: Mapping[str, str],
        body: str,
        job_kind: str = "ingest",
    ) -> int | None:
        """Keep a verified platform event verbatim and its "ingest" job, in ONE transaction.

        Returns the event id, or None for a duplicate delivery (same shop + event_key):
        nothing is stored or queued twice.
        """
        [event_id] = self.record_webhooks(
            [
                WebhookIn(shop, platform, event_key, topic, order_ref, dict(headers), body),
            ],
            job_kind=job_kind,
        )
        return event_id

    def record_webhooks(
        self, events_: Sequence[WebhookIn], *, job_kind: str = "ingest"
    ) -> list[int | None]:
        """Several events in one transaction (group commit: one fsync for a burst).

        Rows are inserted in (shop, body digest, event_key) order: two services receiving
        the same events in another order would otherwise lock each other's unique-index
        entries in opposite orders and deadlock (PostgreSQL aborts one batch: 500 for every
        request in it)."""
        out: list[int | None] = [None] * len(events_)
        keys = [(ev.shop, inbox.body_sha256(ev.body), ev.event_key) for ev in events_]
        order = sorted(range(len(events_)), key=keys.__getitem__)
        with self._write() as conn:
            now = self._now()
            for i in order:
                ev = events_[i]
                event_id = inbox.record_webhook(
                    conn, shop=ev.shop, platform=ev.platform.strip().lower(),
                    event_key=ev.event_key, topic=ev.topic, order_ref=ev.order_ref,
                    headers=ev.headers, body=ev.body, body_digest=keys[i][1], now=now,
                )  # fmt: skip
                if event_id is not None:
                    jobs.enqueue(
                        conn, job_kind, {"event_id": event_id, "order_ref": ev.order_ref},
                        dedupe_key=f"{job_kind}:{ev.shop}:{ev.event_key}", run_at=now, now=now,
                        shop=ev.shop,
                    )  # fmt: skip
                out[i] = event_id
        return out

    def get_webhook(self, event_id: int) -> WebhookRecord | None:
        with self._read() as conn:
            return inbox.get_webhook(conn, event_id)

    def webhook_counts_since(self, since: datetime) -> dict[str, int]:
        with self._read() as conn:
            return inbox.webhook_counts_since(conn, since)

    def record_polled_page(
        self,
        shop: str,
        orders_: Sequence[Order],
        *,
        cursor: datetime | None,
        send_email: bool = True,
        lane: str = "catch_up",
    ) -> int:
        """Record a page of paid orders with their "issue" jobs AND advance the shop's cursor,
        in one transaction: the cursor never runs ahead of what is durably recorded.
        Returns how many issue jobs were new (duplicates of earlier polls/webhooks: 0).
        `lane`: "catch_up" for what polling found (a webhook was missed), "bulk" for a
        backfill; both wait behind live work (bridge/store/jobs.py: PRIORITIES)."""
        created = 0
        with self._write() as conn:
            now = self._now()
            for order in orders_:
                if orders.record(conn, order, "received", now):
                    jobs.requeue_for_order(conn, order.shop, order.order_id, now)
                options = {} if send_email else {"send_email": False}
                job_id = jobs.enqueue(
                    conn, "issue", options,
                    dedupe_key=f"issue:{order.shop}:{order.order_id}",
                    run_at=now, now=now, shop=order.shop, order_id=order.order_id, lane=lane,
                )  # fmt: skip
                created += job_id is not None
                _enqueue_credits(conn, order, options, now, lane=lane)
            if cursor is not None:
                inbox.advance_cursor(conn, shop, cursor)
        return created

    def claim_poll(
        self, shop: str, owner: str, *, lease: timedelta, interval: timedelta
    ) -> datetime | None:
        """The claim time when this process should poll `shop` now (lease taken: the interval
        elapsed since the last claim, or the last holder died holding it); None when it
        should not. Taking over a dead holder's lease appends `poll.taken_over` in the same
        transaction, so the record cannot be lost between the claim and the poll."""
        with self._read() as conn:
            # Ticks come every heartbeat: most find nothing to do, and must not queue for
            # the write lock (SQLite's single writer) to learn it.
            now = self._now()
            if not inbox.poll_claimable(conn, shop, owner, now=now, interval=interval):
                return None
        with self._write() as conn:
            now = self._now()  # under the write lock, as the WHERE that compares it
            claim = inbox.claim_poll(conn, shop, owner, now=now, lease=lease, interval=interval)
            if claim is not None and claim.previous_owner is not None:
                stale = (now - claim.lapsed_at).total_seconds() if claim.lapsed_at else None
                events.append(
                    conn, "poll.taken_over", now=now, shop=shop,
                    detail={"owner": owner, "previous_owner": claim.previous_owner,
                            "lapsed_at": claim.lapsed_at.isoformat() if claim.lapsed_at else None,
                            "stale_seconds": stale},
                )  # fmt: skip
        return now if claim is not None else None

    def renew_poll(self, shop: str, owner: str, lease: timedelta) -> bool:
        """The poll's heartbeat: `lease` more from now, if `owner` still holds it."""
        with self._write() as conn:
            return inbox.renew_poll(conn, shop, owner, now=self._now(), lease=lease)

    def finish_poll(self, shop: str, owner: str, *, error: str | None = None) -> None:
        with self._write() as conn:
            inbox.finish_poll(conn, shop, owner, now=self._now(), error=error)

    def poll_state(self, shop: str) -> PollStateRecord | None:
        with self._read() as conn:
            return inbox.get_poll_state(conn, shop)

    # -- reports ---------------------------------------------------------------------------

    def invoice_counts_since(self, since: datetime) -> dict[str, int]:
        with self._read() as conn:
            return reports.invoice_counts_since(conn, since)

    def job_counts_by_shop(self) -> dict[str, dict[str, int]]:
        with self._read() as conn:
            return reports.job_counts_by_shop(conn)

    def document_counts_since(self, since: datetime) -> dict[str, dict[str, int]]:
        """{shop: {kind: count}}: invoices and credit notes from every source."""
        with self._read() as conn:
            return reports.document_counts_since(conn, since)

    def document_shops(self) -> set[str]:
        with self._read() as conn:
            return reports.document_shops(conn)

    def quarantined_counts(self) -> dict[str, int]:
        with self._read() as conn:
            return reports.quarantined_by_shop(conn)

    def attention_jobs(
        self, states: Sequence[str], *, routine: reports.RoutineSkips = (),
        routine_only: bool = False, shop: str | None = None,
        before: reports.PageKey | None = None, limit: int | None = None,
        job_id: int | None = None,
    ) -> list[FailingJob]:  # fmt: skip
        """Newest move first, paged in SQL: see `reports.attention_jobs`."""
        with self._read() as conn:
            return reports.attention_jobs(
                conn, states, routine=routine, routine_only=routine_only, shop=shop,
                before=before, limit=limit, job_id=job_id,
            )  # fmt: skip

    def attention_job_count(
        self, states: Sequence[str], *, routine: reports.RoutineSkips = (),
        routine_only: bool = False, shop: str | None = None,
    ) -> int:  # fmt: skip
        with self._read() as conn:
            return reports.attention_job_count(
                conn, states, routine=routine, routine_only=routine_only, shop=shop
            )

    def held_orders(
        self, *, shop: str | None = None, before: reports.PageKey | None = None,
        limit: int | None = None,
    ) -> list[reports.HeldOrder]:  # fmt: skip
        """Quarantined orders, newest move first, paged in SQL."""
        with self._read() as conn:
            return reports.held_orders(conn, shop=shop, before=before, limit=limit)

    def held_order_count(self, *, shop: str | None = None) -> int:
        with self._read() as conn:
            return reports.held_order_count(conn, shop=shop)

    # -- events and alerts ----------------------------------------------------------------

    def append_event(
        self,
        kind: str,
        *,
        shop: str | None = None,
        order_id: str | None = None,
        invoice_number: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        with self._write() as conn:
            return events.append(
                conn,
                kind,
                now=self._now(),
                shop=shop,
                order_id=order_id,
                invoice_number=invoice_number,
                detail=detail,
            )

    def archived_template_sets(self) -> dict[str, str]:
        """PDF SHA-256 → template set, as the append-only event log witnessed it."""
        with self._read() as conn:
            return events.archived_template_sets(conn)

    def events(self, limit: int = 100, kind: str | None = None) -> list[EventRecord]:
        """Newest first."""
        with self._read() as conn:
            return events.recent(conn, limit, kind)

    def events_of_kind(self, kind: str) -> list[EventRecord]:
        """Every event of `kind`, oldest first."""
        with self._read() as conn:
            return events.of_kind(conn, kind)

    def guard_problems(self) -> list[str]:
        """The immutability triggers that are missing or disabled (empty: all in place)."""
        with self._read() as conn:
            return guards.guard_problems(conn)

    def has_event(self, kind: str, invoice_number: str) -> bool:
        """Whether the log holds a `kind` event for that document."""
        with self._read() as conn:
            return events.exists(conn, kind, invoice_number)

    def claim_alert(self, key: str, window: timedelta) -> bool:
        """True = send now (first occurrence in the window); False = already alerted."""
        with self._write() as conn:
            return events.claim_alert(conn, key, window, self._now())

    # -- the customer's side (bridge/portal) ------------------------------------------------

    def customer(self, shop: str, email: str) -> CustomerRecord | None:
        with self._read() as conn:
            return customer_side.customer(conn, shop, email)

    def shop_has_customers(self, shop: str) -> bool:
        with self._read() as conn:
            return customer_side.shop_has_customers(conn, shop)

    def customer_by_id(self, customer_id: int) -> CustomerRecord | None:
        with self._read() as conn:
            return customer_side.customer_by_id(conn, customer_id)

    def owner_of(self, invoice_id: int) -> CustomerRecord | None:
        """The customer a document is addressed to (None: it has no email address)."""
        with self._read() as conn:
            return customer_side.owner_of(conn, invoice_id)

    def customer_documents(self, customer_id: int) -> list[InvoiceRecord]:
        """Every invoice and credit note of the customer, newest first."""
        with self._read() as conn:
            return invoices.of_customer(conn, customer_id)

    def latest_customer_document(self, customer_id: int) -> InvoiceRecord | None:
        with self._read() as conn:
            found = invoices.of_customer(conn, customer_id, limit=1)
        return found[0] if found else None

    def revoke_customer_links(self, shop: str, email: str) -> int | None:
        """Stop every link the customer holds; their new generation (None: unknown)."""
        with self._write() as conn:
            return customer_side.revoke(conn, shop, email, self._now())

    def allow_request(self, key: str, limit: int, window: timedelta) -> bool:
        """Count a request under `key`; False when over `limit` in the current window."""
        with self._write() as conn:
            return customer_side.allow(conn, key, limit, window, self._now())

    def count_once(self, mark: str, key: str, limit: int, window: timedelta) -> bool:
        """Count one thing under `key` once per `mark` (a job's retries do not count again);
        False when over `limit`, leaving no mark (a later run is counted anew)."""
        with self._write() as conn:
            return customer_side.count_once(conn, mark, key, limit, window, self._now())

    def record_download(self, invoice_id: int, *, via: str) -> None:
        with self._write() as conn:
            customer_side.record_download(conn, invoice_id, via, self._now())

    def downloads_of(self, invoice_id: int) -> int:
        with self._read() as conn:
            return customer_side.download_count(conn, invoice_id)

    def invite_survey(self, invoice_id: int, shop: str, scale: int) -> None:
        """Note that the invoice's email asked for an opinion (once; a resend changes nothing)."""
        with self._write() as conn:
            customer_side.invite(conn, invoice_id, shop, scale, self._now())

    def survey(self, invoice_id: int) -> SurveyRecord | None:
        with self._read() as conn:
            return customer_side.survey(conn, invoice_id)

    def answer_survey(
        self, invoice_id: int, score: int, comment: str | None, *, change_days: int,
        comment_days: int,
    ) -> str:  # fmt: skip
        """ "recorded", "changed", or "locked" once the change window has passed."""
        with self._write() as conn:
            return customer_side.answer(
                conn, invoice_id, score, comment, change_for=timedelta(days=change_days),
                keep_comment_for=timedelta(days=comment_days), now=self._now(),
            )  # fmt: skip

    def surveys_between(
        self, since: datetime, until: datetime, shop: str | None = None
    ) -> list[SurveyRecord]:
        """The surveys sent in [since, until), with their answers."""
        with self._read() as conn:
            return customer_side.between(conn, since, until, shop)

    def add_short_link(self, code: str, target: str, invoice_id: int, expires_at: datetime) -> bool:
        """Record `code` for `target` until `expires_at`; False when the code is taken (the
        caller draws another)."""
        try:
            with self._write() as conn:
                customer_side.add_short_link(
                    conn, code, target, invoice_id, expires_at, self._now()
                )
        except IntegrityError:
            return False
        return True

    def short_link_target(self, code: str) -> str | None:
        with self._read() as conn:
            return customer_side.short_link_target(conn, code, self._now())

    def erase_expired_customer_data(self) -> int:
        """Erase survey comments past their keeping time, spent rate-limit windows and short
        links past their keeping time; the number of comments erased."""
        now = self._now()
        with self._write() as conn:
            customer_side.forget_old_windows(conn, now - timedelta(days=1))
            customer_side.forget_short_links(conn, now)
            return customer_side.erase_old_comments(conn, now)

    # -- readiness and metrics ------------------------------------------------------------

    def check_writable(self, *, lock_timeout_s: float = health.PROBE_LOCK_TIMEOUT_S) -> None:
        """Raise `DatabaseNotWritable` (one line: what is wrong, what to do) unless a write
        would go through now; leaves no row (bridge/store/health.py)."""
        health.check_writable(self.engine, lock_timeout_s=lock_timeout_s)

    def metrics_report(self) -> reports.MetricsReport:
        """What /metrics reports, read in one connection, at the store clock's now."""
        with self._read() as conn:
            return reports.metrics_report(conn, self._now())

    def database_file(self) -> Path | None:
        """The SQLite file (None on PostgreSQL): readiness measures the free space under it,
        which a rolled-back probe cannot."""
        return health.sqlite_file(self.engine)

    # -- outages (bridge/outages.py): one row per cause, opened and cleared once -----------

    def failing_jobs(self) -> list[FailingJob]:
        with self._read() as conn:
            return outage_rows.failing_jobs(conn)

    def overdue_jobs(self, due_before: datetime, *, limit: int = 100) -> list[FailingJob]:
        with self._read() as conn:
            return outage_rows.overdue(conn, due_before, limit)

    def last_job_progress(self) -> datetime | None:
        with self._read() as conn:
            return outage_rows.last_progress(conn)

    def oldest_waiting_job(self) -> FailingJob | None:
        with self._read() as conn:
            return outage_rows.oldest_waiting(conn)

    def outages(self) -> list[OutageRecord]:
        with self._read() as conn:
            return outage_rows.list_all(conn)

    def outage(self, cause: str) -> OutageRecord | None:
        with self._read() as conn:
            return outage_rows.get(conn, cause)

    def open_outage(
        self, cause: str, *, title: str, opened_at: datetime, affected: int,
        sample: Sequence[dict[str, Any]],
    ) -> bool:  # fmt: skip
        """True when this call opened it; False when that cause was already open."""
        with self._write() as conn:
            return outage_rows.open_(
                conn, cause, title=title, opened_at=opened_at, now=self._now(),
                affected=affected, sample=sample,
            )  # fmt: skip

    def tell_outage_dead(self, cause: str, opened_at: datetime, told_dead: int) -> None:
        """The owner was told of `told_dead` documents failed for good (it only grows)."""
        with self._write() as conn:
            outage_rows.tell_dead(conn, cause, opened_at, told_dead)

    def touch_outage(
        self, cause: str, opened_at: datetime, *, affected: int, sample: Sequence[dict[str, Any]]
    ) -> bool:
        with self._write() as conn:
            return outage_rows.touch(
                conn, cause, opened_at, now=self._now(), affected=affected, sample=sample
            )

    def claim_outage_alert(
        self, cause: str, opened_at: datetime, *, told_dead: int = 0
    ) -> datetime | None:
        """The claim's time for the one caller that is to send the opening alert, else None."""
        with self._write() as conn:
            now = self._now()
            won = outage_rows.claim_alert(conn, cause, opened_at, now, told_dead)
            return now if won else None

    def release_outage_alert(self, cause: str, opened_at: datetime, claimed_at: datetime) -> bool:
        with self._write() as conn:
            return outage_rows.release_alert(conn, cause, opened_at, claimed_at)

    def close_outage(self, cause: str, opened_at: datetime) -> OutageRecord | None:
        """The closed row for the one caller that closed it (it sends the clear), else None."""
        with self._write() as conn:
            return outage_rows.close(conn, cause, opened_at)


def credit_dedupe_key(shop: str, order_id: str, refund_id: str) -> str:
    return f"credit:{shop}:{order_id}:refund:{refund_id}"


def _enqueue_credits(
    conn: Connection, order: Order, options: Mapping[str, Any], now: datetime, *,
    lane: str = "live",
) -> None:  # fmt: skip
    """One durable "credit" job per refund of the order, carrying the refund as read (a later
    read that misses it cannot take it back); duplicates of a refund add nothing."""
    for refund in sorted(order.refunds, key=lambda r: (r.created_at is None, r.created_at)):
        if not refund.refund_id or refund.pending:
            # no id: no way to tell it from the next one, never credited twice; pending:
            # its money is not back, a later read (polling re-reads the order) credits it
            continue
        jobs.enqueue(
            conn, "credit", {**options, "refund": refund.model_dump(mode="json")},
            dedupe_key=credit_dedupe_key(order.shop, order.order_id, refund.refund_id),
            run_at=now, now=now, shop=order.shop, order_id=order.order_id, lane=lane,
        )  # fmt: skip


def _not_after(record: InvoiceRecord, heads: Mapping[str, tuple[str, int, str]]) -> bool:
    head = heads.get(record.series)
    if head is None:
        return False  # its series did not exist when the heads were read
    period, sequence, _hash = head
    return record.period < period or (record.period == period and record.sequence <= sequence)


def _quarantine_unreadable(
    conn: Connection,
    shop: str,
    order_id: str,
    reason: str,
    raw: Mapping[str, object],
    now: datetime,
) -> bool:
    before = orders.get(conn, shop, order_id)
    if before is not None and before.status == "issued":
        return False  # its invoice exists for good: a later unreadable edit changes nothing
    if before is not None and (before.status, before.reason) == ("quarantined", reason):
        return False  # re-listed by a poll's overlap window: nothing new to keep
    orders.quarantine(conn, shop, order_id, reason, now)
    events.append(
        conn, "order.quarantined", now=now, shop=shop, order_id=order_id,
        # default=str: a raw payload may hold parsed Decimals; it is kept to be read, not used
        detail={"reasons": [reason], "raw": json.loads(json.dumps(raw, default=str))},
    )  # fmt: skip
    return True
