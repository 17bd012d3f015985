"""Issuing invoices: gapless numbering, the hash chain, immutability.

Everything that makes a number happens in ONE transaction: lock the series counter row, take
the next sequence, build the snapshot, insert the invoice, advance the counter and chain head,
enqueue the follow-up jobs, log the event. A rollback anywhere undoes all of it, so a number
exists if and only if its invoice does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, literal, select, tuple_, update
from sqlalchemy.engine import Connection, RowMapping

from bridge.chain_key import ChainKeys
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.store import events, jobs, orders, portal
from bridge.store._sql import insert_for
from bridge.store.errors import InvoiceImmutableError
from bridge.store.records import GENESIS_HASH, InvoiceRecord, IssueResult
from bridge.store.schema import customer_documents, invoices, series_counters

# BR-FR-01/02: at most 35 characters from A-Z a-z 0-9 + - _ /
NUMBER_RE = re.compile(r"[A-Za-z0-9+\-_/]{1,35}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")

Build = Callable[[int], InvoiceSnapshot]
# A credit note's build also gets the credit notes its invoice has so far, read under the
# credit series lock: two refunds racing cannot credit more than was invoiced.
CreditBuild = Callable[[int, list[InvoiceSnapshot]], InvoiceSnapshot]
FollowUp = tuple[str, Mapping[str, Any]]


def chain_hash(prev_hash: str, canonical_json: str, key: bytes | None = None) -> str:
    """A link: HMAC-SHA256 under the chain key (bridge/chain_key.py), or the plain SHA-256
    of the links issued before keys existed (`key` None)."""
    message = (prev_hash + canonical_json).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def issue(
    conn: Connection,
    *,
    shop: str,
    order_id: str,
    kind: str,
    series: str,
    period: str,
    build: Build | CreditBuild,
    follow_up_jobs: Iterable[FollowUp],
    now: datetime,
    source: str = "",
    credits: InvoiceRecord | None = None,
    keys: ChainKeys | None = None,
) -> IssueResult:
    """Run inside a write transaction; the caller commits, or rolls back on any exception.

    `source`: what asked for the document (see the schema); `credits`: for a credit note, the
    invoice it corrects (its build then receives that invoice's credit notes so far); `keys`:
    the chain keys whose active one signs the link (None: a plain SHA-256 link)."""
    counter = _lock_counter(conn, series, period)
    # Checked again under the counter lock: a racer on the same series that committed the
    # same order while we waited is visible now (READ COMMITTED takes a fresh snapshot per
    # statement; on SQLite BEGIN IMMEDIATE already serialised us), and build is not called.
    existing = find_for_order(conn, shop, order_id, kind, source)
    if existing is not None:
        return IssueResult(invoice=existing, created=False)

    # A new period restarts the sequence (yearly reset) but never the chain.
    sequence = counter["last_sequence"] + 1 if counter["period"] == period else 1
    prev_hash: str = counter["last_hash"]
    if credits is None:
        snapshot = build(sequence)
    else:
        earlier = [note.snapshot for note in credit_notes_of(conn, credits.id)]
        snapshot = build(sequence, earlier)  # type: ignore[call-arg]
    _check_snapshot(snapshot, shop=shop, order_id=order_id, series=series, sequence=sequence)
    snapshot_json = snapshot.canonical_json()
    link_key = keys.active_id if keys is not None else ""
    digest = chain_hash(prev_hash, snapshot_json, keys.active if keys is not None else None)

    invoice_id = int(
        conn.execute(
            insert(invoices)
            .values(
                shop=shop,
                order_id=order_id,
                kind=kind,
                series=series,
                period=period,
                sequence=sequence,
                number=snapshot.number,
                issued_at=snapshot.issued_at,
                snapshot=snapshot_json,
                pdf_sha256=None,
                prev_hash=prev_hash,
                hash=digest,
                source=source,
                credited_invoice_id=credits.id if credits is not None else None,
                link_key=link_key,
            )
            .returning(invoices.c.id)
        ).scalar_one()
    )
    conn.execute(
        update(series_counters)
        .where(series_counters.c.series == series)
        .values(period=period, last_sequence=sequence, last_hash=digest)
    )
    for job_kind, payload in follow_up_jobs:
        body = dict(payload)
        dedupe_key = str(body.pop("_dedupe_key", f"{job_kind}:{invoice_id}"))
        jobs.enqueue(
            conn,
            job_kind,
            body,
            dedupe_key=dedupe_key,
            run_at=now,
            now=now,
            shop=shop,
            order_id=order_id,
            invoice_id=invoice_id,
        )
    events.append(
        conn,
        "invoice.issued",
        now=now,
        shop=shop,
        order_id=order_id,
        invoice_number=snapshot.number,
        detail={
            "invoice_id": invoice_id, "kind": kind, "series": series, "hash": digest,
            **({"source": source} if source else {}),
            **({"credits": credits.number} if credits is not None else {}),
        },
    )  # fmt: skip
    portal.attach_document(
        conn, invoice_id=invoice_id, shop=shop, email=snapshot.buyer.email, now=now
    )
    orders.mark_issued(conn, shop, order_id, now)
    if kind == "invoice":
        # Refunds that came before their invoice waited for it: they are credited now.
        jobs.rearm_waiting_credits(conn, shop, order_id, now)
    # Built from what we just wrote (no re-read while holding the counter lock); the snapshot
    # is re-parsed so the record is exactly what any later read returns.
    record = InvoiceRecord(
        id=invoice_id,
        series=series,
        period=period,
        sequence=sequence,
        number=snapshot.number,
        shop=shop,
        order_id=order_id,
        kind=kind,
        issued_at=snapshot.issued_at.astimezone(UTC),
        snapshot=InvoiceSnapshot.from_json(snapshot_json),
        snapshot_json=snapshot_json,
        pdf_sha256=None,
        prev_hash=prev_hash,
        hash=digest,
        source=source,
        credited_invoice_id=credits.id if credits is not None else None,
        link_key=link_key,
    )
    return IssueResult(invoice=record, created=True)


def credited_total(conn: Connection, invoice_id: int) -> Decimal:
    """What the credit notes of an invoice credit in all, incl. VAT."""
    rows = conn.execute(
        select(invoices.c.snapshot).where(invoices.c.credited_invoice_id == invoice_id)
    ).scalars()
    return sum((InvoiceSnapshot.from_json(text).totals.total_incl for text in rows), Decimal(0))


def credit_notes_of(conn: Connection, invoice_id: int) -> list[InvoiceRecord]:
    rows = conn.execute(
        select(invoices).where(invoices.c.credited_invoice_id == invoice_id).order_by(invoices.c.id)
    ).mappings()
    return [_record(row) for row in rows]


def orders_with_refund_credits(conn: Connection, shop: str, since: datetime) -> list[str]:
    """The orders of `shop` with a credit note for a platform refund issued since `since`."""
    rows = conn.execute(
        select(invoices.c.order_id)
        .where(
            invoices.c.shop == shop,
            invoices.c.kind == "credit_note",
            invoices.c.source.like("refund:%"),
            invoices.c.issued_at >= since,
        )
        .distinct()
        .order_by(invoices.c.order_id)
    ).scalars()
    return list(rows)


def for_order(conn: Connection, shop: str, order_id: str) -> list[InvoiceRecord]:
    """Every document of an order, invoices and credit notes, in the order they were issued."""
    rows = conn.execute(
        select(invoices)
        .where(invoices.c.shop == shop, invoices.c.order_id == order_id)
        .order_by(invoices.c.id)
    ).mappings()
    return [_record(row) for row in rows]


def _lock_counter(conn: Connection, series: str, period: str) -> RowMapping:
    # The row must exist before it can be locked; ON CONFLICT DO NOTHING makes the first
    # issue of a new series safe against a concurrent first issue. Only when it is missing:
    # SQLite's guard refuses any insert over an existing counter (REPLACE would delete it).
    exists = conn.execute(
        select(series_counters.c.series).where(series_counters.c.series == series)
    ).first()
    if exists is None:
        first = (
            insert_for(conn, series_counters)
            .values(series=series, period=period, last_sequence=0, last_hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=[series_counters.c.series])
        )
        conn.execute(first)
    # FOR UPDATE: the row lock every issuer of this series queues on until we commit. SQLite
    # ignores it (no row locks) - its BEGIN IMMEDIATE holds the database write lock already.
    return (
        conn.execute(
            select(series_counters).where(series_counters.c.series == series).with_for_update()
        )
        .mappings()
        .one()
    )


def _check_snapshot(
    snapshot: InvoiceSnapshot, *, shop: str, order_id: str, series: str, sequence: int
) -> None:
    """Refuse a snapshot that would make the stored row and the document disagree."""
    if not isinstance(snapshot, InvoiceSnapshot):
        raise TypeError(f"build must return an InvoiceSnapshot, got {type(snapshot).__name__}")
    problems = []
    if snapshot.series != series:
        problems.append(f"series {snapshot.series!r} != {series!r}")
    if snapshot.sequence != sequence:
        problems.append(f"sequence {snapshot.sequence} != allocated {sequence}")
    if not NUMBER_RE.fullmatch(snapshot.number):
        problems.append(f"number {snapshot.number!r} is not 1-35 chars of A-Z a-z 0-9 + - _ /")
    if (snapshot.order.shop, snapshot.order.order_id) != (shop, order_id):
        problems.append(
            f"order {snapshot.order.shop}/{snapshot.order.order_id} != {shop}/{order_id}"
        )
    if snapshot.issued_at.tzinfo is None:
        problems.append("issued_at must be timezone-aware")
    if problems:
        raise ValueError("invalid invoice snapshot: " + "; ".join(problems))


def find_for_order(
    conn: Connection, shop: str, order_id: str, kind: str, source: str = ""
) -> InvoiceRecord | None:
    return _one(
        conn,
        (invoices.c.shop == shop)
        & (invoices.c.order_id == order_id)
        & (invoices.c.kind == kind)
        & (invoices.c.source == source),
    )


def current_invoice(conn: Connection, shop: str, order_id: str) -> InvoiceRecord | None:
    """The order's invoice in force: the latest one (a reissue follows a fully credited one)."""
    row = (
        conn.execute(
            select(invoices)
            .where(
                invoices.c.shop == shop,
                invoices.c.order_id == order_id,
                invoices.c.kind == "invoice",
            )
            .order_by(invoices.c.id.desc())
        )
        .mappings()
        .first()
    )
    return None if row is None else _record(row)


def get_by_id(conn: Connection, invoice_id: int) -> InvoiceRecord | None:
    return _one(conn, invoices.c.id == invoice_id)


def of_customer(
    conn: Connection, customer_id: int, limit: int | None = None
) -> list[InvoiceRecord]:
    """The customer's documents, newest first (bridge/store/portal.py: customer_documents)."""
    stmt = (
        select(invoices)
        .join(customer_documents, customer_documents.c.invoice_id == invoices.c.id)
        .where(customer_documents.c.customer_id == customer_id)
        .order_by(invoices.c.issued_at.desc(), invoices.c.id.desc())
        .limit(limit)
    )
    return [_record(row) for row in conn.execute(stmt).mappings()]


def get_by_number(conn: Connection, number: str, series: str | None) -> InvoiceRecord | None:
    where = invoices.c.number == number
    if series is not None:
        where = where & (invoices.c.series == series)
    return _one(conn, where)


def page(conn: Connection, after: tuple[str, int] | None, size: int) -> list[InvoiceRecord]:
    """Keyset page in chain order: per series, by id (ids grow under the counter lock)."""
    stmt = select(invoices).order_by(invoices.c.series, invoices.c.id).limit(size)
    if after is not None:
        series, last_id = after
        stmt = stmt.where(
            tuple_(invoices.c.series, invoices.c.id) > tuple_(literal(series), literal(last_id))
        )
    return [_record(row) for row in conn.execute(stmt).mappings()]


def issued_page(
    conn: Connection,
    since: datetime,
    until: datetime,
    shop: str | None,
    after_id: int,
    size: int,
) -> list[InvoiceRecord]:
    """Keyset page of the documents issued in [since, until), in issue order (ids grow under
    the counter lock), optionally of one shop."""
    stmt = (
        select(invoices)
        .where(_issued_in(since, until, shop), invoices.c.id > after_id)
        .order_by(invoices.c.id)
        .limit(size)
    )
    return [_record(row) for row in conn.execute(stmt).mappings()]


def count_issued(conn: Connection, since: datetime, until: datetime, shop: str | None) -> int:
    stmt = select(func.count()).select_from(invoices).where(_issued_in(since, until, shop))
    return int(conn.execute(stmt).scalar_one())


def _issued_in(since: datetime, until: datetime, shop: str | None) -> ColumnElement[bool]:
    window = and_(invoices.c.issued_at >= since, invoices.c.issued_at < until)
    return window if shop is None else and_(window, invoices.c.shop == shop)


def set_pdf_sha256(conn: Connection, invoice_id: int, sha256: str) -> None:
    if not SHA256_RE.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
    current = conn.execute(
        select(invoices.c.pdf_sha256).where(invoices.c.id == invoice_id)
    ).one_or_none()
    if current is None:
        raise LookupError(f"no invoice with id {invoice_id}")
    if current.pdf_sha256 == sha256:
        return  # idempotent: a re-run of the render job archived the same bytes
    if current.pdf_sha256 is not None:
        raise InvoiceImmutableError(
            f"invoice {invoice_id} already has PDF sha256 {current.pdf_sha256}, not {sha256}"
        )
    # The trigger is the real guard; the WHERE makes a racing writer find 0 rows instead
    # of tripping it, and then we compare with what the winner wrote.
    updated = conn.execute(
        update(invoices)
        .where(invoices.c.id == invoice_id, invoices.c.pdf_sha256.is_(None))
        .values(pdf_sha256=sha256)
    ).rowcount
    if updated != 1:
        winner = conn.execute(
            select(invoices.c.pdf_sha256).where(invoices.c.id == invoice_id)
        ).scalar_one()
        if winner != sha256:
            raise InvoiceImmutableError(
                f"invoice {invoice_id} already has PDF sha256 {winner}, not {sha256}"
            )


def chain_problems(
    records: Iterable[InvoiceRecord],
    heads: Mapping[str, tuple[str, int, str]] | None = None,
    keys: ChainKeys | None = None,
    plain_until: Mapping[str, tuple[int, str]] | None = None,
) -> list[str]:
    """Re-check every hash and link, in `iter_invoices` order, that numbers run 1, 2, 3… in
    each period, and (given the counters' `heads`: series → (period, last_sequence,
    last_hash)) that nothing after the last invoice we saw was removed. Keyed links are
    checked with `keys`; given `plain_until` (series → (id, hash) of the last document whose
    link may be plain), a plain link past it, or in a series it does not name, was made
    without the key. Empty = intact."""
    problems: list[str] = []
    head: dict[str, str] = {}
    last: dict[str, tuple[str, int]] = {}
    keyed: set[str] = set()  # series with a keyed link, or past their last plain one
    unknown_keys: dict[tuple[str, str], int] = {}
    for rec in records:
        expected_prev = head.get(rec.series, GENESIS_HASH)
        if rec.prev_hash != expected_prev:
            problems.append(f"{rec.number}: prev_hash does not link to the previous invoice")
        late_plain = plain_until is not None and _past_plain_end(rec, plain_until.get(rec.series))
        problems += _link_problems(rec, keys, rec.series in keyed or late_plain, unknown_keys)
        if plain_until is not None and _at_or_past(rec, plain_until.get(rec.series)):
            keyed.add(rec.series)
        period, seq = last.get(rec.series, (rec.period, 0))
        expected_seq = seq + 1 if period == rec.period else 1
        if rec.sequence != expected_seq:
            problems.append(f"{rec.number}: expected sequence {expected_seq} (a number is missing)")
        head[rec.series] = rec.hash
        last[rec.series] = (rec.period, rec.sequence)
        if rec.link_key:
            keyed.add(rec.series)
    where = f"in {keys.path}" if keys is not None else "available (no chain key file)"
    for (series, key), count in unknown_keys.items():
        problems.append(
            f"series {series}: {count} link(s) signed with chain key {key}, which is not "
            f"{where}: restore the key file from your backup ([storage] chain_key_file); if "
            "the file is the right one, those links were made up"
        )
    for series, (period, sequence, last_hash) in (heads or {}).items():
        if head.get(series, GENESIS_HASH) != last_hash or last.get(series, (period, 0)) != (
            period, sequence,
        ):  # fmt: skip
            problems.append(
                f"series {series}: the counter is at {period}/{sequence} but the newest invoice "
                f"found is {last.get(series)}: invoices after it are missing"
            )
    return problems


def _past_plain_end(rec: InvoiceRecord, end: tuple[int, str] | None) -> bool:
    """Whether a plain link here is past the last one issued before links were keyed: by
    position in the chain (the end document by id AND hash), never by an id alone."""
    if end is None:
        return True  # the series began after links were keyed
    end_id, end_hash = end
    return rec.id > end_id or (rec.id == end_id and rec.hash != end_hash)


def _at_or_past(rec: InvoiceRecord, end: tuple[int, str] | None) -> bool:
    return end is None or rec.id >= end[0]


def _link_problems(
    rec: InvoiceRecord,
    keys: ChainKeys | None,
    after_keyed: bool,
    unknown_keys: dict[tuple[str, str], int],
) -> list[str]:
    if not rec.link_key:
        if after_keyed:  # links are only ever keyed from some point on, never back
            return [f"{rec.number}: a plain SHA-256 link where links are keyed (made or "
                    "rewritten without the chain key)"]  # fmt: skip
        if chain_hash(rec.prev_hash, rec.snapshot_json) != rec.hash:
            return [f"{rec.number}: hash does not match its snapshot"]
        return []
    secret = keys.keys.get(rec.link_key) if keys is not None else None
    if secret is None:
        unknown_keys[(rec.series, rec.link_key)] = (
            unknown_keys.get((rec.series, rec.link_key), 0) + 1
        )
        return []
    if not hmac.compare_digest(chain_hash(rec.prev_hash, rec.snapshot_json, secret), rec.hash):
        return [f"{rec.number}: hash does not match its snapshot (altered, or its link was "
                "recomputed without the chain key)"]  # fmt: skip
    return []


def series_heads(conn: Connection) -> dict[str, tuple[str, int, str]]:
    rows = conn.execute(
        select(
            series_counters.c.series, series_counters.c.period,
            series_counters.c.last_sequence, series_counters.c.last_hash,
        )
    )  # fmt: skip
    return {series: (period, int(seq), last_hash) for series, period, seq, last_hash in rows}


def link_key_ids(conn: Connection) -> list[str]:
    """The ids of the chain keys the stored links were signed with."""
    stmt = select(invoices.c.link_key).where(invoices.c.link_key != "").distinct()
    return sorted(conn.execute(stmt).scalars())


def head_records(conn: Connection) -> list[InvoiceRecord]:
    """The document each series counter points at (its chain head), by series."""
    stmt = (
        select(invoices)
        .join(
            series_counters,
            (series_counters.c.series == invoices.c.series)
            & (series_counters.c.period == invoices.c.period)
            & (series_counters.c.last_sequence == invoices.c.sequence),
        )
        .order_by(invoices.c.series)
    )
    return [_record(row) for row in conn.execute(stmt).mappings()]


def _one(conn: Connection, where: Any) -> InvoiceRecord | None:
    row = conn.execute(select(invoices).where(where).order_by(invoices.c.id)).mappings().first()
    return None if row is None else _record(row)


def _record(row: RowMapping) -> InvoiceRecord:
    return InvoiceRecord(
        id=row["id"],
        series=row["series"],
        period=row["period"],
        sequence=row["sequence"],
        number=row["number"],
        shop=row["shop"],
        order_id=row["order_id"],
        kind=row["kind"],
        issued_at=row["issued_at"],
        snapshot=InvoiceSnapshot.from_json(row["snapshot"]),
        snapshot_json=row["snapshot"],
        pdf_sha256=row["pdf_sha256"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        source=row["source"],
        credited_invoice_id=row["credited_invoice_id"],
        link_key=row["link_key"],
    )
