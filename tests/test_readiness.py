"""/readyz tells the truth: a database that takes a write, an archive that takes bytes and keeps
its free space. Real folders, real SQLite files and PostgreSQL schemas, real refusals.

Running as root, chmod stops nothing, so the refusals are made honestly: a tiny tmpfs really
filled up (ENOSPC) or remounted read-only (EROFS), a folder path through a regular file, a
threshold above the disk's real free space, a SQLite file opened read-only, a PostgreSQL session
whose transactions are read-only, a write lock really held by another connection. The tmpfs
tests need the right to mount; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import errno
import sqlite3
import tempfile
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bridge.archive import Archive, free_bytes
from bridge.config import load_settings
from bridge.ops import check_archive
from bridge.services import Services
from bridge.store import Store
from bridge.store.engine import SQLITE_BUSY_TIMEOUT_S
from bridge.store.health import DatabaseNotWritable
from bridge.store.schema import jobs
from bridge.web.app import (
    MB,
    archive_problems,
    create_ops_app,
    default_readiness,
    space_problem,
)
from tests.support import postgres
from tests.support.config import write_config
from tests.support.disks import fill, remount_read_only, tiny_disk

SHORT_WAIT = 0.2  # seconds: a lock held by the test is held for good, no need to wait 2 s
__all__ = ["tiny_disk"]  # a fixture, used by name


# -- the archive -------------------------------------------------------------------------


def test_a_writable_archive_passes_and_keeps_no_probe_file(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    archive.check_writable()
    assert list(archive.root.iterdir()) == []


def test_a_full_disk_fails_the_probe_where_an_empty_file_still_fits(tiny_disk: Path) -> None:
    archive = Archive(tiny_disk / "archive")
    archive.root.mkdir()
    fill(tiny_disk)
    with tempfile.NamedTemporaryFile(dir=archive.root):  # the old probe: no block needed
        pass
    with pytest.raises(OSError) as refused:
        archive.check_writable()
    assert refused.value.errno == errno.ENOSPC


def test_a_full_disk_leaves_no_probe_file_behind(tiny_disk: Path) -> None:
    archive = Archive(tiny_disk / "archive")
    archive.root.mkdir()
    fill(tiny_disk)
    with pytest.raises(OSError):
        archive.check_writable()
    assert list(archive.root.iterdir()) == []


def test_a_read_only_mount_fails_the_probe(tiny_disk: Path) -> None:
    archive = Archive(tiny_disk / "archive")
    archive.root.mkdir()
    remount_read_only(tiny_disk)
    assert archive_problems(archive, 0) == [
        f"archive: cannot write to {archive.root} (read-only file system: remount it read-write)"
    ]


def test_an_archive_folder_under_a_regular_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    archive = Archive(tmp_path / "a-file" / "archive")
    assert archive_problems(archive, 0) == [
        f"archive: cannot write to {archive.root} (a part of the path is a file, not a folder: "
        "fix [storage] archive_dir)"
    ]


def test_free_space_below_the_threshold_is_named_with_the_setting(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    above = free_bytes(tmp_path) // MB + 1024  # a GB more than this disk has
    [problem] = archive_problems(archive, above)
    assert problem.startswith("archive: ")
    assert f" MB free on {archive.root}, below [storage] archive_min_free_mb = {above}" in problem


def test_a_full_disk_is_one_line_not_two(tiny_disk: Path) -> None:
    archive = Archive(tiny_disk / "archive")
    archive.root.mkdir()
    fill(tiny_disk)
    assert archive_problems(archive, 200) == [
        f"archive: 0 MB free on {archive.root}, below [storage] archive_min_free_mb = 200: "
        "free some space or grow the disk"
    ]


def test_a_zero_threshold_turns_the_space_check_off(tiny_disk: Path) -> None:
    fill(tiny_disk, leave=256 * 1024)
    assert free_bytes(tiny_disk) < MB  # below any threshold but 0
    assert space_problem(tiny_disk, 0) is None


def test_the_doctor_says_the_free_space_is_below_the_threshold(tmp_path: Path) -> None:
    above = free_bytes(tmp_path) // MB + 1024
    svc = _services(tmp_path, storage={"archive_min_free_mb": above})
    try:
        line = check_archive(svc)
    finally:
        svc.close()
    assert not line.ok
    assert f"below [storage] archive_min_free_mb = {above}" in line.detail


# -- the database ------------------------------------------------------------------------


def _job_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(jobs)).scalar_one())


def refusal(url: str, *, lock_timeout_s: float = SHORT_WAIT) -> str:
    """What the write probe says about the database at `url` (the test fails if it passes)."""
    with Store.open(url, migrate=False) as store, pytest.raises(DatabaseNotWritable) as refused:
        store.check_writable(lock_timeout_s=lock_timeout_s)
    return str(refused.value)


def test_a_writable_database_passes_and_keeps_no_row(db_url: str) -> None:
    with Store.open(db_url) as store:
        store.check_writable()
        assert _job_rows(store) == 0


def test_the_probe_leaves_the_write_lock_free_for_another_process(db_url: str) -> None:
    with Store.open(db_url) as store, Store.open(db_url, migrate=False) as other:
        store.check_writable(lock_timeout_s=SHORT_WAIT)
        # another process's write right after: a lock left behind would make it wait or fail
        other.check_writable(lock_timeout_s=SHORT_WAIT)
        assert other.enqueue("ingest", {}, dedupe_key="after-probe") is not None


def test_the_probe_gives_its_sqlite_connection_back_with_the_store_busy_timeout(
    tmp_path: Path,
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'q.db'}") as store:
        store.engine.dispose()  # one connection in the pool from here on: the probe's
        store.check_writable(lock_timeout_s=SHORT_WAIT)
        assert store.engine.pool.checkedin() == 1
        with store.engine.connect() as conn:
            busy_ms = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
    assert busy_ms == SQLITE_BUSY_TIMEOUT_S * 1000


def test_a_read_only_sqlite_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    Store.open(f"sqlite:///{path}").close()
    assert refusal(f"sqlite:///file:{path}?mode=ro&uri=true") == (
        f"the SQLite file {path} is read-only (attempt to write a readonly database): make it "
        "and its folder writable"
    )


def test_a_sqlite_write_lock_held_too_long_is_named(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    Store.open(f"sqlite:///{path}").close()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        said = refusal(f"sqlite:///{path}")
    finally:
        holder.close()
    assert said == (
        f"the SQLite file {path} stayed locked by another writer for {SHORT_WAIT:g} s: a long "
        "write or a stuck process holds it"
    )


def test_a_sqlite_file_on_a_read_only_mount_is_named(tiny_disk: Path) -> None:
    url = f"sqlite:///{tiny_disk / 'q.db'}"
    Store.open(url).close()
    remount_read_only(tiny_disk)
    assert refusal(url).startswith(f"cannot open the SQLite file {tiny_disk / 'q.db'}")


def test_a_read_only_postgresql_session_is_named(pg_url: str) -> None:
    Store.open(pg_url).close()
    said = refusal(pg_url + "%20-cdefault_transaction_read_only%3Don")
    assert "opens read-only transactions (default_transaction_read_only is on)" in said


def test_a_postgresql_lock_held_too_long_is_named(pg_url: str) -> None:
    Store.open(pg_url).close()
    schema = pg_url.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(postgres.ADMIN_URL.replace("+psycopg", "")) as holder:
        holder.execute(f'LOCK TABLE "{schema}".jobs IN ACCESS EXCLUSIVE MODE')
        said = refusal(pg_url)
        holder.rollback()
    url = make_url(pg_url)
    assert f"no write lock on jobs at {url.host}:{url.port}/{url.database} within " in said
    assert f" within {SHORT_WAIT:g} s: a long transaction or a migration holds it" in said


def test_an_unreachable_postgresql_is_named() -> None:
    said = refusal("postgresql+psycopg://postgres@127.0.0.1:9/test")  # nothing listens on 9
    assert said.startswith("cannot reach PostgreSQL at 127.0.0.1:9/test (")
    assert said.endswith("start it, or fix [storage] database_url")


# -- /readyz -----------------------------------------------------------------------------


def _services(tmp_path: Path, **tables: object) -> Services:
    config = write_config(tmp_path / "quittance.toml", **tables)  # type: ignore[arg-type]
    return Services.from_settings(load_settings(config, environ={}))


def test_readyz_is_ready_with_a_writable_database_and_archive(tmp_path: Path) -> None:
    svc = _services(tmp_path)
    try:
        answer = TestClient(create_ops_app(svc)).get("/readyz")
    finally:
        svc.close()
    assert (answer.status_code, answer.json()) == (200, {"status": "ready"})


def test_readyz_stays_ready_while_smtp_and_the_shop_are_down(tmp_path: Path) -> None:
    # nothing listens on port 9: an SMTP outage, a shop unreachable
    shop = {
        "name": "theiere",
        "platform": "woocommerce",
        "url": "http://127.0.0.1:9",
        "consumer_key": "ck_x",
        "consumer_secret": "cs_x",
        "webhook_secret": "whsec_x",
    }
    svc = _services(tmp_path, smtp_port=9, shops=[shop])
    try:
        answer = TestClient(create_ops_app(svc)).get("/readyz")
    finally:
        svc.close()
    assert (answer.status_code, answer.json()) == (200, {"status": "ready"})


def test_readyz_answers_503_naming_a_full_archive_disk(tmp_path: Path, tiny_disk: Path) -> None:
    svc = _services(tmp_path, archive_dir=tiny_disk / "archive")
    try:
        svc.archive.check_writable()  # the folder exists before the disk fills
        fill(tiny_disk)
        answer = TestClient(create_ops_app(svc)).get("/readyz")
    finally:
        svc.close()
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "not ready",
        "problems": [
            f"archive: 0 MB free on {tiny_disk / 'archive'}, below [storage] "
            "archive_min_free_mb = 200: free some space or grow the disk"
        ],
    }


def test_readyz_answers_503_naming_a_read_only_database(tmp_path: Path) -> None:
    svc = _services(tmp_path)
    path = tmp_path / "q.db"
    svc.store.close()
    svc.store = Store.open(f"sqlite:///file:{path}?mode=ro&uri=true", migrate=False)
    try:
        answer = TestClient(create_ops_app(svc)).get("/readyz")
    finally:
        svc.close()
    assert answer.status_code == 503
    [problem] = answer.json()["problems"]
    assert problem.startswith(f"database: the SQLite file {path} is read-only")


def test_readyz_names_a_full_disk_under_the_sqlite_file(tmp_path: Path, tiny_disk: Path) -> None:
    svc = _services(
        tmp_path, database_url=f"sqlite:///{tiny_disk / 'q.db'}", storage={"archive_min_free_mb": 1}
    )
    try:
        fill(tiny_disk)
        problems = default_readiness(svc)
    finally:
        svc.close()
    assert problems == [
        f"database: 0 MB free on {tiny_disk}, below [storage] archive_min_free_mb = 1: free some "
        "space or grow the disk (the SQLite file's disk)"
    ]
