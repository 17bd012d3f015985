"""`verify` catches what a person with database access could do behind our back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from bridge.config import load_settings
from bridge.demo import sample_orders, write_demo_config
from bridge.issue_facts import gather_issue_facts
from bridge.pipeline import accept_order, ensure_pdf, verify_archive
from bridge.services import Services


def issued_services(tmp_path: Path, count: int) -> Services:
    config = write_demo_config(tmp_path, smtp_port=1)
    svc = Services.from_settings(load_settings(config, environ={}))
    for _path, order in sample_orders()[:count]:
        # one in USD: the ECB rate is read first, as the issue step does
        result = accept_order(svc, order, then=(), facts=gather_issue_facts(svc, order))
        assert result.invoice is not None
        ensure_pdf(svc, result.invoice)
    return svc


def drop_guards(svc: Services) -> None:
    with svc.store.engine.begin() as conn:
        names = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='invoices'")
        ).scalars()
        for name in list(names):
            conn.execute(text(f'DROP TRIGGER "{name}"'))


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
