"""How documents reached customers: today's counts per shop and channel (the figures of
`quittance status`, bridge/overview.py), then the delivery log, filtered and paged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.dashboard.views.documents import document_href
from bridge.dashboard.views.paging import page_id
from bridge.overview import day_start, delivery_counts
from bridge.steps import STEPS
from bridge.store.deliveries import DELIVERY_STATUSES
from bridge.store.delivery_log import DeliveryFilter, DeliveryLine

if TYPE_CHECKING:
    from bridge.dashboard.context import Dashboard

PAGE = 100
# Every channel a step hands documents over on, in pipeline order (email, sms, zendesk…).
CHANNELS = tuple(step.channel for step in STEPS.steps if step.channel)
# The store's statuses, in the order `quittance status` prints them: the good news first.
STATUSES = tuple(
    s for s in ("sent", "pending", "retrying", "failed", "skipped") if s in DELIVERY_STATUSES
)

WORDING = {
    "fr": {
        "title": "Envois",
        "today": "Envois d'aujourd'hui",
        "none_today": "Aucun envoi aujourd'hui.",
        "log": "Journal des envois",
        "none_found": "Aucun envoi ne correspond.",
        "all": "Tous",
        "filter": "Filtrer",
        "when": "Quand",
        "document": "Document",
        "target": "Destinataire",
        "external_id": "Référence externe",
        "detail": "Détail",
        "older": "Plus anciens",
        "newest": "Les plus récents",
        "ignored_channel": "Canal inconnu, filtre ignoré :",
        "ignored_status": "Statut inconnu, filtre ignoré :",
        "ignored_before": "Page inconnue, retour aux plus récents :",
        "channel_email": "E-mail",
        "channel_sms": "SMS",
        "channel_zendesk": "Zendesk",
        "channel_intercom": "Intercom",
        "channel_attach": "Note sur la commande",
        "status_sent": "envoyé",
        "status_pending": "en attente",
        "status_retrying": "nouvel essai",
        "status_failed": "échec",
        "status_skipped": "ignoré",
    },
    "en": {
        "title": "Deliveries",
        "today": "Deliveries today",
        "none_today": "No delivery today.",
        "log": "Delivery log",
        "none_found": "No delivery matches.",
        "all": "All",
        "filter": "Filter",
        "when": "When",
        "document": "Document",
        "target": "Recipient",
        "external_id": "External id",
        "detail": "Detail",
        "older": "Older",
        "newest": "Newest",
        "ignored_channel": "Unknown channel, filter ignored:",
        "ignored_status": "Unknown status, filter ignored:",
        "ignored_before": "Unknown page, back to the newest:",
        "channel_email": "Email",
        "channel_sms": "SMS",
        "channel_zendesk": "Zendesk",
        "channel_intercom": "Intercom",
        "channel_attach": "Order note",
        "status_sent": "sent",
        "status_pending": "pending",
        "status_retrying": "retrying",
        "status_failed": "failed",
        "status_skipped": "skipped",
    },
}


@dataclass(frozen=True, slots=True)
class Asked:
    """The query string, read leniently: a bad value is dropped and said, never a 422."""

    only: DeliveryFilter
    before: int | None
    ignored: list[tuple[str, str]]  # (wording key, the value as given)


def routes(dash: Dashboard) -> APIRouter:
    router = APIRouter()

    @router.get("/deliveries")
    def deliveries_page(
        request: Request, channel: str = "", status: str = "", shop: str = "", before: str = ""
    ) -> Response:
        session = dash.reader(request)
        svc = dash.services
        asked = _asked(channel, status, shop, before)
        since = day_start(svc, svc.store.clock())
        lines = svc.store.delivery_log(PAGE + 1, asked.before, asked.only)
        return dash.page(
            request, session, "deliveries.html", wording=WORDING,
            since=since, counts=sorted(delivery_counts(svc, since).items()),
            lines=lines[:PAGE], older=_older(lines, asked.only), newest=_href(asked.only),
            asked=asked, channels=CHANNELS, statuses=STATUSES, shops=_shops(dash),
            document_href=document_href,
        )  # fmt: skip

    return router


def _asked(channel: str, status: str, shop: str, before: str) -> Asked:
    ignored: list[tuple[str, str]] = []
    if channel and channel not in CHANNELS:
        ignored.append(("ignored_channel", channel[:40]))
    if status and status not in STATUSES:
        ignored.append(("ignored_status", status[:40]))
    page = page_id(before)
    if before and page is None:
        ignored.append(("ignored_before", before[:40]))
    only = DeliveryFilter(
        channel=channel if channel in CHANNELS else None,
        status=status if status in STATUSES else None,
        shop=shop or None,
    )
    return Asked(only, page, ignored)


def _older(lines: list[DeliveryLine], only: DeliveryFilter) -> str:
    """The next page's link ("" on the last page), keeping the filters."""
    return _href(only, before=lines[PAGE - 1].id) if len(lines) > PAGE else ""


def _href(only: DeliveryFilter, **more: int) -> str:
    query = {"channel": only.channel, "status": only.status, "shop": only.shop, **more}
    kept = {name: value for name, value in query.items() if value}
    return "/deliveries" + (f"?{urlencode(kept)}" if kept else "")


def _shops(dash: Dashboard) -> list[str]:
    # a shop gone from the config still has its documents, hence its deliveries
    configured = {shop.name for shop in dash.settings.shops}
    return sorted(configured | dash.store.document_shops())
