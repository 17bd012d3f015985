"""What the operator commands show: `quittance status` and `failures` (over
`bridge.overview`, the dashboard's data too) and the `quittance doctor` checks."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import requests
from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from bridge.archive import MB, free_bytes, low_space
from bridge.delivery.errors import DeliveryError, as_delivery_error
from bridge.delivery.helpdesk.intercom import check_intercom
from bridge.delivery.helpdesk.zendesk import check_zendesk
from bridge.delivery.secrets import reveal
from bridge.delivery.sms.apprise_route import check_apprise
from bridge.delivery.sms.twilio import check_twilio
from bridge.delivery.smtp import smtp_session
from bridge.outages import human_duration
from bridge.overview import (
    MANUAL,
    Alert,
    Failure,
    FailureSummary,
    ShopOverview,
    day_start,
    delivery_counts,
    failure_summary,
    failures,
    open_alerts,
    plain_reason,
    retry_command,
    retrying,
    shop_overviews,
)
from bridge.services import Services
from connectors.base import CheckLine

# -- `quittance status` and `quittance failures` -------------------------------------------
#
# Each view is a `Fitted`: a table with short headers on a terminal wide enough for all of
# it, else (narrow, or piped into a file or another program) the same facts as a list of
# blocks wrapped at word boundaries, so that no header or value is ever cut mid-word.

STATUS_FAILURES = 5  # how many failures `status` shows; `quittance failures` lists them all
LIST_INDENT = "  "
PROSE_WIDTH = 100  # a list's sentences read badly wider than this, whatever the terminal
# Measured unbounded: Rich clamps a measurement to the width it is given.
_UNBOUNDED = 10_000


@dataclass(frozen=True)
class Block:
    """One shop, one delivery row or one failure, as the list layout prints it."""

    heading: str
    lines: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Fitted:
    title: str
    table: Table
    blocks: tuple[Block, ...]
    footer: str = ""  # after either layout, e.g. "… 3 more: `quittance failures`"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if _table_fits(console, options, self.table):
            yield self.table
        else:
            yield from _list_lines(self, min(options.max_width, PROSE_WIDTH))
        if self.footer:
            yield from _wrapped(self.footer, min(options.max_width, PROSE_WIDTH), "", "")


def _table_fits(console: Console, options: ConsoleOptions, table: Table) -> bool:
    if not console.is_terminal:
        return False  # piped: the reader is a file or a program, lines beat boxes
    needed = Measurement.get(console, options.update_width(_UNBOUNDED), table).maximum
    return needed <= options.max_width


def _list_lines(view: Fitted, width: int) -> Iterator[Text]:
    yield Text(view.title, style="bold")
    for block in view.blocks:
        yield from _wrapped(block.heading, width, "", LIST_INDENT)
        for key, value in block.lines:
            yield from _wrapped(f"{key}: {value}", width, LIST_INDENT, LIST_INDENT * 2)
    yield Text("")


def _wrapped(text: str, width: int, first: str, rest: str) -> Iterator[Text]:
    lines = textwrap.wrap(
        text, width=max(width, 20), initial_indent=first, subsequent_indent=rest,
        break_on_hyphens=False,  # a number "FA-2026-000042" stays whole
    ) or [first]  # fmt: skip
    for line in lines:
        yield Text(line)


def _table(title: str, headers: Sequence[str]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left")
    for header in headers:
        table.add_column(header, no_wrap=True)
    return table


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    return f"{human_duration(now - moment)} ago"


def status_tables(svc: Services) -> list[Fitted]:
    """Shops, today's deliveries, the first failures (and the open problems, if any)."""
    now = svc.store.clock()
    since = day_start(svc, now)
    today = f"today in {svc.settings.seller.timezone}, since {since:%Y-%m-%d %H:%M} UTC"
    clock = _clock_of(svc)
    views = [
        _shops_view(shop_overviews(svc, now), now, today),
        _deliveries_table(svc, since, today),
        _failures_table(
            failures(svc, limit=STATUS_FAILURES), failure_summary(svc), clock, limit=STATUS_FAILURES
        ),
    ]
    alerts = open_alerts(svc)
    return [*views, _alerts_view(alerts, now, clock)] if alerts else views


