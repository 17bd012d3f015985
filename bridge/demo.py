"""`quittance demo`: the whole bridge on bundled sample orders, on a fresh local work folder.

The demo never touches the shop's real database: its numbering, archive and outbox live in
their own folder (default `var/demo/`) that is wiped at each run, so demo invoices can never
take numbers in a real series.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bridge.config import load_settings
from bridge.logs import configure_logging
from bridge.model import Order

if TYPE_CHECKING:
    from bridge.pipeline import Services

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
DEMO_CONFIG = SAMPLES_DIR / "demo.toml"


def sample_orders() -> list[tuple[Path, Order]]:
    return [
        (path, Order.model_validate_json(path.read_bytes()))
        for path in sorted(SAMPLES_DIR.glob("*.json"))
    ]


def write_demo_config(workdir: Path, smtp_port: int) -> Path:
    """The demo's own config file, so every `quittance` command can be pointed at it."""
    workdir = workdir.resolve()
    path = workdir / "quittance.toml"
    path.write_text(
        DEMO_CONFIG.read_text(encoding="utf-8")
        + f"""
[storage]
database_url = "sqlite:///{workdir / "quittance.db"}"
archive_dir = "{workdir / "archive"}"

[email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "bonjour@latheiere.example.fr"
from_name = "La Théière"
reply_to = "bonjour@latheiere.example.fr"

[logging]
level = "WARNING"
""",
        encoding="utf-8",
    )
    return path


def run_demo(workdir: Path, console: Console) -> int:
    from bridge.devsmtp import CaptureSMTPServer
    from bridge.pipeline import Services, submit_order, verify_archive
    from bridge.worker import work

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    outbox = workdir / "outbox"
    configure_logging("WARNING", "console")
    with CaptureSMTPServer(outbox) as smtp:
        config_path = write_demo_config(workdir, smtp.port)
        svc = Services.from_settings(load_settings(config_path, environ={}))
        try:
            orders = [order for _path, order in sample_orders()]
            for order in orders:
                submit_order(svc, order)
            console.print(
                f"{len(orders)} sample orders submitted; worker running "
                f"(SMTP capture on 127.0.0.1:{smtp.port})…"
            )
            processed = work(svc, once=True)
            table = _results_table(svc, orders, workdir)
            checked, problems = verify_archive(svc.store, svc.archive)
            counts = svc.store.job_counts()
        finally:
            svc.close()
    console.print(table)
    console.print(
        f"{processed} jobs run: "
        + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        + f". {len(smtp.received)} email(s) captured."
    )
    console.print(
        f"Verified {checked} invoice(s): "
        + ("[green]every PDF and chain link intact[/]" if not problems else "[red]problems![/]")
    )
    cfg = workdir / "quittance.toml"
    console.print(
        "\nWhere to look:\n"
        f"  PDFs      {workdir / 'archive' / 'by-number'}/\n"
        f"  emails    {outbox}/*.eml (open them in a mail client)\n"
        f"  database  {workdir / 'quittance.db'} (SQLite)\n"
        "Explore further:\n"
        f"  .venv/bin/quittance failures -c {cfg}\n"
        f"  .venv/bin/quittance verify -c {cfg}\n"
        f"  .venv/bin/quittance render FA-{_year(svc)}-000001 --out /tmp/copy.pdf -c {cfg}\n"
        f"  .venv/bin/quittance check-invoice FA-{_year(svc)}-000001 -c {cfg}\n"
        "  your own shop: cp config.example.toml quittance.toml, then see README.md"
    )
    return 1 if problems else 0


def _year(svc: Services) -> int:
    return svc.store.clock().year


def _results_table(svc: Services, orders: list[Order], workdir: Path) -> Table:
    table = Table(title="Quittance demo — sample orders through the durable pipeline")
    for column in ("order", "customer", "total", "invoice", "PDF", "email"):
        table.add_column(column, overflow="fold")
    email_jobs = {
        (job.shop, job.order_id): job
        for job in svc.store.list_jobs(states=("done", "skipped", "dead", "retry"))
        if job.kind == "email"
    }
    for order in orders:
        total = f"{order.total} {order.currency}"
        who = order.customer.display_name
        record = svc.store.get_order(order.shop, order.order_id)
        invoice = svc.store.get_invoice_for_order(order.shop, order.order_id)
        if invoice is None:
            reason = record.reason if record and record.reason else "not issued"
            table.add_row(order.display_reference, who, total, "[red]quarantined[/]", "—", reason)
            continue
        pdf = svc.archive.alias_for(invoice.number)
        job = email_jobs.get((order.shop, order.order_id))
        if job is None:
            email = "pending"
        elif job.state == "done":
            email = "[green]sent[/]"
        else:
            email = f"[yellow]{job.state}[/]: {(job.last_error or '').split(':')[0]}"
        table.add_row(order.display_reference, who, total, invoice.number, pdf.name, email)
    return table
