"""`quittance run`, `doctor`, `demo`, `migrate`: the service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bridge.cli.app import (
    ConfigOption,
    app,
    console,
    err_console,
    services_for,
    settings_or_exit,
)


@app.command("run")
def run_command(
    config: ConfigOption = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Worker processes (default: CPU cores).")
    ] = -1,
    host: Annotated[str | None, typer.Option(help="Override [server] host.")] = None,
    port: Annotated[int | None, typer.Option(help="Override [server] port.")] = None,
) -> None:
    """The production service: webhooks, scheduled polling and job workers.

    Example: `quittance run -c quittance.toml --workers 2` (SIGTERM stops it cleanly).
    """
    import os

    from bridge.render import TemplateCheckError
    from bridge.service import run_service
    from bridge.store.migrate import SchemaVersionError

    settings = settings_or_exit(config)
    count = workers if workers >= 0 else (os.cpu_count() or 1)
    try:
        code = run_service(settings, config, workers=count, host=host, port=port)
    except (TemplateCheckError, SchemaVersionError) as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command("doctor")
def doctor_command(config: ConfigOption = None) -> None:
    """Check config, database, archive, SMTP login, each shop's credentials and webhooks, and
    that the public URL reaches this service. Exit 1 if anything is wrong.

    Example: `quittance doctor -c quittance.toml`
    """
    from bridge.ops import doctor_checks

    svc = services_for(config)
    try:
        checks = doctor_checks(svc)
    finally:
        svc.close()
    for check in checks:
        mark = "[green]ok[/]  " if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}", highlight=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@app.command("demo")
def demo_command(
    workdir: Annotated[
        Path, typer.Option(help="Where the demo keeps its database, archive and outbox.")
    ] = Path("var/demo"),
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the service and sandboxes up.")
    ] = False,
) -> None:
    """Run the bridge end to end on the bundled sample orders (no network needed).

    Example: `quittance demo` (what `make demo` runs).
    """
    from bridge.demo import run_demo

    raise typer.Exit(run_demo(workdir, console, keep_running=keep_running))


@app.command("migrate")
def migrate_command(config: ConfigOption = None) -> None:
    """Bring the database schema to this version (before starting the upgraded service).

    On PostgreSQL run it as the owner role, the service's role may not change the schema:
    `QUITTANCE_STORAGE__DATABASE_URL=postgresql://quittance_owner@db/quittance quittance
    migrate -c quittance.toml` (docs/POSTGRESQL.md).
    """
    from bridge.settings_types import redact_url
    from bridge.store.engine import create_store_engine
    from bridge.store.migrate import SchemaVersionError, describe, migrate

    url = settings_or_exit(config).storage.database_url
    console.print(f"database: {escape(redact_url(url))}", highlight=False)
    engine = create_store_engine(url)
    try:
        before, after = migrate(engine)
    except SchemaVersionError as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if before == after:
        console.print(f"already at revision {describe(after)}", highlight=False)
    else:
        console.print(f"revision {describe(before)} -> {describe(after)}", highlight=False)
