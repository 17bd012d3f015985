"""Invoices issued by an older version keep their hash: every field added to the snapshot
since is absent from them and left out of the hashed text while it holds its default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.invoicing.snapshot import _ADDED_FIELDS
from bridge.store import Store
from tests.support.paths import ROOT

# Added before that version was written: its invoices carry it.
WRITTEN_BY_THAT_VERSION = {"legal"}
OLD_DATABASE = ROOT / "tests" / "fixtures" / "databases" / "queued_by_b85858e.sqlite"


def test_invoices_stored_by_an_older_version_hash_as_they_did(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    shutil.copyfile(OLD_DATABASE, database)
    store = Store.open(f"sqlite:///{database}")
    try:
        invoices = list(store.iter_invoices())
        assert invoices and store.chain_problems() == []
        for invoice in invoices:
            data = invoice.snapshot.model_dump(mode="json")
            for name, default in _ADDED_FIELDS.items():
                if name in WRITTEN_BY_THAT_VERSION:
                    continue
                *parents, leaf = name.split(".")
                holder = data
                for parent in parents:
                    holder = holder[parent]
                assert holder[leaf] == default, name
            assert invoice.snapshot.canonical_json() == invoice.snapshot_json
    finally:
        store.close()


def test_a_database_of_an_older_version_keeps_its_invoices_immutable_once_migrated(
    tmp_path: Path,
) -> None:
    database = tmp_path / "old.sqlite3"
    shutil.copyfile(OLD_DATABASE, database)
    store = Store.open(f"sqlite:///{database}")
    try:
        for sql in ("UPDATE invoices SET source = 'x'", "DELETE FROM invoices"):
            with store.engine.begin() as conn, pytest.raises(Exception, match="immutable"):
                conn.execute(text(sql))
        assert {r.source for r in store.iter_invoices()} == {""}
    finally:
        store.close()


def test_shops_an_older_version_served_started_with_their_first_order(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    shutil.copyfile(OLD_DATABASE, database)
    store = Store.open(f"sqlite:///{database}")
    try:
        first = min(r.issued_at for r in store.iter_invoices())  # issued once recorded
        assert store.shop_started_at("theiere") <= first
    finally:
        store.close()
