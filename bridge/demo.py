"""`quittance demo`: the whole bridge, live, on this machine, in about 30 seconds.

It starts the WooCommerce and Shopify sandboxes (real HTTP servers speaking the platforms'
APIs), a local SMTP server that files every email in `<workdir>/outbox/`, and `quittance run`
against them with a generated config. The bundled sample orders (`bridge/samples/*.json`) go in
first; then the sandboxes pay orders over ~20 s — card, PayPal, a bank transfer marked paid,
a forged webhook, a duplicate delivery, webhooks lost and caught by polling — and the demo
ends with what happened and the commands to explore further.

The demo never touches a real database: everything lives in its own folder (default
`var/demo/`, wiped at each run), so demo invoices can never take numbers in a real series.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from rich.console import Console
from rich.table import Table

from bridge.config import load_settings
from bridge.demo_channels import DemoChannels
from bridge.demo_customers import DEMO_SURVEYS, customers_answer
from bridge.model import Order

if TYPE_CHECKING:
    from bridge.services import Services

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
DEMO_CONFIG = SAMPLES_DIR / "demo.toml"
DEMO_USER = "demo"
POLL_INTERVAL = 10
HUGO = {"first_name": "Hugo", "last_name": "Petit", "email": "hugo@example.fr",
        "phone": "06 98 76 54 32", "address_1": "5 rue Sainte-Catherine", "postcode": "33000",
        "city": "Bordeaux", "country": "FR"}  # fmt: skip
# What the demo's day ends with in the outbox: the invoices' emails and the credit notes'.
DEMO_EMAILS = 22


def sample_orders() -> list[tuple[Path, Order]]:
    return [
        (path, Order.model_validate_json(path.read_bytes()))
        for path in sorted(SAMPLES_DIR.glob("*.json"))
    ]


def write_demo_config(
    workdir: Path,
    smtp_port: int | None,
    *,
    http_port: int = 0,
    woo: object = None,
    shopify: object = None,
    database_url: str | None = None,
    poll_interval: int = POLL_INTERVAL,
    log_level: str = "INFO",
    dashboard_port: int = 0,
    extra: str = "",
) -> Path:
    """A complete local config (the demo seller, storage in `workdir`, the capture SMTP server,
    the sandboxes as shops) written to `workdir/quittance.toml`, so every `quittance` command
    can be pointed at it. Also what the benchmarks and end-to-end tests run on; `extra` is
    appended verbatim (e.g. a `[jobs]` table). `dashboard_port` 0: no dashboard (tests and
    benches run many services side by side)."""
    workdir = workdir.resolve()
    path = workdir / "quittance.toml"
    database_url = database_url or f"sqlite:///{workdir / 'quittance.db'}"
    text = (
        DEMO_CONFIG.read_text(encoding="utf-8")
        + f"""
[storage]
database_url = "{database_url}"
archive_dir = "{workdir / "archive"}"

[logging]
level = "{log_level}"
format = "json"

# Offline: never downloads; the bundled ECB rates carried forward past today (stand-in
# figures for the demo's orders paid today, see bridge/ecb_sandbox.py).
[currency]
refresh_url = ""
rates_file = "{_stand_in_rates(workdir)}"
"""
    )
    if smtp_port is not None:
        text += f"""
