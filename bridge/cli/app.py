"""What every `quittance` command shares: the Typer app, the consoles, the `--config` and
`--shop` options, and loading settings or services (exit 2 with the problems listed).

Exit codes: 0 ok, 1 the command ran and found a problem (quarantine, verify failure),
2 bad configuration or usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bridge.config import ConfigError, Settings

app = typer.Typer(
    help="Quittance: paid shop orders → archived, emailed factures acquittées.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
# soft_wrap: never break a line at the terminal width: paths and numbers must stay whole when
# piped (`quittance issue … | cut -f2`). Tables still fit the terminal.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $QUITTANCE_CONFIG).",
        envvar="QUITTANCE_CONFIG",
        show_envvar=True,
    ),
]


def settings_or_exit(config: Path | None) -> Settings:
    from bridge.services import load_process_settings  # lazy: start-up speed

    try:
        return load_process_settings(config)
    except ConfigError as exc:
        err_console.print(f"[bold red]Configuration error[/]\n{exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None


def services_for(config: Path | None):  # -> Services (import kept lazy: start-up speed)
    from bridge.services import Services
    from bridge.store.migrate import SchemaVersionError

    settings = settings_or_exit(config)
    try:
        return Services.from_settings(settings)
    except SchemaVersionError as exc:  # the schema is behind and this role may not migrate
        err_console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None


def shop_or_exit(svc, shop: str):  # -> ShopConfig
    config = svc.settings.shop(shop)
    if config is None:
        names = ", ".join(s.name for s in svc.settings.shops) or "none configured"
        err_console.print(f"no enabled shop named {shop!r} (shops: {names})")
        raise typer.Exit(2)
    return config


ShopOption = Annotated[str, typer.Option("--shop", help="The shop's `name` in [[shops]].")]


def main() -> None:  # pragma: no cover - console entry point alias
    app()
