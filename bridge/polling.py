"""Polling, the safety net behind webhooks: read paid orders since the shop's cursor and record
each page with its issue jobs and the advanced cursor in one transaction.

A scheduled poll holds the shop's lease (`PollLease`) for as long as it runs, and not a moment
longer:

    claim (3 heartbeats) ─ renewed every heartbeat ─ … ─ finish_poll
                             └ a renewal finds another owner: the poll stops at the next
                               page boundary (pages are recorded idempotently, the cursor
                               only moves at the end of a complete run)

A process killed mid-poll stops renewing: its lease runs out within three heartbeats, and the
next tick of any replica polls at once (bridge/store/platform.py: `claim_poll`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from bridge.crediting import alert_foreign_refund, note_deleted_refunds, predates_quittance
from bridge.failures import PermanentStepError
from bridge.heartbeat import HeartbeatLease
from bridge.model import Order
from bridge.services import Services, alert_owner
from connectors.base import IsKnown, OrderPage

log = structlog.get_logger()

FIRST_POLL_LOOKBACK = timedelta(days=1)
# A poll lease lasts this many heartbeats: two renewals may fail (a slow database, a pause)
# before it lapses, and a dead holder's poll is redone a few heartbeats after it died.
LEASE_HEARTBEATS = 3


def poll_lease_for(heartbeat: timedelta) -> timedelta:
    return heartbeat * LEASE_HEARTBEATS


class PollLeaseStore(Protocol):
    def clock(self) -> datetime: ...

    def renew_poll(self, shop: str, owner: str, lease: timedelta) -> bool: ...


class PollLease(HeartbeatLease):
    """The shop's polling lease while this process polls it (a context manager around the
    poll): renewed every `heartbeat` of the store's clock; `held()` is what the poll asks at
    each page boundary. Joined before the caller finishes the poll: a renewal landing after
    `finish_poll` would find no owner and report a loss that never happened."""

    def __init__(
        self,
        store: PollLeaseStore,
        shop: str,
        owner: str,
        *,
        heartbeat: timedelta,
        claimed_at: datetime,
    ) -> None:
        # The claim took the lease for `lease` from `claimed_at`.
        super().__init__(store.clock, heartbeat, taken_at=claimed_at, name=f"poll-lease-{shop}")
        self._store = store
        self.shop = shop
        self.owner = owner
        self.lease = poll_lease_for(heartbeat)

    def held(self) -> bool:
        """Still ours? When the heartbeat fell so far behind that the lease may have lapsed
        (a stalled thread, an unreachable database), one renewal now decides; a renewal that
        cannot be made counts as lost: another replica may be polling already."""
        if self._lost.is_set():
            return False
        if self._store.clock() - self._renewed < self.lease:
            return True
        try:
            return self._renew()
        except Exception as exc:
            log.warning("poll lease cannot be confirmed", shop=self.shop, error=type(exc).__name__)
            self._lost.set()
            return False

    def _renew_now(self) -> bool:
        return self._store.renew_poll(self.shop, self.owner, self.lease)

    def _on_lost(self) -> None:
        log.warning("poll lease lost: another replica took it over", shop=self.shop,
                    owner=self.owner)  # fmt: skip


@dataclass
class PollReport:
    shop: str
    pages: int = 0
    seen_paid: int = 0
    new_orders: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # paid but unreadable: quarantined
    stopped: bool = False  # the lease was lost: stopped at a page boundary, cursor not moved


def _without_foreign_refunds(svc: Services, orders: list[Order]) -> list[Order]:
    """The page less the refunded orders paid before Quittance ran for the shop (the owner
    is told: their invoice was made elsewhere, so is their credit note)."""
    ours = []
    for order in orders:
        started = predates_quittance(svc, order, FIRST_POLL_LOOKBACK)
        if started is None:
            ours.append(order)
        else:
            alert_foreign_refund(svc, order, started)
    return ours


def poll_shop(
    svc: Services,
    shop: str,
    *,
    since: datetime | None = None,
    send_email: bool = True,
    on_page: Callable[[OrderPage], None] | None = None,
    claimed_at: datetime | None = None,
    still_held: Callable[[], bool] | None = None,
) -> PollReport:
    """Read paid orders modified since the cursor (minus the overlap window), record each page
    with its issue jobs as it is read, and move the cursor once the whole run is through.

    `claimed_at` is when the scheduler won the shop's poll lease; the `poll.done` event keeps
    it, so the rhythm of polls across replicas can be read back from the database.
    `still_held` (the lease's `held`) is asked after each page: False stops the run there
    (`report.stopped`, a `poll.stopped` event instead of `poll.done`, the cursor left as it
    was: the replica that took the lease over reads the rest)."""
    config = svc.settings.shop(shop)
    if config is None:
        raise PermanentStepError(f"shop {shop!r} is not configured (or disabled)")
    backfill = since is not None  # asked for a past period on purpose: every order is ours
    svc.store.shop_started_at(shop)  # the first poll of a shop is when Quittance started on it
    if since is None:
        since = _resume_from(svc, shop, overlap=timedelta(seconds=config.poll_overlap_seconds))
    report = PollReport(shop)
    # Each page's orders are recorded as soon as it is read, but the cursor only moves once
    # the whole run is through: with page-number pagination, an order modified mid-run jumps
    # to the end and shifts the pages, and a cursor saved from an early page could skip it.
    newest: datetime | None = None
    pages = svc.connector(shop).iter_paid_pages(since, is_known=_known_and_settled(svc, shop))
    for page in pages:
        _record_page(svc, report, page, backfill=backfill, send_email=send_email)
        if page.cursor is not None and (newest is None or page.cursor > newest):
            newest = page.cursor
        if on_page is not None:
            on_page(page)
        if still_held is not None and not still_held():
            _stop_between_pages(pages, report)
            break
    _finish_poll(svc, report, newest, claimed_at=claimed_at)
    _alert_quarantined(svc, report)
    _alert_poll_errors(svc, report)
    return report


def _resume_from(svc: Services, shop: str, *, overlap: timedelta) -> datetime:
    """Where a scheduled poll starts: the shop's cursor less the overlap window (an order
    modified while the last poll ran is read again), or a day back for a shop never polled."""
    state = svc.store.poll_state(shop)
    if state is not None and state.cursor is not None:
        return state.cursor - overlap
    # A newly connected shop must not invoice (and email!) its whole history on the first
    # poll: that is `quittance backfill`'s job, archive-only by default.
    return svc.store.clock() - FIRST_POLL_LOOKBACK


def _known_and_settled(svc: Services, shop: str) -> IsKnown:
    """The connector's `is_known` for `shop`: an order it need not read again."""

    def is_known(order_id: str, refund_ids: frozenset[str]) -> bool:
        """Invoiced, and no refund added or deleted since it was last read."""
        if svc.store.get_invoice_for_order(shop, order_id) is None:
            return False
        record = svc.store.get_order(shop, order_id)
        payload = record.payload if record is not None else None
        # A pending refund (money not back yet) is not settled: the order is read again.
        settled = {r.refund_id for r in payload.refunds if not r.pending} if payload else None
        return settled == refund_ids

    return is_known


