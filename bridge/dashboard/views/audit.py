"""The audit trail, for owners only: every sign-in (and refused one), download, resend,
correction and retry done through the dashboard, newest first — the "dashboard.*" events
of the append-only log, kept for good."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.dashboard.views.documents import document_href
from bridge.dashboard.views.paging import page_id
from bridge.store.dashboard import AUDIT_PREFIX
from bridge.store.records import EventRecord

if TYPE_CHECKING:
    from bridge.dashboard.context import Dashboard

PAGE = 100
# Said in their own columns; the rest of an event's detail is listed as it is.
SHOWN = ("user", "role", "client")

WORDING = {
    "fr": {
        "title": "Journal des actions",
        "intro": "Qui a fait quoi dans le tableau de bord, du plus récent au plus ancien. "
        "Ce journal ne peut être ni modifié ni effacé.",
        "empty": "Aucune action enregistrée.",
        "when": "Quand",
        "who": "Qui",
        "action": "Action",
        "about": "Document / commande",
        "client": "Adresse du poste",
        "details": "Détails",
        "older": "Plus anciennes",
        "newest": "Les plus récentes",
        "ignored_before": "Page inconnue, retour aux plus récentes :",
        "action_login": "Connexion",
        "action_login.failed": "Connexion refusée (mauvais identifiant ou mot de passe)",
        "action_login.throttled": "Connexion bloquée (trop de tentatives)",
        "action_logout": "Déconnexion",
        "action_document.download": "Document téléchargé",
        "action_document.resend": "Document renvoyé",
        "action_document.credit": "Avoir émis",
        "action_failure.retry": "Problème relancé",
        "action_failure.retry_all": "Tous les problèmes relancés",
        "action_integrity.run": "Contrôle d'intégrité lancé",
        "action_export.download": "Export téléchargé",
    },
    "en": {
        "title": "Audit log",
        "intro": "Who did what in the dashboard, newest first. This log can be neither "
        "changed nor erased.",
        "empty": "No action recorded.",
        "when": "When",
        "who": "Who",
        "action": "Action",
        "about": "Document / order",
        "client": "Client address",
        "details": "Details",
        "older": "Older",
        "newest": "Newest",
        "ignored_before": "Unknown page, back to the newest:",
        "action_login": "Signed in",
        "action_login.failed": "Sign-in refused (wrong user name or password)",
        "action_login.throttled": "Sign-in blocked (too many attempts)",
        "action_logout": "Signed out",
        "action_document.download": "Document downloaded",
        "action_document.resend": "Document sent again",
        "action_document.credit": "Credit note issued",
        "action_failure.retry": "Failure retried",
        "action_failure.retry_all": "All failures retried",
        "action_integrity.run": "Integrity check run",
        "action_export.download": "Export downloaded",
    },
}


def routes(dash: Dashboard) -> APIRouter:
    router = APIRouter()

    @router.get("/audit")
    def audit_page(request: Request, before: str = "") -> Response:
        session = dash.owner(request)
        page = page_id(before)
        found = dash.store.audit_trail(PAGE + 1, page)
        return dash.page(
            request, session, "audit.html", wording=WORDING,
            rows=[_row(event) for event in found[:PAGE]],
            older=f"/audit?before={found[PAGE - 1].id}" if len(found) > PAGE else "",
            paged=page is not None, ignored=before[:40] if before and page is None else "",
            document_href=document_href,
        )  # fmt: skip

    return router


def _row(event: EventRecord) -> dict[str, Any]:
    detail = event.detail or {}
    return {
        "id": event.id,
        "at": event.at,
        "action": event.kind.removeprefix(AUDIT_PREFIX),
        "user": str(detail.get("user") or "—"),
        "role": str(detail.get("role") or ""),
        "client": str(detail.get("client") or "—"),
        "shop": event.shop or "",
        "order_id": event.order_id or "",
        "number": event.invoice_number or "",
        "extra": sorted((str(k), str(v)) for k, v in detail.items() if k not in SHOWN),
    }
