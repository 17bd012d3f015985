"""What needs the owner: dead jobs, skips they can act on and quarantined orders, newest
first, 100 a page, each in plain words — the very list `quittance failures` prints
(bridge/overview.py), with a button for what `quittance retry` does; then, apart and not
counted, the jobs the worker retries by itself."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.dashboard.pages import private
from bridge.dashboard.views.documents import document_href
from bridge.overview import (
    Failure,
    failure_by_key,
    failure_summary,
    failures,
    parse_page_key,
    plain_reason,
    retry_all,
    retry_failure,
    retrying,
)

if TYPE_CHECKING:
    from bridge.dashboard.context import Dashboard
    from bridge.dashboard.sessions import Session

# What `retry_failure` can replay: a retrying job is already tried again by the worker.
RETRYABLE = ("dead", "skipped", "quarantined")
PAGE = 100  # failures a page; the retrying section shows as many, newest first

WORDING = {
    "fr": {
        "title": "Problèmes à traiter",
        "intro": "Ce que Quittance n'a pas pu terminer seul, du plus récent au plus ancien.",
        "none_good": "Aucun problème : chaque commande est traitée ou en cours.",
        "none_shop": "Aucun problème pour cette boutique.",
        "filter": "Filtrer",
        "step": "Étape",
        "document": "Document",
        "since": "Depuis",
        "what_to_do": "Ce qu'il s'est passé",
        "raw_reason": "Raison technique",
        "action": "Action",
        "retry": "Relancer",
        "retries_itself": "Nouvel essai automatique",
        "retry_all": "Tout relancer",
        "retry_all_hint": "Relance toutes les tâches en échec et toutes les commandes en "
        "quarantaine, toutes boutiques confondues. Les étapes ignorées se relancent une par une, "
        "une fois leur cause corrigée.",
        "state_dead": "en échec",
        "state_skipped": "ignorée",
        "state_retry": "nouvel essai prévu",
        "state_quarantined": "en quarantaine",
        "step_ingest": "Lecture de la commande",
        "step_issue": "Émission",
        "step_credit": "Avoir",
        "step_render": "Mise en page (PDF)",
        "step_email": "E-mail",
        "step_sms": "SMS",
        "step_zendesk": "Zendesk",
        "step_intercom": "Intercom",
        "step_attach": "Note sur la commande",
        "step_portal_link": "Lien de l'espace client",
        "step_survey_alert": "Alerte satisfaction",
        "step_quarantine": "Commande en quarantaine",
        "done_retried": "Relancé :",
        "done_already": "Déjà traité, plus rien à relancer :",
        "done_retried_all": "Relancé :",
        "done_nothing": "Rien à relancer.",
        "jobs": "tâche(s)",
        "orders": "commande(s)",
        "older": "Plus anciens",
        "newest": "Les plus récents",
        "ignored_before": "Page inconnue, retour aux plus récents :",
        "retrying_title": "Nouvel essai automatique",
        "retrying_intro": "Quittance réessaie ces tâches tout seul : rien à faire, sauf si "
        "elles finissent en échec. Elles ne comptent pas parmi les problèmes.",
        "retrying_more": "plus récentes affichées sur",
        "nothing_to_do": "étape(s) ignorée(s) sans rien à faire (pas de mobile pour un SMS, "
        "pas de ticket d'assistance, un remboursement sans montant) : ce ne sont pas des "
        "problèmes, elles restent dans le",
        "deliveries_log": "journal des envois",
    },
    "en": {
        "title": "Failures",
        "intro": "What Quittance could not finish on its own, newest first.",
        "none_good": "No failure: every order is done or on its way.",
        "none_shop": "No failure for this shop.",
        "filter": "Filter",
        "step": "Step",
        "document": "Document",
        "since": "Since",
        "what_to_do": "What happened",
        "raw_reason": "Technical reason",
        "action": "Action",
        "retry": "Retry",
        "retries_itself": "Retried automatically",
        "retry_all": "Retry all",
        "retry_all_hint": "Replays every failed job and every quarantined order, in every "
        "shop. Skipped steps are retried one by one, once their cause is fixed.",
        "state_dead": "failed",
        "state_skipped": "skipped",
        "state_retry": "retry planned",
        "state_quarantined": "quarantined",
        "step_ingest": "Reading the order",
        "step_issue": "Issuing",
        "step_credit": "Credit note",
        "step_render": "Layout (PDF)",
        "step_email": "Email",
        "step_sms": "SMS",
        "step_zendesk": "Zendesk",
        "step_intercom": "Intercom",
        "step_attach": "Order note",
        "step_portal_link": "Customer portal link",
        "step_survey_alert": "Satisfaction alert",
        "step_quarantine": "Quarantined order",
        "done_retried": "Queued again:",
        "done_already": "Already handled, nothing left to retry:",
        "done_retried_all": "Queued again:",
        "done_nothing": "Nothing to retry.",
        "jobs": "job(s)",
        "orders": "order(s)",
        "older": "Older",
        "newest": "Newest",
        "ignored_before": "Unknown page, back to the newest:",
        "retrying_title": "Retrying by themselves",
        "retrying_intro": "Quittance tries these jobs again on its own: nothing to do unless "
        "they end up failed. They are not counted as problems.",
        "retrying_more": "newest shown of",
        "nothing_to_do": "step(s) skipped with nothing to do (no mobile for a text, no "
        "helpdesk ticket, a refund of nothing): not problems, they stay in the",
        "deliveries_log": "deliveries log",
    },
}


def routes(dash: Dashboard) -> APIRouter:
    router = APIRouter()

    @router.get("/failures")
    def failures_page(request: Request, shop: str = "", before: str = "") -> Response:
        session = dash.reader(request)
        svc = dash.services
        locale = dash.frame.locale(request, session)
        only = shop or None
        after = parse_page_key(before)
        page = failures(svc, limit=PAGE + 1, before=after, shop=only)
        rows = page[:PAGE]
        return dash.page(
            request, session, "failures.html", wording=WORDING,
            rows=[_row(f, locale) for f in rows], shop=shop, shops=_shops(dash, rows),
            summary=failure_summary(svc, shop=only),
            again=[_row(f, locale) for f in retrying(svc, limit=PAGE, shop=only)],
            can_retry_all=_can_retry_all(dash), document_href=document_href,
            older=_href(shop, before=rows[-1].page_key) if len(page) > PAGE else "",
            newest=_href(shop), paged=after is not None,
            ignored_before=before[:40] if before and after is None else "",
        )  # fmt: skip

    @router.post("/failures/retry")
    def retry_one(
        request: Request, key: str = Form(""), csrf: str = Form(""), shop: str = Form("")
    ) -> Response:
        session = dash.form(request, csrf)
        failure = _named(dash, key)
        if failure is None or not retry_failure(dash.services, key):
            # a second click, another tab, `quittance retry` meanwhile: nothing went wrong
            return _done("already", _what(failure) if failure else key, shop)
        dash.audit(
            request, session, "failure.retry", key=key, shop=failure.shop or None,
            order_id=failure.order_id or None, invoice_number=failure.number or None,
        )  # fmt: skip
        return _done("retried", _what(failure), shop)

    @router.post("/failures/retry-all")
    def retry_everything(request: Request, csrf: str = Form("")) -> Response:
        session = dash.form(request, csrf)
        jobs, orders = retry_all(dash.services)
        dash.audit(request, session, "failure.retry_all", jobs=jobs, orders=orders)
        if not jobs and not orders:
            return _done("nothing", "")
        return _done("retried_all", _counts(dash, request, session, jobs, orders))

    return router


def _row(failure: Failure, locale: str) -> dict[str, object]:
    return {
        "failure": failure,
        "plain": plain_reason(failure, locale),
        "retryable": failure.state in RETRYABLE,
    }


def _shops(dash: Dashboard, shown: list[Failure]) -> list[str]:
    # every shop that has something to show, not only the ones on this page (one GROUP BY
    # each): a shop gone from the config keeps its failures
    store = dash.store
    with_jobs = {
        name for name, states in store.job_counts_by_shop().items()
        if any(states.get(state) for state in ("dead", "skipped", "retry"))
    }  # fmt: skip
    configured = {shop.name for shop in dash.settings.shops}
    found = with_jobs | set(store.quarantined_counts()) | {f.shop for f in shown}
    return sorted(configured | (found - {""}))


def _can_retry_all(dash: Dashboard) -> bool:
    # what `retry_all` replays: dead jobs and quarantined orders, counted, not listed
    store = dash.store
    return bool(store.attention_job_count(("dead",)) or store.held_order_count())


def _href(shop: str, **more: str) -> str:
    query = {"shop": shop, **more}
    kept = {name: value for name, value in query.items() if value}
    return "/failures" + (f"?{urlencode(kept)}" if kept else "")


def _named(dash: Dashboard, key: str) -> Failure | None:
    # Read by its key, whatever page showed it: its shop and order go in the audit line.
    return failure_by_key(dash.services, key)


def _what(failure: Failure) -> str:
    return failure.number or failure.order_id or failure.key


def _counts(dash: Dashboard, request: Request, session: Session, jobs: int, orders: int) -> str:
    # Worded now, in the owner's language: the notice only carries a short escaped text.
    words = WORDING[dash.frame.locale(request, session)]
    return f"{jobs} {words['jobs']}, {orders} {words['orders']}"


def _done(key: str, what: str, shop: str = "") -> Response:
    query = urlencode({**({"shop": shop} if shop else {}), "done": key, "what": what[:120]})
    return private(RedirectResponse(f"/failures?{query}", status_code=303))
