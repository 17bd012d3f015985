"""The first page: per shop, its last poll and lag, today's documents, its jobs, and the
alerts that are open — the same figures as `quittance status` (bridge/overview.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.overview import day_start, failure_count, lag_words, open_alerts, shop_overviews

if TYPE_CHECKING:
    from bridge.dashboard.context import Dashboard

WORDING = {
    "fr": {
        "title": "Vue d'ensemble",
        "today": "Aujourd'hui",
        "platform": "Plateforme",
        "manual": "saisie manuelle",
        "last_poll": "Dernière interrogation",
        "lag": "Retard",
        "poll_error": "Erreur de la dernière interrogation",
        "webhooks_today": "Notifications reçues",
        "invoices_today": "Factures émises",
        "credit_notes_today": "Avoirs émis",
        "pending": "Tâches en attente",
        "retrying": "En nouvel essai",
        "dead": "En échec",
        "skipped": "Ignorées",
        "quarantined": "Commandes en quarantaine",
        "alerts": "Alertes en cours",
        "no_alerts": "Aucune alerte : tout fonctionne.",
        "failures_link": "problème(s) à traiter",
    },
    "en": {
        "title": "Overview",
        "today": "Today",
        "platform": "Platform",
        "manual": "manual",
        "last_poll": "Last poll",
        "lag": "Lag",
        "poll_error": "Last poll error",
        "webhooks_today": "Webhooks received",
        "invoices_today": "Invoices issued",
        "credit_notes_today": "Credit notes issued",
        "pending": "Jobs waiting",
        "retrying": "Retrying",
        "dead": "Failed",
        "skipped": "Skipped",
        "quarantined": "Quarantined orders",
        "alerts": "Open alerts",
        "no_alerts": "No alert: everything works.",
        "failures_link": "problem(s) need you",
    },
}


def routes(dash: Dashboard) -> APIRouter:
    router = APIRouter()

    @router.get("/")
    def overview_page(request: Request) -> Response:
        session = dash.reader(request)
        svc = dash.services
        now = svc.store.clock()
        locale = dash.frame.locale(request, session)
        return dash.page(
            request, session, "overview.html", wording=WORDING,
            shops=shop_overviews(svc, now), alerts=open_alerts(svc),
            # the number the failures page and `quittance status` give: one count everywhere
            problems=failure_count(svc), since=day_start(svc, now),
            today=now.astimezone(svc.settings.seller.zoneinfo).date(),
            lag=lambda seconds: lag_words(seconds, locale),  # as `quittance status` says it
        )  # fmt: skip

    return router