[email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "bonjour@latheiere.example.fr"
from_name = "La Théière"
reply_to = "bonjour@latheiere.example.fr"
"""
    if http_port:
        text += f"""
[server]
host = "127.0.0.1"
port = {http_port}
public_url = "http://127.0.0.1:{http_port}"
link_secret = "demo-link-secret-not-for-production"
"""
    text += f"""
[dashboard]
port = {dashboard_port}
"""
    if woo is not None:
        text += f"""
[[shops]]
name = "woo"
platform = "woocommerce"
url = "{woo.url}"
consumer_key = "{woo.consumer_key}"
consumer_secret = "{woo.consumer_secret}"
webhook_secret = "{woo.webhook_secret}"
poll_interval_seconds = {poll_interval}
"""
    if shopify is not None:
        text += f"""
[[shops]]
name = "shopify"
platform = "shopify"
domain = "{shopify.domain}"
access_token = "{shopify.token}"
client_secret = "demo-shopify-secret"
api_base_url = "{shopify.base_url}"
poll_interval_seconds = {poll_interval}
"""
    path.write_text(text + extra, encoding="utf-8")
    return path


def _stand_in_rates(workdir: Path) -> Path:
    from bridge.ecb_sandbox import write_carried_forward

    through = datetime.now(UTC).date() + timedelta(days=7)
    return write_carried_forward(workdir / "ecb" / "eurofxref-hist.zip", through)


def run_demo(workdir: Path, console: Console, *, keep_running: bool = False) -> int:
    from bridge.devsmtp import CaptureSMTPServer, free_port
    from bridge.pipeline import submit_order
    from bridge.services import Services
    from connectors.shopify.sandbox import ShopifySandbox
    from connectors.woocommerce.sandbox import WooSandbox

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    workdir = workdir.resolve()
    say = _narrator(console)
    woo = WooSandbox().start()  # seeded: card paid, bank transfer on hold, COD, PayPal paid
    shopify = ShopifySandbox(seed=False).start()
    _seed_shopify(shopify)
    channels = DemoChannels().start()  # a local Twilio, Zendesk and Intercom
    http_port, dashboard_port = free_port(), free_port()
    with CaptureSMTPServer(workdir / "outbox") as smtp:
        config = write_demo_config(
            workdir, smtp.port, http_port=http_port, woo=woo, shopify=shopify,
            dashboard_port=dashboard_port, extra=DEMO_SURVEYS + channels.config(),
        )  # fmt: skip
        svc = Services.from_settings(load_settings(config, environ={}))
        dashboard_password = demo_owner(svc)
        service: subprocess.Popen[bytes] | None = None
        try:
            samples = [order for _path, order in sample_orders()]
            for order in samples:
                submit_order(svc, order)
            say(f"{len(samples)} bundled sample orders queued (shop 'demo', bridge/samples/)")
            service = _start_service(config, workdir / "service.log")
            started = _wait_healthy(http_port, service)
            say(
                f"quittance run is up in {started:.1f} s on http://127.0.0.1:{http_port} "
                f"(2 workers); its first poll catches orders paid while it was down"
            )
            _play_the_day(say, woo, shopify, http_port)
            say(f"waiting for the next poll (every {POLL_INTERVAL} s) and the last emails…")
            _wait_until_quiet(svc, expected_emails=DEMO_EMAILS, smtp=smtp, timeout=60)
            customers_answer(say, [received.message() for received in smtp.received])
            _wait_until_quiet(svc, expected_emails=DEMO_EMAILS, smtp=smtp, timeout=30)
            channels.tell(say)
            console.print()
            console.print(_results_table(svc))
            from bridge.ops import status_tables

            for table in status_tables(svc):
                console.print(table)
            if keep_running:
                console.print(
                    _dashboard_line(svc.settings.dashboard.address(), dashboard_password),
                    highlight=False, markup=False, soft_wrap=True,
                )  # fmt: skip
                say("still running (--keep-running): Ctrl-C to stop")
                _wait_for_ctrl_c()
        finally:
            if service is not None:
                service.send_signal(signal.SIGTERM)
                service.wait(35)
            svc.close()
            woo.stop()
            shopify.stop()
            channels.stop()
    _where_to_look(console, workdir, len(list((workdir / "outbox").glob("*.eml"))))
    return 0


def _dashboard_line(address: str, password: str) -> str:
    """Where to sign in, once the dashboard answers there (its port may have been taken
    between choosing it and the service binding it)."""
    try:
        up = requests.get(f"{address}/healthz", timeout=5).ok
    except requests.RequestException:
        up = False
    if not up:
        return f"dashboard: not answering at {address}: see service.log"
    return f"dashboard: {address} (user {DEMO_USER}, password {password})"


def demo_owner(svc: Services) -> str:
    """The demo's owner account, with a password made up for this run (a demo left running
    on a shared machine is no open door)."""
    from bridge.dashboard.accounts import add_user, new_password

    password = new_password()
    add_user(svc.store, DEMO_USER, password, "owner", svc.settings.seller.default_locale)
    return password


def _narrator(console: Console) -> Callable[[str], None]:
    start = time.monotonic()

    def say(text: str) -> None:
        console.print(f"[dim]{time.monotonic() - start:5.1f}s[/] {text}", highlight=False)

    return say


def _seed_shopify(shopify: object) -> None:
    from connectors.shopify.sandbox_orders import Item, Shipping, build_order

    recent = datetime.now(UTC) - timedelta(minutes=45)
    lea = {"firstName": "Léa", "lastName": "Dubois", "email": "lea@bureau.example.fr"}
    emily = {"firstName": "Emily", "lastName": "Clarke", "email": "emily@example.ie"}
    shopify.add_order(  # type: ignore[attr-defined]
        build_order(
            5001, "#S1001",
            [Item("Thé vert Sencha", "12.90", 2, rate="5.5", variant="100 g", sku="TH-SEN-100"),
             Item("Théière en fonte", "45.00", 1, rate="20", variant="Noir", sku="TP-FON-N",
                  discount="4.50")],
            shipping=Shipping("Colissimo", "6.90"), discount_code="BIENVENUE10",
            created_at=recent,
        )
    )  # fmt: skip
    shopify.add_order(  # type: ignore[attr-defined]
        build_order(
            5002, "#S1002",
            [Item("Rooibos vanille", "8.50", 3, rate="5.5", variant="50 g", sku="RB-VAN-50")],
            customer=lea, paid=False, created_at=recent,
            address={"company": "Bureau Dubois SARL", "address1": "3 quai Saint-Antoine",
                     "zip": "69002", "city": "Lyon", "countryCodeV2": "FR"},
        )
    )  # fmt: skip
    shopify.add_order(  # type: ignore[attr-defined]
        build_order(
            5003, "#S1003",
            [Item("Linen apron", "36.00", 2, rate="20", variant="natural", sku="APR-LIN-NAT")],
            shipping=Shipping("International shipping", "18.00"), currency="USD", fx="0.86",
            customer=emily, locale="en-IE", gateway="paypal", gateway_label="PayPal",
            paid=False, created_at=recent,
            address={"address1": "18 Merrion Square", "zip": "D02 VX29", "city": "Dublin",
                     "countryCodeV2": "IE"},
        )
    )  # fmt: skip


def _play_the_day(say: Callable[[str], None], woo: object, shopify: object, port: int) -> None:
    from connectors.woocommerce.sandbox_orders import Item, make_order

    woo_url = f"http://127.0.0.1:{port}/webhooks/woocommerce/woo"
    shop_url = f"http://127.0.0.1:{port}/webhooks/shopify/shopify"
    time.sleep(2)
    woo.set_status(1002, "processing", notify=False)  # type: ignore[attr-defined]
    [r] = woo.deliver_webhook(woo_url, 1002)  # type: ignore[attr-defined]
    say(f"WooCommerce: the owner marks bank transfer #1002 as received → webhook → {r.status}")
    time.sleep(2.5)
    woo.add_order(  # type: ignore[attr-defined]
        make_order(
            1005, items=[Item("Coffret dégustation", "32.50", 1, 2), Item("Tasse", "9.00", 2, 1)],
            payment_method="stripe", payment_method_title="Carte bancaire",
            transaction_id="ch_demo_1005",
            billing=HUGO,
        ),
        notify=False,
    )  # fmt: skip
    results = woo.deliver_webhook(woo_url, 1005, duplicate=2)  # type: ignore[attr-defined]
    say(
        "WooCommerce: new card order #1005 → the same webhook delivered twice → "
        + ", ".join(str(x.status) for x in results)
        + " (one invoice, one email)"
    )
    time.sleep(2.5)
    [r] = woo.deliver_webhook(woo_url, 1005, secret="forged-secret")  # type: ignore[attr-defined]
    say(f"someone replays #1005 with a wrong signature → {r.status}, nothing stored")
    time.sleep(2.5)
    shopify.mark_paid(5003)  # type: ignore[attr-defined]
    statuses = shopify.deliver_webhook(  # type: ignore[attr-defined]
        shop_url, 5003, secret="demo-shopify-secret", event_id="ev-5003", duplicate=2
    )
    say(
        "Shopify: #S1003 paid in USD by PayPal → orders/paid delivered twice (same event id) → "
        + ", ".join(str(status) for status in statuses)
    )
    time.sleep(2.5)
    woo.set_status(1003, "completed", notify=False)  # type: ignore[attr-defined]
    say("WooCommerce: cash-on-delivery #1003 completed, but its webhook is lost")
    time.sleep(2.5)
    shopify.mark_paid(5002)  # type: ignore[attr-defined]
    shopify.touch(5002)  # type: ignore[attr-defined]
    say("Shopify: B2B order #S1002 paid, webhook lost too: polling is the safety net")
    time.sleep(2.5)
    _hugo_comes_back(say, woo, woo_url)
    time.sleep(2.5)
    _refund_the_day(say, woo, shopify, woo_url, shop_url)


def _hugo_comes_back(say: Callable[[str], None], woo: object, woo_url: str) -> None:
    """A returning customer: his portal then lists both orders' documents."""
    from connectors.woocommerce.sandbox_orders import Item, make_order

    woo.add_order(  # type: ignore[attr-defined]
        make_order(
            1006, items=[Item("Thé noir Assam", "11.50", 3, 2)],
            payment_method="stripe", payment_method_title="Carte bancaire",
            transaction_id="ch_demo_1006", billing=HUGO,
        ),
        notify=False,
    )  # fmt: skip
    [r] = woo.deliver_webhook(woo_url, 1006)  # type: ignore[attr-defined]
    say(f"WooCommerce: Hugo comes back for tea, order #1006 by card → webhook → {r.status}")


