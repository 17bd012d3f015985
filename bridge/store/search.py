"""Finding documents for the owner's dashboard (bridge/dashboard/views/documents.py): a
filtered, newest-first keyset page of invoices and credit notes, and per document of a page
what it is credited and how its hand-overs went, in three queries whatever the page size."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ColumnElement, cast, func, literal, or_, select, tuple_
from sqlalchemy.engine import Connection

from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.store.invoices import _record
from bridge.store.records import InvoiceRecord
from bridge.store.schema import deliveries, invoices

LIKE_ESCAPE = "\\"
# SQLite's own lower() folds ASCII letters only ("Émilie" stays "Émilie"): on SQLite the search
# lowers through Python's str.lower, the same folding its pattern gets, registered on the
# connection under this name.
SQLITE_LOWER = "quittance_lower"


@dataclass(frozen=True, slots=True)
class DocumentQuery:
    """What the owner searches by; empty fields do not filter. `since` and `until` are
    aware instants (the caller turns the seller's local days into them), `until` excluded."""

    number: str = ""  # any part of the number, any case
    customer: str = ""  # any part of the buyer's name, company or email, any case
    order_id: str = ""  # the shop's order id, exactly ("#" before it is ignored)
    shop: str = ""
    kind: str = ""  # "invoice" | "credit_note"
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class DocumentState:
    """A listed document's state: what its credit notes credit (an invoice) and the status
    of the latest hand-over on each channel."""

    credited: Decimal = Decimal(0)
    credit_notes: int = 0
    channels: dict[str, str] = field(default_factory=dict)  # channel → latest status


def find_documents(
    conn: Connection, query: DocumentQuery, *, before_id: int | None, limit: int
) -> list[InvoiceRecord]:
    """Up to `limit` documents matching `query`, newest first (issue time, then id), older
    than document `before_id` when given (the next page: a keyset, not an offset, so a
    document issued meanwhile never shifts a page)."""
    stmt = select(invoices).where(*_filters(conn, query))
    if before_id is not None:
        stmt = stmt.where(_older_than(before_id))
    stmt = stmt.order_by(invoices.c.issued_at.desc(), invoices.c.id.desc()).limit(limit)
    return [_record(row) for row in conn.execute(stmt).mappings()]


def document_states(conn: Connection, invoice_ids: Sequence[int]) -> dict[int, DocumentState]:
    """Each listed document's state (every id has one, empty when nothing happened)."""
    ids = list(invoice_ids)
    credited = _credited(conn, ids)
    channels = _latest_deliveries(conn, ids)
    states = {}
    for invoice_id in ids:
        total, count = credited.get(invoice_id, (Decimal(0), 0))
        states[invoice_id] = DocumentState(total, count, channels.get(invoice_id, {}))
    return states


def _filters(conn: Connection, query: DocumentQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.number.strip():
        where.append(_lower(conn, invoices.c.number).like(_contains(query.number), LIKE_ESCAPE))
    if query.order_id.strip().lstrip("#"):
        where.append(invoices.c.order_id == query.order_id.strip().lstrip("#"))
    if query.shop:
        where.append(invoices.c.shop == query.shop)
    if query.kind:
        where.append(invoices.c.kind == query.kind)
    if query.since is not None:
        where.append(invoices.c.issued_at >= query.since)
    if query.until is not None:
        where.append(invoices.c.issued_at < query.until)
    if query.customer.strip():
        pattern = _contains(query.customer)
        where.append(
            or_(
                *(
                    _lower(conn, _buyer_field(conn, name)).like(pattern, LIKE_ESCAPE)
                    for name in ("name", "company", "email")
                )
            )
        )
    return where


def _buyer_field(conn: Connection, name: str) -> ColumnElement[Any]:
    """The buyer's `name` read from the snapshot JSON: only the buyer's fields match (a LIKE
    on the whole text would find the seller's own town or a product in every document)."""
    if conn.dialect.name == "postgresql":
        return func.json_extract_path_text(cast(invoices.c.snapshot, JSON), "buyer", name)
    return func.json_extract(invoices.c.snapshot, f"$.buyer.{name}")


def _lower(conn: Connection, text: ColumnElement[Any]) -> ColumnElement[Any]:
    """`text` in lower case, accented capitals included on both dialects (PostgreSQL's
    lower() follows the database's LC_CTYPE, which a UTF-8 locale makes Unicode-aware)."""
    if conn.dialect.name != "sqlite":
        return func.lower(text)
    record = conn.connection
    if not record.info.get(SQLITE_LOWER):  # once per DBAPI connection (the pool keeps `info`)
        driver = record.driver_connection
        assert driver is not None
        driver.create_function(SQLITE_LOWER, 1, _python_lower, deterministic=True)
        record.info[SQLITE_LOWER] = True
    return getattr(func, SQLITE_LOWER)(text)


def _python_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _contains(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its own % and _ taken literally (an email
    address often has an underscore)."""
    escaped = (
        text.strip()
        .lower()
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def _older_than(before_id: int) -> ColumnElement[bool]:
    anchor = select(invoices.c.issued_at).where(invoices.c.id == before_id).scalar_subquery()
    return tuple_(invoices.c.issued_at, invoices.c.id) < tuple_(anchor, literal(before_id))


def _credited(conn: Connection, ids: list[int]) -> dict[int, tuple[Decimal, int]]:
    """invoice id → (what its credit notes credit incl. VAT, how many there are)."""
    rows = conn.execute(
        select(invoices.c.credited_invoice_id, invoices.c.snapshot).where(
            invoices.c.credited_invoice_id.in_(ids)
        )
    )
    found: dict[int, tuple[Decimal, int]] = {}
    for invoice_id, text in rows:
        total, count = found.get(invoice_id, (Decimal(0), 0))
        found[invoice_id] = (total + InvoiceSnapshot.from_json(text).totals.total_incl, count + 1)
    return found


def _latest_deliveries(conn: Connection, ids: list[int]) -> dict[int, dict[str, str]]:
    """invoice id → {channel: status of its latest delivery}: a resend that went through
    clears the failure before it."""
    latest = (
        select(func.max(deliveries.c.id))
        .where(deliveries.c.invoice_id.in_(ids))
        .group_by(deliveries.c.invoice_id, deliveries.c.channel)
    )
    rows = conn.execute(
        select(deliveries.c.invoice_id, deliveries.c.channel, deliveries.c.status).where(
            deliveries.c.id.in_(latest)
        )
    )
    found: dict[int, dict[str, str]] = {}
    for invoice_id, channel, status in rows:
        found.setdefault(invoice_id, {})[channel] = status
    return found


class DocumentSearch:
    """Mixed into `Store`, which provides the read transactions."""

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def find_documents(
        self, query: DocumentQuery, *, before_id: int | None = None, limit: int = 50
    ) -> list[InvoiceRecord]:
        """Newest first; `before_id`: the page after the one that ended with that document."""
        with self._read() as conn:
            return find_documents(conn, query, before_id=before_id, limit=limit)

    def document_states(self, invoice_ids: Sequence[int]) -> dict[int, DocumentState]:
        with self._read() as conn:
            return document_states(conn, invoice_ids)
