"""Apply the Alembic migrations shipped inside the package, safely from many processes.

On PostgreSQL the service may run as a role that owns nothing (deploy/postgres-roles.sql,
docs/POSTGRESQL.md): such a role can never run a migration, so a database already at head
is opened without any DDL (the version check only reads `alembic_version`), and one behind
head is refused with `SchemaVersionError`, which says who must run `quittance migrate`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from bridge.store.engine import writer
from bridge.store.errors import StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any constant bigint: every `Store.open` on one PostgreSQL database queues on it, so workers
# started together on a fresh schema do not race each other's CREATE TABLE.
_PG_MIGRATION_LOCK = 0x5155_4954_5441_4E43 & 0x7FFF_FFFF_FFFF_FFFF  # "QUITTANC"

# PostgreSQL's SQLSTATE for "permission denied" / "must be owner of …".
_INSUFFICIENT_PRIVILEGE = "42501"

# The setting's environment variable (bridge/config: prefix QUITTANCE_, "__" between the
# section and the key), spelled out here because the store does not import the config.
_URL_ENV = "QUITTANCE_STORAGE__DATABASE_URL"

Revisions = tuple[str, ...]


class SchemaVersionError(StoreError):
    """The database is not at the revision this version needs, and this connection cannot
    (or must not) change that: the message names the revisions and the fix."""


def alembic_config() -> Config:
    cfg = Config()
    # An absolute path works in a checkout, an editable install and an installed wheel alike.
    # ConfigParser interpolates "%", hence the escaping.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return cfg


def head_revisions() -> Revisions:
    """The revision(s) this version of Quittance needs."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revisions(engine: Engine) -> Revisions:
    """The database's revision(s); () for an empty database. Reads only."""
    with engine.connect() as conn:
        return _read_revisions(conn)


def upgrade_to_head(engine: Engine) -> None:
    """What `Store.open` runs: see `migrate`."""
    migrate(engine)


def migrate(engine: Engine, target: str = "head") -> tuple[Revisions, Revisions]:
    """Bring the database to `target` inside ONE write transaction that first takes the
    migration lock; return its revisions (before, after).

    PostgreSQL: a transaction-scoped advisory lock, released by the commit. SQLite: the
    BEGIN IMMEDIATE of the writer engine already is the database-wide lock. Alembic runs on
    our connection (it sees the open transaction and does not manage its own), so the
    version check happens under the lock and the DDL commits atomically with the version.
    A database already at `target` is left alone: no Alembic command, no DDL, so a role
    that may only read `alembic_version` opens it.
    """
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    with writer(engine).begin() as conn:
        if _is_pg(conn):
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        before = _read_revisions(conn)
        wanted = _resolve(script, target)
        if before == wanted:
            return before, before
        _refuse_unknown(script, before, wanted)
        # Worded before trying: after a refused statement the transaction can run no query.
        advice = _behind_message(conn, before, wanted) if _is_pg(conn) else ""
        if not _may_migrate(conn):
            raise SchemaVersionError(advice)
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, target)
        except DBAPIError as exc:
            if _sqlstate(exc) != _INSUFFICIENT_PRIVILEGE:
                raise
            # The pre-check passed but a statement needed more (a table owned by yet
            # another role): the same advice, plus what the server said.
            said = f" (PostgreSQL said: {_first_line(exc.orig)})"
            raise SchemaVersionError(advice + said) from exc
        return before, _read_revisions(conn)


def describe(revisions: Revisions) -> str:
    """`0004`, or what an empty database is at, for messages."""
    return ", ".join(revisions) if revisions else "none (empty database)"


def _database_is_at(revisions: Revisions) -> str:
    if not revisions:
        return "the database is empty (no revision yet)"
    return f"the database is at revision {describe(revisions)}"


def _resolve(script: ScriptDirectory, target: str) -> Revisions:
    if target == "head":
        return tuple(sorted(script.get_heads()))
    revision = script.get_revision(target)
    return (revision.revision,) if revision is not None else ()


def _read_revisions(conn: Connection) -> Revisions:
    try:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    except DBAPIError as exc:
        if _sqlstate(exc) != _INSUFFICIENT_PRIVILEGE:
            raise
        user = conn.exec_driver_sql("SELECT current_user").scalar_one()
        raise SchemaVersionError(
            f"the role {user} may not read the table alembic_version (the schema's "
            f"revision, checked on every start): grant it SELECT, as deploy/postgres-roles.sql "
            f"does (docs/POSTGRESQL.md)"
        ) from exc


def _refuse_unknown(script: ScriptDirectory, before: Revisions, wanted: Revisions) -> None:
    """A revision this version does not ship: a newer version migrated the database."""
    for revision in before:
        try:
            known = script.get_revision(revision) is not None
        except CommandError:
            known = False
        if not known:
            raise SchemaVersionError(
                f"{_database_is_at(before)}, which this version of "
                f"Quittance (revision {describe(wanted)}) does not know: a newer version "
                f"migrated it; upgrade Quittance here too"
            )


def _may_migrate(conn: Connection) -> bool:
    """PostgreSQL: is this role the owner of the schema's tables (or a superuser)? Only an
    owner can ALTER them; asking first keeps a service role from attempting DDL at all."""
    if not _is_pg(conn):
        return True
    owns = conn.execute(
        text(
            "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class "
            "WHERE oid = to_regclass('alembic_version')"
        )
    ).first()
    if owns is not None:
        return bool(owns[0])
    # An empty schema: whoever may create in it may migrate it. NULL (no schema on the
    # search_path): let Alembic try and say so itself.
    may_create = conn.execute(
        text("SELECT has_schema_privilege(current_schema(), 'CREATE')")
    ).scalar()
    return may_create is not False


def _behind_message(conn: Connection, before: Revisions, wanted: Revisions) -> str:
    user = conn.exec_driver_sql("SELECT current_user").scalar_one()
    owner_url = _owner_url(conn.engine.url, _owner_role(conn))
    return (
        f"{_database_is_at(before)} and this version of Quittance "
        f"needs {describe(wanted)}, but the role {user} may not change the schema: run "
        f"`quittance migrate` as the owner role first ({_URL_ENV}={owner_url} "
        f"quittance migrate), then start the service again (docs/POSTGRESQL.md)"
    )


def _owner_role(conn: Connection) -> str | None:
    """Who owns the version table (else the schema): the role that runs migrations."""
    row = conn.execute(
        text(
            "SELECT pg_get_userbyid(relowner) FROM pg_class "
            "WHERE oid = to_regclass('alembic_version') "
            "UNION ALL "
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = current_schema()"
        )
    ).first()
    return row[0] if row is not None else None


def _owner_url(url: URL, owner: str | None) -> str:
    """This connection's URL as the owner would write it: other user, no password."""
    query = {k: v for k, v in url.query.items() if "password" not in k.lower()}
    shown = url.set(
        drivername="postgresql", username=owner or "<owner role>", password=None, query=query
    )
    return shown.render_as_string(hide_password=False)


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _first_line(error: BaseException | None) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
