"""Apply the Alembic migrations shipped inside the package, safely from many processes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from bridge.store.engine import writer

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any constant bigint: every `Store.open` on one PostgreSQL database queues on it, so workers
# started together on a fresh schema do not race each other's CREATE TABLE.
_PG_MIGRATION_LOCK = 0x5155_4954_5441_4E43 & 0x7FFF_FFFF_FFFF_FFFF  # "QUITTANC"


def alembic_config() -> Config:
    cfg = Config()
    # An absolute path works in a checkout, an editable install and an installed wheel alike.
    # ConfigParser interpolates "%", hence the escaping.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return cfg


def upgrade_to_head(engine: Engine) -> None:
    """Migrate inside ONE write transaction that first takes the migration lock.

    PostgreSQL: a transaction-scoped advisory lock, released by the commit. SQLite: the
    BEGIN IMMEDIATE of the writer engine already is the database-wide lock. Alembic runs on
    our connection (it sees the open transaction and does not manage its own), so the
    version check happens under the lock and the DDL commits atomically with the version.
    """
    cfg = alembic_config()
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
