"""PostgreSQL with two roles (deploy/postgres-roles.sql, docs/POSTGRESQL.md): the owner runs
the migrations, the service runs as a role that owns nothing and so cannot switch off, drop or
get around the triggers that keep issued invoices immutable.

Each test session creates its own roles and databases (unique names, so reruns and parallel
runs never collide) by running the real script with psql, as the docs tell the owner to, and
drops them all at the end.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from bridge.cli import app
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store import InvoiceImmutableError, Store
from bridge.store.engine import create_store_engine
from bridge.store.migrate import SchemaVersionError, head_revisions, migrate
from bridge.worker import work
from tests.support import postgres
from tests.support.config import settings_for, write_config
from tests.support.hook import Hook
from tests.support.orders import orders_by_id
from tests.support.paths import ROOT
from tests.support.smtp import SMTPServer
from tests.support.snapshots import issue

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]

ROLES_SCRIPT = ROOT / "deploy" / "postgres-roles.sql"
# A revision older than any head this suite will meet: "a database behind head".
OLD_REVISION = "0003"


@dataclass
class Cluster:
    """This session's two roles, and the databases the script made for them."""

    owner: str
    app: str
    databases: list[str] = field(default_factory=list)

    def url(self, role: str, database: str) -> str:
        parsed = make_url(postgres.ADMIN_URL).set(username=role, password=None, database=database)
        return parsed.render_as_string(hide_password=False)

    def new_database(self) -> str:
        """A database made by the roles script, nothing migrated in it yet."""
        name = f"q_roles_{uuid.uuid4().hex[:10]}"
        self.databases.append(name)
        run_roles_script(owner=self.owner, app=self.app, dbname=name)
        return name


