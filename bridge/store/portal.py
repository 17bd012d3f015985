"""The customer's side in SQL: customers and their documents, rate limits, downloads and
survey answers (bridge/portal)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, delete, func, select, update
from sqlalchemy.engine import Connection, RowMapping

from bridge.store import jobs
from bridge.store._sql import insert_for
from bridge.store.records import CustomerRecord, SurveyRecord
from bridge.store.schema import (
    customer_documents,
    customers,
    downloads,
    invoices,
    rate_limits,
    short_links,
    surveys,
)

# Answers to POST /survey: what became of it.
RECORDED, CHANGED, LOCKED = "recorded", "changed", "locked"
LOW_SCORES = 2  # the bottom two of any scale: the owner is told
ALERT_JOB = "survey_alert"


def normal_email(email: str) -> str:
    return email.strip().lower()


def attach_document(
    conn: Connection, *, invoice_id: int, shop: str, email: str, now: datetime
) -> None:
    """Make the document its buyer's (the customer is created on their first document)."""
    email = normal_email(email)
    if not email:
        return
    conn.execute(
        insert_for(conn, customers)
        .values(shop=shop, email=email, generation=0, created_at=now)
        .on_conflict_do_nothing(index_elements=[customers.c.shop, customers.c.email])
    )
    customer_id = conn.execute(
        select(customers.c.id).where(customers.c.shop == shop, customers.c.email == email)
    ).scalar_one()
    conn.execute(
        insert_for(conn, customer_documents)
        .values(invoice_id=invoice_id, customer_id=customer_id)
        .on_conflict_do_nothing(index_elements=[customer_documents.c.invoice_id])
    )