@dataclass(frozen=True)
class _Clock:
    """The seller's [seller] timezone: the day `status` counts is theirs, so are its times."""

    name: str
    zone: ZoneInfo

    def at(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.zone):%Y-%m-%d %H:%M}"

    @property
    def said(self) -> str:  # once, in a view's title: not after every time
        return f"times in {self.name}"


def _clock_of(svc: Services) -> _Clock:
    return _Clock(svc.settings.seller.timezone, svc.settings.seller.zoneinfo)


_SHOP_HEADERS = (
    "shop", "platform", "polled", "lag", "hooks", "inv", "credit", "queue", "retry", "dead",
    "skip", "held", "poll error",
)  # fmt: skip
SHOP_LEGEND = (
    "today: hooks = webhooks, inv = invoices, credit = credit notes; jobs: queue = pending "
    "or running, retry, dead, skip = skipped; held = quarantined orders"
)


def _shops_view(shops: Sequence[ShopOverview], now: datetime, today: str) -> Fitted:
    table = _table(f"Shops ({today})", _SHOP_HEADERS)
    for shop in shops:
        table.add_row(*(Text(cell) for cell in _shop_cells(shop, now)))
    table.caption = SHOP_LEGEND
    blocks = tuple(Block(f"shop {s.shop} ({s.platform})", _shop_lines(s, now)) for s in shops)
    return Fitted(f"Shops ({today})", table, blocks)


def _shop_cells(shop: ShopOverview, now: datetime) -> tuple[str, ...]:
    counts = (
        shop.webhooks_today, shop.invoices_today, shop.credit_notes_today, shop.pending,
        shop.retrying, shop.dead, shop.skipped, shop.quarantined,
    )  # fmt: skip
    return (
        shop.shop, shop.platform, _polled(shop, now), _lag(shop),
        *(str(n) for n in counts), shop.last_poll_error or "",
    )  # fmt: skip


def _polled(shop: ShopOverview, now: datetime) -> str:
    if shop.platform == MANUAL:
        return "not polled"
    return _ago(shop.last_poll_at, now) if shop.enabled else "disabled"


def _lag(shop: ShopOverview) -> str:
    return "—" if shop.lag_seconds is None else human_duration(timedelta(seconds=shop.lag_seconds))


def _shop_lines(shop: ShopOverview, now: datetime) -> tuple[tuple[str, str], ...]:
    if shop.platform == MANUAL:
        polling = [("polling", "none: not in the config (`quittance issue`, imports)")]
    else:
        polling = [("last poll", _polled(shop, now)), ("poll lag", _lag(shop))]
        if shop.last_poll_error:
            polling.append(("last poll error", shop.last_poll_error))
    return (
        *polling,
        ("today", f"{shop.webhooks_today} webhook(s), {shop.invoices_today} invoice(s), "
                  f"{shop.credit_notes_today} credit note(s)"),
        ("jobs", f"{shop.pending} pending, {shop.retrying} retrying, {shop.dead} dead, "
                 f"{shop.skipped} skipped"),
        ("quarantined orders", str(shop.quarantined)),
    )  # fmt: skip


DELIVERY_STATUSES = ("sent", "pending", "retrying", "failed", "skipped")


def _deliveries_table(svc: Services, since: datetime, today: str) -> Fitted:
    """Today's hand-overs per shop and channel (email, sms, zendesk, intercom, attach)."""
    title = f"Deliveries ({today})"
    table = _table(title, ("shop", "channel", *DELIVERY_STATUSES))
    by_shop: dict[str, list[tuple[str, str]]] = {}
    for (shop, channel), counts in sorted(delivery_counts(svc, since).items()):
        table.add_row(shop, channel, *(str(counts.get(s, 0)) for s in DELIVERY_STATUSES))
        said = ", ".join(f"{counts[s]} {s}" for s in DELIVERY_STATUSES if counts.get(s))
        by_shop.setdefault(shop, []).append((channel, said or "none"))
    blocks = tuple(Block(f"deliveries {shop}", tuple(rows)) for shop, rows in by_shop.items())
    return Fitted(title, table, blocks or (Block("none yet", ()),))


_FAILURE_HEADERS = ("retry", "step", "state", "shop", "order", "document", "since", "reason")


