"""The chain proves: each forgery someone with database access (not the chain key) can make
is refused by the database or caught by `verify`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.audit import verify_archive
from bridge.chain_anchor import anchor_path
from bridge.chain_key import ChainKeyError, key_id, read_chain_keys, rotate_key_file
from bridge.demo import sample_orders
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.issue_facts import gather_issue_facts
from bridge.pipeline import accept_order, ensure_pdf
from bridge.services import Services
from bridge.store import GENESIS_HASH, InvoiceRecord, Store
from bridge.store.errors import InvoiceImmutableError
from tests.support.snapshots import issue
from tests.support.tampering import (
    Link,
    delete_newest,
    drop_guards,
    issued_services,
    keyed_with,
    move_counter,
    newest_invoice,
    plain_link,
    rebuild_chain,
    restore_guards,
    rewrite_invoice,
)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    services = issued_services(tmp_path, 3)
    yield services
    services.close()


def issue_next_order(svc: Services) -> None:
    _path, order = sample_orders()[3]
    result = accept_order(svc, order, then=(), facts=gather_issue_facts(svc, order))
    assert result.invoice is not None


def problems_of(svc: Services) -> list[str]:
    return [f"{p.number}: {p.what}" for p in verify_archive(svc.store, svc.archive)[1]]


def new_buyer(snapshot: InvoiceSnapshot) -> InvoiceSnapshot:
    return snapshot.model_copy(
        update={"buyer": snapshot.buyer.model_copy(update={"name": "Someone Else"})}
    )


def first_invoice(svc: Services) -> InvoiceRecord:
    return min(svc.store.iter_invoices(), key=lambda r: r.id)


def first_number(svc: Services) -> str:
    return first_invoice(svc).number


# -- the chain key ---------------------------------------------------------------------------


def test_each_link_is_signed_with_the_key_kept_beside_the_archive(svc: Services) -> None:
    keys = read_chain_keys(svc.settings.storage.chain_key_path)
    assert keys is not None
    assert svc.settings.storage.chain_key_path.parent == svc.archive.root.parent
    assert {r.link_key for r in svc.store.iter_invoices()} == {keys.active_id}
    assert svc.settings.storage.chain_key_path.stat().st_mode & 0o077 == 0


def test_the_intact_chain_verifies(svc: Services) -> None:
    assert problems_of(svc) == []


@pytest.mark.parametrize(
    "link", [plain_link, keyed_with(b"a guess" * 5)], ids=["plain-sha256", "another-key"]
)
def test_a_rewritten_buyer_with_the_pdf_and_chain_recomputed_without_the_key_is_caught(
    svc: Services, link: Link
) -> None:
    number = first_number(svc)
    drop_guards(svc)
    rewrite_invoice(svc, first_invoice(svc), new_buyer)
    rebuild_chain(svc, "FA", link)
    problems = problems_of(svc)
    assert any(p.startswith(f"{number}: hash does not match") for p in problems), problems


def test_a_chain_downgraded_to_plain_links_is_caught_by_the_anchor_and_the_log(
    svc: Services,
) -> None:
    drop_guards(svc)
    rewrite_invoice(svc, first_invoice(svc), new_buyer)
    rebuild_chain(svc, "FA", plain_link, link_key="")  # plain links verify on their own
    problems = problems_of(svc)
    assert any("differs from the head anchored" in p for p in problems), problems
    assert any("differs from the one its invoice.issued record kept" in p for p in problems)


def test_deleting_the_newest_invoice_and_rewinding_its_counter_is_caught(svc: Services) -> None:
    newest = delete_newest(svc)
    problems = problems_of(svc)
    assert any(p.startswith(f"{newest.number}: anchored") and "missing" in p for p in problems)
    assert any(p.startswith(f"{newest.number}: issued on") for p in problems), problems


def test_a_made_up_invoice_appended_after_the_head_is_caught(svc: Services) -> None:
    head = newest_invoice(svc)
    made_up = head.snapshot.model_copy(
        update={"sequence": head.sequence + 1, "number": f"FA-X-{head.sequence + 1:06d}"}
    )
    body = made_up.canonical_json()
    digest = keyed_with(b"not the key" * 3)(head.hash, body)
    # The guards stay: it follows its counter, so only the key and the log can tell.
    with svc.store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO invoices (shop, order_id, kind, series, period, sequence, number,"
                " issued_at, snapshot, prev_hash, hash, source, link_key) SELECT shop,"
                " 'made-up', kind, series, period, :q, :n, issued_at, :s, hash, :h, source,"
                " link_key FROM invoices WHERE id = :i"
            ),
            {"q": head.sequence + 1, "n": made_up.number, "s": body, "h": digest, "i": head.id},
        )
        conn.execute(
            text("UPDATE series_counters SET last_sequence = :q, last_hash = :h"),
            {"q": head.sequence + 1, "h": digest},
        )
    problems = problems_of(svc)
    assert f"{made_up.number}: no invoice.issued record in the event log (made up?)" in problems
    assert any(p.startswith(f"{made_up.number}: hash does not match") for p in problems)


def test_a_plain_link_appended_with_its_record_and_the_guards_in_place_is_caught(
    svc: Services,
) -> None:
    head = newest_invoice(svc)
    made_up = head.snapshot.model_copy(
        update={"sequence": head.sequence + 1, "number": f"FA-X-{head.sequence + 1:06d}"}
    )
    body = made_up.canonical_json()
    digest = plain_link(head.hash, body)
    with svc.store.engine.begin() as conn:  # only INSERTs and the counter's one step forward
        new_id = conn.execute(
            text(
                "INSERT INTO invoices (shop, order_id, kind, series, period, sequence, number,"
                " issued_at, snapshot, prev_hash, hash, source, link_key) SELECT shop,"
                " 'made-up', kind, series, period, :q, :n, issued_at, :s, hash, :h, source, ''"
                " FROM invoices WHERE id = :i RETURNING id"
            ),
            {"q": head.sequence + 1, "n": made_up.number, "s": body, "h": digest, "i": head.id},
        ).scalar_one()
        conn.execute(
            text("UPDATE series_counters SET last_sequence = :q, last_hash = :h"),
            {"q": head.sequence + 1, "h": digest},
        )
    svc.store.append_event(
        "invoice.issued",
        invoice_number=made_up.number,
        detail={"invoice_id": new_id, "hash": digest},
    )
    svc.anchor_chain_heads()  # the daily anchoring must not bless it either
    problems = problems_of(svc)
    assert (
        f"{made_up.number}: a plain SHA-256 link where links are keyed (made or rewritten "
        "without the chain key)" in problems
    ), problems


def test_a_plain_link_with_a_negative_id_in_an_unused_series_is_caught(svc: Services) -> None:
    model = next(iter(svc.store.iter_invoices()))
    forged = model.snapshot.model_copy(
        update={"series": "AV", "sequence": 1, "number": "AV-X-000001"}
    )
    body = forged.canonical_json()
    digest = plain_link(GENESIS_HASH, body)
    with svc.store.engine.begin() as conn:  # guards on: only inserts and one step forward
        conn.execute(
            text(
                "INSERT INTO series_counters (series, period, last_sequence, last_hash)"
                " VALUES ('AV', :p, 0, :g)"
            ),
            {"p": model.period, "g": GENESIS_HASH},
        )
        conn.execute(
            text(
                "INSERT INTO invoices (id, shop, order_id, kind, series, period, sequence,"
                " number, issued_at, snapshot, prev_hash, hash, source, link_key) SELECT -1,"
                " shop, 'made-up', 'credit_note', 'AV', period, 1, :n, issued_at, :s, :g, :h,"
                " 'manual:x', '' FROM invoices WHERE id = :i"
            ),
            {"n": forged.number, "s": body, "g": GENESIS_HASH, "h": digest, "i": model.id},
        )
        conn.execute(
            text(
                "UPDATE series_counters SET last_sequence = 1, last_hash = :h WHERE series = 'AV'"
            ),
            {"h": digest},
        )
    svc.store.append_event(
        "invoice.issued", invoice_number=forged.number, detail={"invoice_id": -1, "hash": digest}
    )
    svc.anchor_chain_heads()
    assert any(p.startswith("AV-X-000001: a plain SHA-256 link") for p in problems_of(svc))


def test_a_head_rewritten_behind_a_counter_moved_back_is_caught(svc: Services) -> None:
    head = newest_invoice(svc)
    guards = drop_guards(svc)
    rewrite_invoice(svc, head, new_buyer)  # its stored hash left as it was
    with svc.store.engine.begin() as conn:
        move_counter(conn, head.series, head.sequence - 1, head.prev_hash)
    restore_guards(svc, guards)
    problems = problems_of(svc)
    assert f"{head.number}: beyond its series counter (the counter was moved back)" in problems


def test_a_deleted_head_whose_id_is_given_again_is_caught_in_the_log(svc: Services) -> None:
    newest = delete_newest(svc)
    issue_next_order(svc)
    reused = newest_invoice(svc)
    assert reused.id == newest.id  # SQLite gives a deleted newest row's id again
    assert any(
        p.startswith(f"{newest.number}: issued on") and "deleted since" in p
        for p in problems_of(svc)
    ), problems_of(svc)


def test_a_malformed_record_of_where_plain_links_end_does_not_stop_verify(
    svc: Services,
) -> None:
    for detail in ({"heads": {"FA": {"id": "x"}}}, {"heads": {"FA": 5}}, {"heads": "x"}):
        svc.store.append_event("chain.keyed_from", detail=detail)
    assert problems_of(svc) == []  # every link here is keyed: nothing to allow or refuse


def test_a_host_without_the_key_file_refuses_to_sign_rather_than_make_a_new_key(
    svc: Services,
) -> None:
    path = svc.settings.storage.chain_key_path
    path.unlink()
    other_host = Services.from_settings(svc.settings)
    try:
        with pytest.raises(ChainKeyError, match="restore the file from your backup"):
            issue_next_order(other_host)
    finally:
        other_host.close()
    assert not path.exists()


def test_a_restore_that_cannot_be_recorded_does_not_happen(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = next(iter(svc.store.iter_invoices()))
    assert invoice.pdf_sha256 is not None
    svc.archive.path_for(invoice.pdf_sha256).unlink()

    def database_away(*_args: object, **_kwargs: object) -> int:
        raise OSError("the database is away")

    monkeypatch.setattr(svc.store, "append_event", database_away)
    with pytest.raises(OSError):
        ensure_pdf(svc, invoice)
    assert not svc.archive.path_for(invoice.pdf_sha256).exists()


def test_a_missing_key_file_is_reported_and_not_made_again_by_verify(svc: Services) -> None:
    path = svc.settings.storage.chain_key_path
    path.unlink()
    fresh = Services.from_settings(svc.settings)
    try:
        problems = problems_of(fresh)
    finally:
        fresh.close()
    assert any("not available" in p and "chain_key_file" in p for p in problems), problems
    assert not path.exists()


def test_a_key_appended_by_rotation_signs_the_next_link_of_a_running_service(
    svc: Services,
) -> None:
    old_ids = {r.link_key for r in svc.store.iter_invoices()}
    new_id = rotate_key_file(svc.settings.storage.chain_key_path)
    issue_next_order(svc)  # the same Services: no restart needed
    assert {r.link_key for r in svc.store.iter_invoices()} == old_ids | {new_id}
    assert problems_of(svc) == []


def test_a_second_host_cannot_make_its_own_key_before_anything_was_signed(
    tmp_path: Path,
) -> None:
    first = issued_services(tmp_path, 0)
    try:
        assert first.anchor_chain_heads() == 0  # the service start: the key is made
        path = first.settings.storage.chain_key_path
        assert path.exists()
        path.rename(tmp_path / "elsewhere.key")  # the second host has no such file
        second = Services.from_settings(first.settings)
        try:
            with pytest.raises(ChainKeyError, match="this database knows chain key"):
                second.anchor_chain_heads()
        finally:
            second.close()
    finally:
        first.close()
    assert not path.exists()


# -- the anchor outside the database --------------------------------------------------------


def test_the_anchor_beside_the_archive_names_the_newest_document(svc: Services) -> None:
    head = newest_invoice(svc)
    written = anchor_path(svc.archive.root, "FA").read_text()
    assert head.number in written and head.hash in written


def test_an_edited_anchor_is_reported(svc: Services) -> None:
    path = anchor_path(svc.archive.root, "FA")
    head = newest_invoice(svc)
    path.write_text(path.read_text().replace(head.number, "FA-0000-000009"))
    assert any("was altered" in p for p in problems_of(svc)), problems_of(svc)


def test_a_deleted_anchor_is_reported(svc: Services) -> None:
    anchor_path(svc.archive.root, "FA").unlink()
    assert any(p.startswith("series FA: no chain anchor") for p in problems_of(svc))


def test_an_anchor_never_moves_back_to_an_older_head(svc: Services) -> None:
    from bridge.chain_anchor import read_anchor, write_anchor

    keys = svc.store.signing_keys()
    assert keys is not None
    oldest = next(iter(svc.store.iter_invoices()))
    assert not write_anchor(
        svc.archive.root, keys, oldest, svc.store.clock(), svc.store.get_invoice_by_id
    )
    anchor = read_anchor(anchor_path(svc.archive.root, "FA"), keys)
    assert not isinstance(anchor, str) and anchor is not None
    assert anchor.invoice_id == newest_invoice(svc).id


def test_the_anchor_does_not_move_past_a_deleted_head_when_the_next_document_comes(
    svc: Services,
) -> None:
    newest = delete_newest(svc)
    issue_next_order(svc)  # a real document after the deletion, anchored as usual
    assert anchor_path(svc.archive.root, "FA").read_text().count(newest.hash) == 1
    assert any(p.startswith(f"{newest.number}: ") and "anchored" in p for p in problems_of(svc))


def test_the_daily_digest_mails_the_chain_heads(svc: Services) -> None:
    from bridge.outages import digest_facts, digest_text

    now = svc.store.clock()
    title, body = digest_text(digest_facts(svc), now) or ("", "")
    head = newest_invoice(svc)
    assert title == "Quittance daily digest: all well"
    assert f"series FA: {head.number}, hash {head.hash}" in body
    assert digest_text(digest_facts(svc), now + timedelta(days=2)) is None  # nothing moved


# -- the guards in the database --------------------------------------------------------------


def test_replace_into_from_a_plain_sqlite_session_is_refused(svc: Services) -> None:
    database = svc.store.database_file()
    assert database is not None
    conn = sqlite3.connect(database)  # no recursive_triggers: REPLACE's delete fires nothing
    try:
        for statement in (
            "REPLACE INTO invoices SELECT * FROM invoices WHERE sequence = 1",
            "REPLACE INTO events SELECT * FROM events WHERE id = 1",
            "REPLACE INTO series_counters SELECT * FROM series_counters",
            "INSERT OR REPLACE INTO invoices SELECT * FROM invoices WHERE sequence = 1",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="quittance-immutable"):
                conn.execute(statement)
    finally:
        conn.close()
    assert problems_of(svc) == []


def test_a_dropped_trigger_is_reported_by_verify(svc: Services) -> None:
    with svc.store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER invoices_no_replace"))
    problems = problems_of(svc)
    assert any(p.startswith("database: the guard trigger invoices_no_replace") for p in problems)


def test_an_invoice_that_does_not_follow_its_counter_is_refused(db_url: str) -> None:
    with Store.open(db_url) as store:
        first = issue(store, "1").invoice
        with pytest.raises(InvoiceImmutableError), store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO invoices (shop, order_id, kind, series, period, sequence,"
                    " number, issued_at, snapshot, prev_hash, hash, source, link_key)"
                    " SELECT shop, 'x', kind, series, period, 5, 'FA-X-5', issued_at, snapshot,"
                    " hash, hash, source, link_key FROM invoices WHERE id = :i"
                ),
                {"i": first.id},
            )


def test_a_series_counter_cannot_be_rewound_or_deleted(db_url: str) -> None:
    with Store.open(db_url) as store:
        issue(store, "1")
        issue(store, "2")
        for statement in (
            "UPDATE series_counters SET last_sequence = 1",
            "DELETE FROM series_counters",
        ):
            with pytest.raises(InvoiceImmutableError), store.engine.begin() as conn:
                conn.execute(text(statement))
        assert issue(store, "3").invoice.sequence == 3  # the real path still moves it


def test_a_disabled_trigger_is_reported_on_postgresql(pg_url: str) -> None:
    with Store.open(pg_url) as store:
        assert store.guard_problems() == []
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE invoices DISABLE TRIGGER invoices_immutable"))
        problems = store.guard_problems()
    assert len(problems) == 1 and "invoices_immutable on invoices is disabled" in problems[0]


# -- a restored PDF --------------------------------------------------------------------------


def test_a_deleted_pdf_restored_by_a_download_stays_reported(svc: Services) -> None:
    invoice = next(iter(svc.store.iter_invoices()))
    assert invoice.pdf_sha256 is not None
    svc.archive.path_for(invoice.pdf_sha256).unlink()
    ensure_pdf(svc, invoice)  # what the download link does
    assert svc.archive.path_for(invoice.pdf_sha256).is_file()
    for _run in range(2):
        problems = problems_of(svc)
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"{invoice.number}: its PDF was found missing")
    assert svc.store.has_event("invoice.restored", invoice.number)


def test_a_key_id_names_the_key_without_revealing_it() -> None:
    secret = bytes(range(32))
    assert len(key_id(secret)) == 16 and secret.hex()[:16] not in key_id(secret)
