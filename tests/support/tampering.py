"""What someone with write access to the database (not to the chain key) can do behind our
back, done the way they would: plain SQL, the guard triggers dropped first."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bridge.config import load_settings
from bridge.demo import sample_orders, write_demo_config
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.issue_facts import gather_issue_facts
from bridge.pipeline import accept_order, ensure_pdf
from bridge.render.archived import render_for_archive
from bridge.services import Services
from bridge.store import InvoiceRecord

Link = Callable[[str, str], str]  # (prev_hash, snapshot json) → hash


def issued_services(tmp_path: Path, count: int) -> Services:
    """`count` demo orders issued and archived, on SQLite, with the service's chain key."""
    config = write_demo_config(tmp_path, smtp_port=1)
    svc = Services.from_settings(load_settings(config, environ={}))
    for _path, order in sample_orders()[:count]:
        # one in USD: the ECB rate is read first, as the issue step does
        result = accept_order(svc, order, then=(), facts=gather_issue_facts(svc, order))
        assert result.invoice is not None
        ensure_pdf(svc, result.invoice)
    return svc


def drop_guards(svc: Services) -> list[str]:
    """Every trigger of the SQLite database, gone; returns their DDL to put them back."""
    with svc.store.engine.begin() as conn:
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type='trigger'"))
        triggers = list(rows)
        for name, _sql in triggers:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
    return [sql for _name, sql in triggers]


def restore_guards(svc: Services, ddl: list[str]) -> None:
    """The triggers back, as a careful intruder leaves them."""
    with svc.store.engine.begin() as conn:
        for statement in ddl:
            conn.execute(text(statement))


def newest_invoice(svc: Services) -> InvoiceRecord:
    """The last one issued (by id: across New Year the newest has sequence 1)."""
    return max(svc.store.iter_invoices(), key=lambda r: r.id)


def delete_newest(svc: Services) -> InvoiceRecord:
    """The guards dropped, the newest invoice deleted and its counter moved back onto the one
    before: a tail cut short as cleanly as plain SQL can. Returns what was deleted."""
    newest = newest_invoice(svc)
    drop_guards(svc)
    with svc.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM invoices WHERE id = :i"), {"i": newest.id})
        move_counter(conn, newest.series, newest.sequence - 1, newest.prev_hash)
    return newest


def move_counter(conn: Connection, series: str, sequence: int, last_hash: str) -> None:
    conn.execute(
        text("UPDATE series_counters SET last_sequence = :q, last_hash = :h WHERE series = :s"),
        {"q": sequence, "h": last_hash, "s": series},
    )


def plain_link(prev_hash: str, snapshot_json: str) -> str:
    return hashlib.sha256((prev_hash + snapshot_json).encode()).hexdigest()


def keyed_with(key: bytes) -> Link:
    def link(prev_hash: str, snapshot_json: str) -> str:
        return hmac.new(key, (prev_hash + snapshot_json).encode(), hashlib.sha256).hexdigest()

    return link


def rebuild_chain(svc: Services, series: str, link: Link, *, link_key: str | None = None) -> None:
    """Recompute every link of `series` after an edit, and point its counter at the end."""
    with svc.store.engine.begin() as conn:
        rows = conn.execute(
            text("SELECT id, snapshot, link_key FROM invoices WHERE series = :s ORDER BY id"),
            {"s": series},
        ).all()
        prev = "0" * 64
        for invoice_id, snapshot, key in rows:
            digest = link(prev, snapshot)
            conn.execute(
                text("UPDATE invoices SET prev_hash = :p, hash = :h, link_key = :k WHERE id = :i"),
                {
                    "p": prev,
                    "h": digest,
                    "k": key if link_key is None else link_key,
                    "i": invoice_id,
                },
            )
            prev = digest
        conn.execute(
            text("UPDATE series_counters SET last_hash = :h WHERE series = :s"),
            {"h": prev, "s": series},
        )


def rewrite_invoice(
    svc: Services, record: InvoiceRecord, change: Callable[[InvoiceSnapshot], InvoiceSnapshot]
) -> InvoiceSnapshot:
    """Change `record`'s snapshot, serialised the way the service would, and archive a PDF
    rendered from it in place of the old one."""
    forged = change(record.snapshot)
    pdf, _profile = render_for_archive(svc.archive, forged, svc.templates)
    sha256 = svc.archive.put(pdf, number=forged.number).sha256
    with svc.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE invoices SET snapshot = :s, pdf_sha256 = :p WHERE id = :i"),
            {"s": forged.canonical_json(), "p": sha256, "i": record.id},
        )
    return forged