def _failures_table(
    found: Sequence[Failure], summary: FailureSummary, clock: _Clock, *,
    limit: int | None = None, locale: str = "en",
) -> Fitted:  # fmt: skip
    """What needs the owner (the first `limit` of `summary.needs_you`), each with its plain
    reason and the raw one; the retrying and the routine skips said in the footer."""
    shown = list(found if limit is None else found[:limit])
    total = summary.needs_you
    title = f"Failures ({total}, {clock.said})" if total else "Failures: none"
    table = _table(title, _FAILURE_HEADERS)
    for failure in shown:
        table.add_row(*(Text(cell) for cell in _failure_cells(failure, clock, locale)))
    more = total - len(shown)
    notes = [f"… {more} more: `quittance failures`"] if more else []
    if summary.retrying:
        notes.append(f"{summary.retrying} job(s) retrying by themselves, not counted")
    if summary.nothing_to_do:
        notes.append(
            f"{summary.nothing_to_do} skipped with nothing to do (no mobile, no helpdesk "
            "ticket, a refund of nothing): in the deliveries log, not failures"
        )
    blocks = tuple(_failure_block(failure, clock, locale) for failure in shown)
    return Fitted(title, table, blocks, "; ".join(notes))


def _target(failure: Failure) -> str:
    return str(failure.job_id) if failure.job_id is not None else failure.key


def _failure_cells(failure: Failure, clock: _Clock, locale: str) -> tuple[str, ...]:
    return (
        _target(failure), failure.step, failure.state, failure.shop, failure.order_id,
        failure.number, clock.at(failure.since),
        f"{plain_reason(failure, locale)} — {failure.reason}",
    )  # fmt: skip


def _failure_block(failure: Failure, clock: _Clock, locale: str) -> Block:
    what = f"job {failure.job_id} ({failure.step})" if failure.job_id else "order"
    heading = f"{what} {failure.state}: shop {failure.shop}, order {failure.order_id}"
    lines = [("document", failure.number)] if failure.number else []
    if failure.job_id is not None:
        lines.append(("attempts", str(failure.attempts)))
    lines += [
        ("since", clock.at(failure.since)),
        ("what to do", plain_reason(failure, locale)),
        ("raw reason", failure.reason or "—"),
    ]
    if failure.state != "retry" and retry_command(failure) not in lines[-2][1]:
        lines.append(("retry", retry_command(failure)))
    return Block(heading, tuple(lines))


def failures_view(svc: Services, *, locale: str = "en", limit: int | None = None) -> Fitted | None:
    """`quittance failures`: what needs the owner (all of it, or the newest `limit`), or
    None when nothing does."""
    summary = failure_summary(svc)
    if not summary.needs_you:
        return None
    found = failures(svc, limit=limit)
    return _failures_table(found, summary, _clock_of(svc), limit=limit, locale=locale)


def retrying_view(svc: Services, *, locale: str = "en", limit: int | None = None) -> Fitted | None:
    """`quittance failures`, its own section: the jobs the worker tries again by itself
    (nothing to do unless they end dead), or None when there is none."""
    found = retrying(svc, limit=limit)
    if not found:
        return None
    clock = _clock_of(svc)
    # counted apart only when the list was cut short: three COUNT queries otherwise spared
    cut = limit is not None and len(found) >= limit
    total = failure_summary(svc).retrying if cut else len(found)
    title = f"Retrying by themselves ({total}, {clock.said}; not counted as failures)"
    table = _table(title, _FAILURE_HEADERS)
    for failure in found:
        table.add_row(*(Text(cell) for cell in _failure_cells(failure, clock, locale)))
    more = total - len(found)
    footer = f"… {more} more retrying" if more else ""
    blocks = tuple(_failure_block(failure, clock, locale) for failure in found)
    return Fitted(title, table, blocks, footer)


def _alerts_view(alerts: Sequence[Alert], now: datetime, clock: _Clock) -> Fitted:
    title = f"Open problems ({len(alerts)}, {clock.said})"
    table = _table(title, ("since", "for", "problem"))
    for alert in alerts:
        table.add_row(clock.at(alert.since), human_duration(now - alert.since), Text(alert.detail))
    blocks = tuple(
        Block(alert.detail, (("since", f"{clock.at(alert.since)}, {_ago(alert.since, now)}"),))
        for alert in alerts
    )
    return Fitted(title, table, blocks)


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