def _refund_the_day(
    say: Callable[[str], None], woo: object, shopify: object, woo_url: str, shop_url: str
) -> None:
    """Refunds after the invoices: each becomes a credit note naming its invoice, emailed."""
    woo.add_refund(1005, lines=[(1, 1)], reason="Tasse ébréchée", notify=False)  # type: ignore[attr-defined]
    [r] = woo.deliver_webhook(woo_url, 1005)  # type: ignore[attr-defined]
    say(f"WooCommerce: Hugo returns a chipped cup of #1005 → refund → order.updated → {r.status}")
    time.sleep(2.5)
    refund_id = shopify.add_refund(  # type: ignore[attr-defined]
        5001, shipping=True, reason="Colis arrivé en retard", notify=False
    )
    statuses = shopify.deliver_webhook(  # type: ignore[attr-defined]
        shop_url, 5001, topic="refunds/create", refund_id=refund_id,
        secret="demo-shopify-secret", event_id=f"ev-refund-{refund_id}", duplicate=2,
    )  # fmt: skip
    say(
        "Shopify: #S1001's shipping refunded → refunds/create delivered twice → "
        + ", ".join(str(status) for status in statuses)
        + " (one credit note)"
    )


def _start_service(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "run", "-c", str(config), "--workers", "2"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError("quittance run exited during start-up: see service.log")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return time.monotonic() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError("quittance run did not answer /healthz in time: see service.log")


def _wait_until_quiet(svc: Services, *, expected_emails: int, smtp: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = svc.store.job_counts()
        busy = counts["pending"] + counts["running"]
        if len(smtp.received) >= expected_emails and busy == 0:  # type: ignore[attr-defined]
            return
        time.sleep(0.5)


def _wait_for_ctrl_c() -> None:
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass


def _results_table(svc: Services) -> Table:
    table = Table(
        title="What happened: one invoice per paid order, one credit note per refund, each "
        "delivered once"
    )
    for column in ("shop", "order", "customer", "total", "document", "email", "attached"):
        table.add_column(column, overflow="fold")
    steps: dict[int, dict[str, str]] = {}
    for job in svc.store.list_jobs(states=("done", "skipped", "dead", "retry", "pending")):
        if job.kind in ("email", "attach") and job.invoice_id is not None:
            label = "sent" if job.kind == "email" else "yes"
            state = label if job.state == "done" else job.state
            if job.state == "skipped":
                state = "skipped: " + (job.last_error or "").split(":")[0]
            steps.setdefault(job.invoice_id, {})[job.kind] = state
    for doc in sorted(svc.store.iter_invoices(), key=lambda d: d.id):
        snap = doc.snapshot
        done = steps.get(doc.id, {})
        credit = doc.kind == "credit_note"
        table.add_row(
            doc.shop, snap.order.reference, snap.buyer.company or snap.buyer.name,
            f"{'-' if credit else ''}{snap.totals.total_incl} {snap.currency}",
            f"{doc.number} (avoir sur {snap.credited_number})" if credit else doc.number,
            done.get("email", "—"), done.get("attach", "—"),
        )  # fmt: skip
    for order in svc.store.list_quarantined():
        table.add_row(
            order.shop, order.order_id, "", "", "[red]quarantined[/]", order.reason or "", ""
        )
    return table


def _where_to_look(console: Console, workdir: Path, emails: int) -> None:
    cfg = workdir / "quittance.toml"
    year = datetime.now(UTC).year
    console.print(
        f"\nWhere to look:\n"
        f"  PDFs      {workdir / 'archive' / 'by-number'}/\n"
        f"  emails    {workdir / 'outbox'}/*.eml ({emails} captured; open them in a mail client)\n"
        f"  database  {workdir / 'quittance.db'} (SQLite)\n"
        f"  service   {workdir / 'service.log'} (JSON log lines)\n"
        "Explore further:\n"
        f"  .venv/bin/quittance status -c {cfg}\n"
        f"  .venv/bin/quittance failures -c {cfg}\n"
        f"  .venv/bin/quittance verify -c {cfg}\n"
        f"  .venv/bin/quittance check-invoice FA-{year}-000001 -c {cfg}\n"
        f"  .venv/bin/quittance render FA-{year}-000001 --out copy.pdf -c {cfg}\n"
        f"  .venv/bin/quittance deliveries -c {cfg}     (email, SMS, helpdesk, attach-back)\n"
        f"  .venv/bin/quittance stats -c {cfg}\n"
        f"  .venv/bin/quittance portal link hugo@example.fr --shop woo -c {cfg}\n"
        f'  .venv/bin/quittance credit FA-{year}-000001 --reason "Geste" --amount 5 -c {cfg}\n'
        f"  .venv/bin/quittance preview --out var/preview\n"
        "  your own shop: cp config.example.toml quittance.toml, then see README.md",
        highlight=False,
    )