def run_roles_script(**variables: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not on PATH: the roles script is a psql script (docs/POSTGRESQL.md)")
    args = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", _libpq(postgres.ADMIN_URL)]
    for name, value in variables.items():
        args += ["-v", f"{name}={value}"]
    done = subprocess.run(
        [*args, "-f", str(ROLES_SCRIPT)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def _libpq(url: str) -> str:
    return url.replace("+psycopg", "")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    suffix = uuid.uuid4().hex[:10]
    roles = Cluster(owner=f"q_owner_{suffix}", app=f"q_app_{suffix}")
    try:
        yield roles
    finally:
        _drop(roles)


def _drop(roles: Cluster) -> None:
    """Databases first (what the roles own lives in them), then what is left, then roles."""
    with psycopg.connect(_libpq(postgres.ADMIN_URL), autocommit=True) as conn:
        for name in roles.databases:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in (roles.app, roles.owner):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            if exists:
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')


@pytest.fixture(scope="session")
def database(cluster: Cluster) -> str:
    """One database at head, migrated by the owner role (shared: the refusals change nothing)."""
    name = cluster.new_database()
    _migrate(cluster.url(cluster.owner, name))
    return name


@pytest.fixture
def app_url(cluster: Cluster, database: str) -> str:
    return cluster.url(cluster.app, database)


@pytest.fixture
def as_app(cluster: Cluster, database: str) -> Iterator[psycopg.Connection]:
    """A raw connection as the service role: what someone holding its credentials has."""
    with psycopg.connect(_libpq(cluster.url(cluster.app, database)), autocommit=True) as conn:
        yield conn


@pytest.fixture
def behind(cluster: Cluster) -> str:
    """A fresh database the owner migrated to an old revision only."""
    name = cluster.new_database()
    _migrate(cluster.url(cluster.owner, name), OLD_REVISION)
    return name


def _migrate(url: str, target: str = "head") -> None:
    engine = create_store_engine(url)
    try:
        migrate(engine, target)
    finally:
        engine.dispose()


def _migrate_cli(tmp_path: Path, url: str) -> tuple[int, str]:
    """`quittance migrate`, the database URL given by the environment as the docs say."""
    config = write_config(tmp_path / "quittance.toml", archive_dir=tmp_path / "archive")
    env = {"QUITTANCE_STORAGE__DATABASE_URL": url}
    result = CliRunner().invoke(app, ["migrate", "-c", str(config)], env=env)
    structlog.reset_defaults()  # the CLI pointed structlog at the runner's closed stderr
    return result.exit_code, " ".join(result.output.split())


def _refused(conn: psycopg.Connection, sql: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql)  # type: ignore[arg-type]


# -- the service works -----------------------------------------------------------------------


def test_the_service_role_issues_an_invoice_end_to_end(
    app_url: str, tmp_path: Path, smtp: SMTPServer, hook: Hook
) -> None:
    settings = settings_for(tmp_path, app_url, smtp_port=smtp.port, alert_url=hook.url)
    svc = Services.from_settings(settings)
    try:
        assert submit_order(svc, orders_by_id()["1001"]) is not None
        work(svc, once=True)  # issue, render (sets the PDF's hash), email
        [invoice] = [inv for inv in svc.store.iter_invoices() if inv.order_id == "1001"]
        assert invoice.pdf_sha256
        assert svc.archive.path_for(invoice.pdf_sha256).is_file()
        assert len(smtp.received) == 1
    finally:
        svc.close()


# -- what the service role cannot do ---------------------------------------------------------


def test_the_service_role_cannot_disable_the_invoice_triggers(as_app: psycopg.Connection) -> None:
    _refused(as_app, "ALTER TABLE invoices DISABLE TRIGGER ALL")


def test_the_service_role_cannot_disable_any_trigger(as_app: psycopg.Connection) -> None:
    # Whatever triggers the migrations have added, on whichever table.
    triggers = as_app.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
    ).fetchall()
    assert ("invoices", "invoices_immutable") in triggers
    for table, trigger in triggers:
        _refused(as_app, f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"')


def test_the_service_role_cannot_drop_the_immutability_trigger(
    as_app: psycopg.Connection,
) -> None:
    _refused(as_app, "DROP TRIGGER invoices_immutable ON invoices")


@pytest.mark.parametrize("table", ["invoices", "events"])
def test_the_service_role_cannot_truncate(as_app: psycopg.Connection, table: str) -> None:
    _refused(as_app, f"TRUNCATE {table}")


def test_the_service_role_cannot_skip_triggers_with_session_replication_role(
    as_app: psycopg.Connection,
) -> None:
    _refused(as_app, "SET session_replication_role = replica")


@pytest.mark.parametrize("name", ["sneaky", "public.sneaky"])
def test_the_service_role_cannot_create_tables(as_app: psycopg.Connection, name: str) -> None:
    _refused(as_app, f"CREATE TABLE {name} (id int)")


def test_the_service_role_cannot_change_the_recorded_revision(
    as_app: psycopg.Connection,
) -> None:
    # Else it could mark a future (security) migration as done without it having run.
    _refused(as_app, "UPDATE alembic_version SET version_num = '9999'")


def test_the_service_role_is_no_superuser_and_no_member_of_the_owner(
    cluster: Cluster, as_app: psycopg.Connection
) -> None:
    row = as_app.execute(
        "SELECT rolsuper, rolreplication, rolbypassrls, pg_has_role(current_user, %s, 'MEMBER')"
        " FROM pg_roles WHERE rolname = current_user",
        [cluster.owner],
    ).fetchone()
    assert row == (False, False, False, False)


def test_the_trigger_still_refuses_a_snapshot_update_by_the_service_role(app_url: str) -> None:
    with Store.open(app_url) as store:
        invoice = issue(store, f"roles-{uuid.uuid4().hex[:8]}").invoice
        with pytest.raises(InvoiceImmutableError), store.engine.begin() as conn:
            conn.execute(
                text("UPDATE invoices SET snapshot = '{}' WHERE id = :id"), {"id": invoice.id}
            )
        assert store.get_invoice_by_id(invoice.id) == invoice


# -- set-up and upgrades ---------------------------------------------------------------------


def test_the_roles_script_grants_on_tables_that_already_exist(cluster: Cluster) -> None:
    # Tables that predate the script (an install moved to two roles): the GRANT … ON ALL
    # TABLES path, not the default privileges.
    database = cluster.new_database()
    with psycopg.connect(_libpq(cluster.url(cluster.owner, database)), autocommit=True) as conn:
        conn.execute("CREATE TABLE jobs_before (id int)")
    run_roles_script(owner=cluster.owner, app=cluster.app, dbname=database)
    with psycopg.connect(_libpq(cluster.url(cluster.app, database)), autocommit=True) as conn:
        conn.execute("INSERT INTO jobs_before VALUES (1)")
        assert conn.execute("SELECT id FROM jobs_before").fetchall() == [(1,)]


def test_a_database_behind_head_refuses_the_service_role_and_names_the_fix(
    cluster: Cluster, behind: str
) -> None:
    with pytest.raises(SchemaVersionError) as refused:
        Store.open(cluster.url(cluster.app, behind))
    message = str(refused.value)
    assert f"at revision {OLD_REVISION}" in message
    assert f"needs {', '.join(head_revisions())}" in message
    assert "run `quittance migrate` as the owner role" in message
    owner_url = f"QUITTANCE_STORAGE__DATABASE_URL=postgresql://{cluster.owner}@"
    assert owner_url in message


def test_quittance_migrate_as_the_owner_lets_the_service_role_open_it(
    cluster: Cluster, behind: str, tmp_path: Path
) -> None:
    code, output = _migrate_cli(tmp_path, cluster.url(cluster.owner, behind))
    assert code == 0, output
    assert f"revision {OLD_REVISION} -> {', '.join(head_revisions())}" in output
    with Store.open(cluster.url(cluster.app, behind)) as store:
        assert store.dialect == "postgresql"


def test_quittance_migrate_as_the_service_role_exits_with_the_fix(
    cluster: Cluster, behind: str, tmp_path: Path
) -> None:
    code, output = _migrate_cli(tmp_path, cluster.url(cluster.app, behind))
    assert code == 2
    assert "as the owner role" in output
