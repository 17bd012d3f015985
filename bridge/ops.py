"""What the operator commands show: `quittance status` tables and `quittance doctor` checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import requests
from rich.markup import escape
from rich.table import Table

from bridge.archive import MB, free_bytes, low_space
from bridge.delivery.errors import DeliveryError, as_delivery_error
from bridge.delivery.helpdesk.intercom import check_intercom
from bridge.delivery.helpdesk.zendesk import check_zendesk
from bridge.delivery.secrets import reveal
from bridge.delivery.sms.apprise_route import check_apprise
from bridge.delivery.sms.twilio import check_twilio
from bridge.delivery.smtp import smtp_session
from bridge.services import Services
from connectors.base import CheckLine


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def status_tables(svc: Services) -> list[Table]:
    now = svc.store.clock()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    webhooks = svc.store.webhook_counts_since(today)
    issued = svc.store.invoice_counts_since(today)
    by_shop = svc.store.job_counts_by_shop()
    shops = Table(title="Shops")
    for column in (
        "shop",
        "platform",
        "last poll",
        "poll lag",
        "last poll error",
        "webhooks today",
        "invoices today",
        "pending",
        "retrying",
        "dead",
    ):
        shops.add_column(column, overflow="fold")  # fmt: skip
    names = [s.name for s in svc.settings.shops] or sorted(set(issued) | set(by_shop) - {""})
    platforms = {s.name: s.platform for s in svc.settings.shops}
    for name in names:
        state = svc.store.poll_state(name)
        jobs = by_shop.get(name, {})
        lag = (
            f"{int((now - state.last_success_at).total_seconds())} s"
            if state and state.last_success_at else "—"
        )  # fmt: skip
        shops.add_row(
            name, platforms.get(name, "manual"),
            _ago(state.last_poll_at if state else None, now), lag,
            (state.last_error or "") if state else "",
            str(webhooks.get(name, 0)), str(issued.get(name, 0)),
            str(jobs.get("pending", 0) + jobs.get("running", 0)), str(jobs.get("retry", 0)),
            str(jobs.get("dead", 0)),
        )  # fmt: skip
    failures = _failures_table(svc)
    return [shops, _deliveries_table(svc, today), failures]


def _deliveries_table(svc: Services, today: datetime) -> Table:
    """Today's hand-overs per shop and channel (email, sms, zendesk, intercom, attach)."""
    table = Table(title="Deliveries today (UTC)")
    statuses = ("sent", "pending", "retrying", "failed", "skipped")
    for column in ("shop", "channel", *statuses):
        table.add_column(column, overflow="fold")
    for (shop, channel), counts in sorted(svc.store.delivery_counts_since(today).items()):
        table.add_row(shop, channel, *(str(counts.get(s, 0)) for s in statuses))
    return table


def _failures_table(svc: Services) -> Table:
    failures = Table(title="Last 5 failures")
    for column in ("job", "step", "state", "shop", "order", "reason"):
        failures.add_column(column, overflow="fold")
    for job in svc.store.list_jobs(states=("dead", "retry"), limit=5):
        failures.add_row(
            str(job.id), job.kind, job.state, job.shop or "", job.order_id or "",
            escape(job.last_error or ""),  # "[email] host": text, not markup
        )  # fmt: skip
    return failures


def check_archive(svc: Services) -> CheckLine:
    """A small file written, fsynced, read back and removed, and the free space left."""
    root, min_free_mb = svc.archive.root, svc.settings.storage.archive_min_free_mb
    try:
        svc.archive.check_writable()
        free_mb = free_bytes(root) // MB
    except OSError as exc:
        return CheckLine("archive", False, f"{root}: {exc}")
    low = low_space(free_mb, min_free_mb)
    if low:
        return CheckLine("archive", False, f"{root} writable but {free_mb} MB free, {low}")
    return CheckLine("archive", True, f"{root} writable, {free_mb} MB free")


def check_smtp(svc: Services) -> CheckLine:
    cfg = svc.settings.email
    if not cfg.enabled:
        return CheckLine("smtp", True, "email disabled ([email] host empty): nothing to check")
    where = f"{cfg.host}:{cfg.port} ({cfg.security})"
    try:
        with smtp_session(cfg):
            pass
    except Exception as exc:
        error = as_delivery_error(exc, secrets=[reveal(cfg.password)])
        return CheckLine("smtp", False, f"{where}: {error}")
    return CheckLine("smtp", True, f"{where} reachable" + (", login ok" if cfg.username else ""))


def check_public_url(svc: Services) -> CheckLine:
    base = svc.settings.server.public_url.rstrip("/")
    if not base:
        return CheckLine(
            "public url", False,
            "[server] public_url is empty: shops cannot send webhooks and links are off",
        )  # fmt: skip
    try:
        response = requests.get(f"{base}/healthz", timeout=5)
    except requests.RequestException as exc:
        return CheckLine("public url", False, f"{base}/healthz unreachable: {exc}")
    return CheckLine("public url", response.ok, f"{base}/healthz → HTTP {response.status_code}")


def doctor_checks(svc: Services) -> list[CheckLine]:
    checks = [CheckLine("config", True, "loaded and valid")]
    try:
        counts = svc.store.job_counts()
        checks.append(CheckLine("database", True, f"{svc.store.dialect} ok, jobs {counts}"))
    except Exception as exc:
        checks.append(CheckLine("database", False, f"{type(exc).__name__}: {exc}"))
    checks.append(check_archive(svc))
    checks.append(check_smtp(svc))
    for shop in svc.settings.shops:
        if not shop.enabled:
            continue
        try:
            lines = svc.connector(shop.name).check()
        except Exception as exc:
            lines = [CheckLine("connection", False, f"{type(exc).__name__}: {exc}")]
        checks.extend(CheckLine(f"shop {shop.name}: {c.name}", c.ok, c.detail) for c in lines)
    checks.extend(check_channels(svc))
    checks.append(check_templates(svc))
    checks.append(check_public_url(svc))
    return checks


def check_channels(svc: Services) -> list[CheckLine]:
    """Each SMS gateway and helpdesk configured, asked who we are there: nothing is sent."""
    asks: list[tuple[str, Callable[[], str]]] = []
    for sms in svc.settings.sms:
        if sms.enabled:
            check = check_apprise if sms.gateway == "apprise" else check_twilio
            asks.append((f"sms {sms.shop} ({sms.gateway})", partial(check, sms)))
    for desk in svc.settings.helpdesks:
        if desk.enabled:
            check = check_zendesk if desk.kind == "zendesk" else check_intercom
            asks.append((f"{desk.kind} {desk.shop}", partial(check, desk)))
    lines = []
    for name, ask in asks:
        try:
            lines.append(CheckLine(name, True, ask()))
        except DeliveryError as exc:
            lines.append(CheckLine(name, False, str(exc)))
    return lines


def check_templates(svc: Services) -> CheckLine:
    """A template override renders every preview case with every mandatory mention."""
    from bridge.render.override_check import check_override, problems_text

    if svc.templates.override_dir is None:
        return CheckLine("templates", True, "ours (no override)")
    problems = check_override(svc.templates)
    if problems:
        return CheckLine("templates", False, problems_text(problems))
    return CheckLine("templates", True, "every preview case carries every mandatory mention")
