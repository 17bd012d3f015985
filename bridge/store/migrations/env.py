"""Alembic environment: runs on the connection `bridge.store.migrate` hands over.

For development (`alembic -x url=... revision --autogenerate`), a URL may be given instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bridge.store.engine import create_store_engine, writer
from bridge.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: future migrations must copy-and-move tables.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no connection: use bridge.store.migrate or pass -x url=...")
    engine = create_store_engine(url)
    try:
        with writer(engine).connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_migrations_online()