def customer(conn: Connection, shop: str, email: str) -> CustomerRecord | None:
    row = (
        conn.execute(
            select(customers).where(
                customers.c.shop == shop, customers.c.email == normal_email(email)
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _customer(row)


def shop_has_customers(conn: Connection, shop: str) -> bool:
    found = conn.execute(select(customers.c.id).where(customers.c.shop == shop).limit(1))
    return found.first() is not None


def customer_by_id(conn: Connection, customer_id: int) -> CustomerRecord | None:
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).mappings().first()
    return None if row is None else _customer(row)


def owner_of(conn: Connection, invoice_id: int) -> CustomerRecord | None:
    row = (
        conn.execute(
            select(customers)
            .join(customer_documents, customer_documents.c.customer_id == customers.c.id)
            .where(customer_documents.c.invoice_id == invoice_id)
        )
        .mappings()
        .first()
    )
    return None if row is None else _customer(row)


def revoke(conn: Connection, shop: str, email: str, now: datetime) -> int | None:
    """Bump the customer's generation; None when the shop has no such customer."""
    email = normal_email(email)
    where = (customers.c.shop == shop) & (customers.c.email == email)
    done = conn.execute(
        update(customers)
        .where(where)
        .values(generation=customers.c.generation + 1, revoked_at=now)
        .returning(customers.c.generation)
    ).scalar_one_or_none()
    return None if done is None else int(done)


def allow(conn: Connection, key: str, limit: int, window: timedelta, now: datetime) -> bool:
    """Count one request under `key` in its current window; False once over `limit`.

    One upsert: replicas racing on the same key each get their own count."""
    restart = rate_limits.c.window_start <= now - window
    stmt = (
        insert_for(conn, rate_limits)
        .values(key=key[:300], window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[rate_limits.c.key],
            set_={
                "count": case((restart, 1), else_=rate_limits.c.count + 1),
                "window_start": case((restart, now), else_=rate_limits.c.window_start),
            },
        )
        .returning(rate_limits.c.count)
    )
    return int(conn.execute(stmt).scalar_one()) <= limit


def count_once(
    conn: Connection, mark: str, key: str, limit: int, window: timedelta, now: datetime
) -> bool:
    """Count one thing under `key` unless `mark` says it was counted and let through before;
    False (and no mark left) once `key` is over `limit`. One transaction: a crash leaves
    either both counts or neither."""
    if not allow(conn, mark, 1, window, now):
        return True
    if allow(conn, key, limit, window, now):
        return True
    # refused: neither counted, so a later run (or a raised limit) starts from the true count
    conn.execute(delete(rate_limits).where(rate_limits.c.key == mark[:300]))
    conn.execute(
        update(rate_limits).where(rate_limits.c.key == key[:300])
        .values(count=rate_limits.c.count - 1)
    )  # fmt: skip
    return False


def forget_old_windows(conn: Connection, before: datetime) -> int:
    return conn.execute(delete(rate_limits).where(rate_limits.c.window_start < before)).rowcount


def record_download(conn: Connection, invoice_id: int, via: str, now: datetime) -> None:
    conn.execute(downloads.insert().values(invoice_id=invoice_id, via=via, at=now))


def download_count(conn: Connection, invoice_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(downloads).where(downloads.c.invoice_id == invoice_id)
        ).scalar_one()
    )


def invite(conn: Connection, invoice_id: int, shop: str, scale: int, now: datetime) -> None:
    conn.execute(
        insert_for(conn, surveys)
        .values(invoice_id=invoice_id, shop=shop, scale=scale, invited_at=now)
        .on_conflict_do_nothing(index_elements=[surveys.c.invoice_id])
    )


def survey(conn: Connection, invoice_id: int) -> SurveyRecord | None:
    row = conn.execute(_survey_select().where(surveys.c.invoice_id == invoice_id)).mappings()
    found = row.first()
    return None if found is None else _survey(found)


def answer(
    conn: Connection,
    invoice_id: int,
    score: int,
    comment: str | None,
    *,
    change_for: timedelta,
    keep_comment_for: timedelta,
    now: datetime,
) -> str:
    """Record or change the answer; LOCKED once `change_for` has passed since the first.

    The row is locked first (FOR UPDATE on PostgreSQL) so two submits cannot both see no
    first answer. A score in the bottom two queues the owner's alert in the same
    transaction, with the score it is about: an answer is never recorded without it."""
    row = (
        conn.execute(
            select(surveys.c.first_answered_at, surveys.c.shop, invoices.c.order_id)
            .join(invoices, invoices.c.id == surveys.c.invoice_id)
            .where(surveys.c.invoice_id == invoice_id)
            .with_for_update(of=surveys)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise LookupError(f"no survey for invoice id {invoice_id}")
    first = row["first_answered_at"]
    if first is not None and now > first + change_for:
        return LOCKED
    values = {
        "score": score,
        "comment": comment or None,
        "answered_at": now,
        "comment_until": now + keep_comment_for if comment else None,
    }
    if first is None:
        values["first_answered_at"] = now
    conn.execute(update(surveys).where(surveys.c.invoice_id == invoice_id).values(**values))
    if score <= LOW_SCORES:
        jobs.enqueue(
            conn, ALERT_JOB, {"invoice_id": invoice_id, "score": score},
            # each answer its job (the alert itself is deduplicated by its key)
            dedupe_key=f"{ALERT_JOB}:{invoice_id}:{uuid.uuid4().hex}", run_at=now, now=now,
            shop=row["shop"], order_id=row["order_id"], invoice_id=invoice_id,
        )  # fmt: skip
    return RECORDED if first is None else CHANGED


def between(
    conn: Connection, since: datetime, until: datetime, shop: str | None
) -> list[SurveyRecord]:
    query = _survey_select().where(surveys.c.invited_at >= since, surveys.c.invited_at < until)
    if shop is not None:
        query = query.where(surveys.c.shop == shop)
    rows = conn.execute(query.order_by(surveys.c.invited_at, surveys.c.invoice_id)).mappings()
    return [_survey(row) for row in rows]


def erase_old_comments(conn: Connection, now: datetime) -> int:
    return conn.execute(
        update(surveys)
        .where(surveys.c.comment_until.is_not(None), surveys.c.comment_until <= now)
        .values(comment=None, comment_until=None)
    ).rowcount


def _survey_select() -> Select[Any]:
    return select(surveys, invoices.c.number, invoices.c.order_id).join(
        invoices, invoices.c.id == surveys.c.invoice_id
    )


def _customer(row: RowMapping) -> CustomerRecord:
    return CustomerRecord(
        id=row["id"],
        shop=row["shop"],
        email=row["email"],
        generation=row["generation"],
        created_at=row["created_at"],
    )


def _survey(row: RowMapping) -> SurveyRecord:
    return SurveyRecord(
        invoice_id=row["invoice_id"],
        shop=row["shop"],
        number=row["number"],
        order_id=row["order_id"],
        scale=row["scale"],
        invited_at=row["invited_at"],
        score=row["score"],
        comment=row["comment"],
        first_answered_at=row["first_answered_at"],
        answered_at=row["answered_at"],
    )


def add_short_link(
    conn: Connection, code: str, target: str, invoice_id: int, expires_at: datetime,
    now: datetime,
) -> None:  # fmt: skip
    conn.execute(
        short_links.insert().values(
            code=code, target=target, invoice_id=invoice_id, created_at=now, expires_at=expires_at
        )
    )


def short_link_target(conn: Connection, code: str, now: datetime) -> str | None:
    """The signed link `code` stands for, while it is kept (its own expiry is the link's
    business: an expired link opens the page that sends a new one)."""
    row = conn.execute(
        select(short_links.c.target).where(
            short_links.c.code == code, short_links.c.expires_at > now
        )
    ).first()
    return None if row is None else str(row[0])


def forget_short_links(conn: Connection, before: datetime) -> int:
    return conn.execute(delete(short_links).where(short_links.c.expires_at < before)).rowcount
