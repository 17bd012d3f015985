"""`quittance admin add-user|users|disable-user`: the dashboard's accounts. Made here only,
never from the dashboard: a stolen session must not be able to make itself an owner."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from bridge.cli.app import ConfigOption, app, console, err_console, services_for

admin_app = typer.Typer(help="The owner's dashboard accounts.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")

NameArgument = Annotated[str, typer.Argument(help="The user name, e.g. marie.")]


@admin_app.command("add-user")
def add_user_command(
    name: NameArgument,
    role: Annotated[
        str, typer.Option("--role", help="owner (everything) or accountant (read and export).")
    ] = "owner",
    language: Annotated[str, typer.Option("--language", help="fr or en.")] = "fr",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Create a dashboard account, or give an existing one a new password and role (its
    sessions end). Without --password-stdin a password is asked for twice at the terminal,
    or made up and printed once when there is no terminal.

    Example: `quittance admin add-user compta --role accountant`
    """
    from bridge.dashboard.accounts import add_user, new_password
    from bridge.dashboard.passwords import AccountError

    password, made_up = _password(password_stdin)
    if password is None:
        password, made_up = new_password(), True
    svc = services_for(config)
    try:
        created = add_user(svc.store, name, password, role, language)
    except AccountError as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    finally:
        svc.close()
    what = "created" if created else "updated (its sessions are over)"
    console.print(f"account {escape(name.strip().lower())} {what}", highlight=False)
    if made_up:
        console.print(f"password: {password}", highlight=False, markup=False)
    console.print(f"sign in at {svc.settings.dashboard.address()}", highlight=False)


@admin_app.command("users")
def users_command(config: ConfigOption = None) -> None:
    """List the dashboard accounts.

    Example: `quittance admin users`
    """
    svc = services_for(config)
    try:
        users = svc.store.dashboard_users()
    finally:
        svc.close()
    if not users:
        console.print("no account yet: `quittance admin add-user NAME`")
        return
    for user in users:
        state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
        console.print(
            f"{user.username}  {user.role}  {user.locale}  {state}  "
            f"created {user.created_at:%Y-%m-%d}",
            highlight=False, markup=False,
        )  # fmt: skip


@admin_app.command("disable-user")
def disable_user_command(name: NameArgument, config: ConfigOption = None) -> None:
    """Stop an account signing in (its sessions end at once); `add-user` enables it again.

    Example: `quittance admin disable-user ancien-stagiaire`
    """
    svc = services_for(config)
    try:
        done = svc.store.disable_dashboard_user(name.strip().lower())
    finally:
        svc.close()
    if not done:
        err_console.print(f"no account named {name!r} (see `quittance admin users`)")
        raise typer.Exit(1)
    console.print(f"account {escape(name)} disabled", highlight=False)


def _password(from_stdin: bool) -> tuple[str | None, bool]:
    """(password, made up?): from stdin, or asked twice at a terminal, or None (make one)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if not sys.stdin.isatty():
        return None, True
    first = typer.prompt("password (12 characters or more)", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        err_console.print("the two passwords differ: nothing changed")
        raise typer.Exit(2)
    return first, False
