"""`verify` catches what a person with database access could do behind our back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from bridge.audit import verify_archive
from tests.support.tampering import drop_guards, issued_services


def test_intact_archive_verifies(tmp_path: Path) -> None:
    svc = issued_services(tmp_path, 3)
    try:
        assert verify_archive(svc.store, svc.archive) == (3, [])
    finally:
        svc.close()


def test_deleting_the_newest_invoice_is_caught(tmp_path: Path) -> None:
    svc = issued_services(tmp_path, 3)
    try:
        drop_guards(svc)
        with svc.store.engine.begin() as conn:
            conn.execute(text("DELETE FROM invoices WHERE sequence = 3"))
        _checked, problems = verify_archive(svc.store, svc.archive)
        assert any("missing" in p.what for p in problems), problems
    finally:
        svc.close()


def test_deleting_an_invoice_in_the_middle_is_caught(tmp_path: Path) -> None:
    svc = issued_services(tmp_path, 3)
    try:
        drop_guards(svc)
        with svc.store.engine.begin() as conn:
            conn.execute(text("DELETE FROM invoices WHERE sequence = 2"))
        _checked, problems = verify_archive(svc.store, svc.archive)
        numbers = {p.number for p in problems}
        assert any(n.endswith("000003") for n in numbers), problems
    finally:
        svc.close()


def test_editing_a_snapshot_is_caught(tmp_path: Path) -> None:
    svc = issued_services(tmp_path, 2)
    try:
        drop_guards(svc)
        with svc.store.engine.begin() as conn:
            conn.execute(text("UPDATE invoices SET snapshot = replace(snapshot, '71.99', '7.99')"))
        _checked, problems = verify_archive(svc.store, svc.archive)
        assert any("hash does not match" in p.what for p in problems), problems
    finally:
        svc.close()