def _record_page(
    svc: Services, report: PollReport, page: OrderPage, *, backfill: bool, send_email: bool
) -> None:
    """One page counted in `report` and recorded: its unreadable orders quarantined, its paid
    orders stored with their issue jobs (the cursor is left for the end of the run)."""
    shop = report.shop
    report.pages += 1
    report.seen_paid += len(page.orders)
    report.skipped += page.skipped
    report.errors.extend(page.errors)
    newly = set(svc.store.quarantine_unreadable(shop, page.unreadable))
    report.quarantined += [f"order {u.order_id}: {u.reason}" for u in page.unreadable
                           if u.order_id in newly]  # fmt: skip
    ours = page.orders if backfill else _without_foreign_refunds(svc, page.orders)
    report.new_orders += svc.store.record_polled_page(
        shop, ours, cursor=None, send_email=send_email,
        lane="bulk" if backfill else "catch_up",  # both wait behind live work
    )  # fmt: skip
    for order in ours:
        note_deleted_refunds(svc, order)


def _stop_between_pages(pages: Iterator[OrderPage], report: PollReport) -> None:
    """The lease was lost. Between pages, what was read is recorded, nothing half-done; the
    next page is not asked for, so the shop is not read twice at once."""
    report.stopped = True
    close = getattr(pages, "close", None)
    if close is not None:
        close()


def _finish_poll(
    svc: Services, report: PollReport, newest: datetime | None, *, claimed_at: datetime | None
) -> None:
    """The cursor moved to the newest page read (a complete run only), and the run's event."""
    if newest is not None and not report.stopped:
        svc.store.record_polled_page(report.shop, [], cursor=newest)
    if report.stopped:
        log.warning("poll stopped at a page boundary: its lease was lost", shop=report.shop,
                    pages=report.pages)  # fmt: skip
    svc.store.append_event(
        "poll.stopped" if report.stopped else "poll.done", shop=report.shop,
        detail={"pages": report.pages, "paid": report.seen_paid, "new": report.new_orders,
                "errors": report.errors[:20], "quarantined": len(report.quarantined),
                "claimed_at": claimed_at.isoformat() if claimed_at else None},
    )  # fmt: skip


def _alert_quarantined(svc: Services, report: PollReport) -> None:
    """Paid orders that could not be mapped: no invoice until the owner fixes them."""
    if not report.quarantined:
        return
    alert_owner(
        svc,
        key=f"quarantine:{report.shop}",
        title=f"Quittance: {len(report.quarantined)} paid order(s) of shop {report.shop} could "
        "not be read and are quarantined",
        body="No invoice was issued because:\n- "
        + "\n- ".join(report.quarantined[:20])
        + "\nFix each order on the shop, then `quittance retry --all` (it reads them "
        "again); `quittance failures` lists them.",
    )


def _alert_poll_errors(svc: Services, report: PollReport) -> None:
    """Paid orders the connector could not read: polling moves past them, so a person must
    look (their webhook, if it came, went through the same mapping)."""
    if not report.errors:
        return
    alert_owner(
        svc,
        key=f"poll-errors:{report.shop}",
        title=f"Quittance: {len(report.errors)} order(s) of shop {report.shop} could not be read",
        body="\n".join(report.errors[:20]) + "\nFix them on the shop; the next change to "
        "each order triggers it again.",
    )
