"""`quittance demo`: the whole bridge on bundled sample orders, on a fresh local work folder.

The demo never touches the shop's real database: its numbering, archive and outbox live in
their own folder (default `var/demo/`) that is wiped at each run, so demo invoices can never
take numbers in a real series.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bridge.config import Settings, load_settings
from bridge.logs import configure_logging
from bridge.model import Order

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
DEMO_CONFIG = SAMPLES_DIR / "demo.toml"


def sample_orders() -> list[tuple[Path, Order]]:
    return [
        (path, Order.model_validate_json(path.read_bytes()))
        for path in sorted(SAMPLES_DIR.glob("*.json"))
    ]


def write_demo_config(workdir: Path) -> Path:
    """The demo's own config file, so every `quittance` command can be pointed at it."""
    workdir = workdir.resolve()
    path = workdir / "quittance.toml"
    path.write_text(
        DEMO_CONFIG.read_text(encoding="utf-8")
        + "\n[storage]\n"
        + f'database_url = "sqlite:///{workdir / "quittance.db"}"\n'
        + f'archive_dir = "{workdir / "archive"}"\n'
        + '\n[logging]\nlevel = "WARNING"\n',
        encoding="utf-8",
    )
    return path


def demo_settings(workdir: Path) -> Settings:
    return load_settings(write_demo_config(workdir), environ={})


def run_demo(workdir: Path, console: Console) -> int:
    from bridge.pipeline import Outcome, Services, accept_order, ensure_pdf, verify_archive

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    settings = demo_settings(workdir)
    configure_logging("WARNING", "console")
    svc = Services.from_settings(settings)
    table = Table(title="Quittance demo — sample orders through the bridge")
    for column in ("order", "customer", "outcome", "invoice", "total", "PDF / reason"):
        table.add_column(column, overflow="fold")
    try:
        for _path, order in sample_orders():
            result = accept_order(svc, order)
            who = order.customer.display_name
            total = f"{order.total} {order.currency}"
            if result.outcome is Outcome.quarantined:
                table.add_row(
                    order.display_reference,
                    who,
                    "[red]quarantined[/]",
                    "—",
                    total,
                    "; ".join(result.reasons),
                )
                continue
            assert result.invoice is not None
            ensure_pdf(svc, result.invoice)
            table.add_row(
                order.display_reference,
                who,
                "[green]issued[/]",
                result.invoice.number,
                total,
                str(svc.archive.alias_for(result.invoice.number)),
            )
        checked, problems = verify_archive(svc.store, svc.archive)
    finally:
        svc.close()
    console.print(table)
    console.print(
        f"\nVerified {checked} invoice(s): "
        + ("[green]every PDF and chain link intact[/]" if not problems else "[red]problems![/]")
    )
    console.print(
        f"\nWhere to look:\n"
        f"  PDFs            {workdir / 'archive' / 'by-number'}/\n"
        f"  database        {workdir / 'quittance.db'} (SQLite)\n"
        f"  re-render       .venv/bin/quittance render NUMBER --out /tmp/x.pdf "
        f"--config {workdir / 'quittance.toml'}\n"
        f"  verify          .venv/bin/quittance verify --config {workdir / 'quittance.toml'}\n"
        f"  your own config cp config.example.toml quittance.toml, then see README.md"
    )
    return 1 if problems else 0
