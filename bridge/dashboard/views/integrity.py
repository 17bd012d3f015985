"""The integrity page: when the numbering and the archive were last proven intact (or what
was found), and "Check now" — the same check as `quittance verify` (bridge/integrity.py),
run in the background; the page reloads itself while it runs (no JavaScript)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.audit import VerifyProblem
from bridge.dashboard.pages import private
from bridge.integrity import CheckRunner, latest_check

if TYPE_CHECKING:
    from bridge.dashboard.context import Dashboard

REFRESH_SECONDS = 5

WORDING = {
    "fr": {
        "title": "Intégrité de la numérotation et des archives",
        "intro": "La vérification relit chaque document émis : la suite des numéros, le chaînage "
        "de chaque facture à la précédente, le journal des événements et chaque PDF archivé.",
        "never_checked": "Jamais vérifiée : lancez une vérification.",
        "running": "Vérification en cours… la page se recharge toute seule.",
        "intact": "Numérotation et archives intactes : {checked} document(s) vérifié(s), le {at}.",
        "broken": "{count} problème(s) trouvé(s) sur {checked} document(s), le {at}.",
        "untold": "… et {count} autre(s) : `quittance verify` les liste tous.",
        "what": "Problème",
        "trigger": "Lancée depuis",
        "trigger_dashboard": "le tableau de bord",
        "trigger_schedule": "la vérification planifiée",
        "trigger_cli": "la ligne de commande",
        "duration": "Durée",
        "seconds": "s",
        "check_now": "Vérifier maintenant",
        "failed": "La dernière vérification n'a pas pu aller au bout :",
        "done_integrity_started": "Vérification lancée.",
        "done_integrity_running": "Une vérification est déjà en cours.",
        "pdf_altered": "le PDF archivé a été modifié depuis son émission",
        "pdf_missing": "le PDF archivé a disparu",
        "database": "base de données",
    },
    "en": {
        "title": "Numbering and archive integrity",
        "intro": "The check reads every issued document again: the sequence of numbers, the "
        "link of each invoice to the one before, the event log and every archived PDF.",
        "never_checked": "Never checked: run a check.",
        "running": "Check running… this page reloads by itself.",
        "intact": "Numbering and archive intact: {checked} document(s) checked, at {at}.",
        "broken": "{count} problem(s) found in {checked} document(s), at {at}.",
        "untold": "… and {count} more: `quittance verify` lists them all.",
        "what": "Problem",
        "trigger": "Started from",
        "trigger_dashboard": "the dashboard",
        "trigger_schedule": "the scheduled check",
        "trigger_cli": "the command line",
        "duration": "Duration",
        "seconds": "s",
        "check_now": "Check now",
        "failed": "The last check could not finish:",
        "done_integrity_started": "Check started.",
        "done_integrity_running": "A check is already running.",
        "pdf_altered": "the archived PDF was changed since it was issued",
        "pdf_missing": "the archived PDF is gone",
        "database": "database",
    },
}

# "PDF altered: /srv/archive/ab/abcd….pdf" (bridge/audit.py): the two an owner meets most.
_PDF_STATE = re.compile(r"^PDF (altered|missing): (.+)$")


def routes(dash: Dashboard) -> APIRouter:
    router = APIRouter()
    runner = CheckRunner(dash.services, "dashboard")  # one per app: one check at a time

    @router.get("/integrity")
    def integrity_page(request: Request) -> Response:
        session = dash.reader(request)
        running = runner.running
        latest = latest_check(dash.services)
        page = dash.page(
            request, session, "integrity.html", wording=WORDING, latest=latest,
            running=running, failure=None if running else runner.failure,
            refresh=REFRESH_SECONDS, problems=_plain(latest.problems if latest else []),
        )  # fmt: skip
        if running:  # the header too, for a client that reads no <meta>
            page.headers["Refresh"] = str(REFRESH_SECONDS)
        return page

    @router.post("/integrity/run")
    def run_integrity(request: Request, csrf: str = Form("")) -> Response:
        # An accountant may run it too: a check reads, it changes nothing.
        session = dash.form(request, csrf, owner=False)
        started = runner.start()
        dash.audit(request, session, "integrity.run", started=started)
        done = "integrity_started" if started else "integrity_running"
        return private(RedirectResponse(f"/integrity?done={done}", status_code=303))

    return router


def _plain(problems: list[VerifyProblem]) -> list[dict[str, str]]:
    """Each problem with the wording key of its plain-words version, when there is one; the
    others are shown as `quittance verify` words them (English, precise)."""
    rows = []
    for problem in problems:
        found = _PDF_STATE.match(problem.what)
        rows.append({
            "number": problem.number,
            "key": f"pdf_{found[1]}" if found else "",
            "detail": found[2] if found else problem.what,
        })  # fmt: skip
    return rows
