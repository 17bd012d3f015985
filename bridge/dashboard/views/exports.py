"""The exports page: the accountant's ZIP of a period, as `quittance export` writes it
(bridge/export.py), downloaded from the browser by the owner or the accountant.

The ZIP is written to a temporary folder on disk (never held in memory, whatever the period)
and streamed from there; the folder goes once the answer is sent. Set TMPDIR to a folder on
disk if the system's temporary folder lives in memory. Where `quittance export` exits 1 (a
PDF missing or altered, a number missing), the page shows the problems instead of the ZIP,
and offers it anyway: the CLI writes its file in that case too.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from bridge.accounting.export_files import ExportRequest, ExportResult
from bridge.dashboard.pages import private
from bridge.dashboard.refusals import InputRefused
from bridge.dashboard.views.paging import sale_day
from bridge.export import export_period

if TYPE_CHECKING:
    from bridge.dashboard.context import Dashboard
    from bridge.dashboard.sessions import Session

log = structlog.get_logger()

MAX_DAYS = 400  # a fiscal year and some: longer is a CLI job (`quittance export`)
PROGRESS_EVERY = 1000  # documents between two log lines of a long export

WORDING = {
    "fr": {
        "title": "Export comptable",
        "intro": "Un fichier ZIP pour votre comptable : chaque facture et avoir en PDF, le "
        "journal des ventes, le FEC, les agrégats d'e-reporting, le contrôle de la "
        "numérotation et les empreintes SHA-256 de chaque fichier.",
        "first": "Du",
        "last": "Au",
        "by_issue_date": "Date d'émission des documents, incluse.",
        "download": "Télécharger le ZIP",
        "download_anyway": "Télécharger le ZIP malgré tout",
        "bad_date": "« {field} » : une date est attendue, par exemple {example}.",
        "missing_date": "« {field} » : indiquez une date.",
        "bad_period": "Le premier jour ({first}) est après le dernier ({last}).",
        "too_long": "La période dépasse {days} jours : exportez-la en plusieurs fois, ou avec "
        "`quittance export`.",
        "unknown_shop": "Aucune boutique ne s'appelle « {shop} ».",
        "failed": "L'export n'a pas pu être écrit : {why}",
        "problems": "L'export de cette période a des problèmes (le ZIP les décrit aussi dans "
        "LISEZMOI.txt) :",
        "gaps": "Numérotation : un numéro manque ou n'est pas dans l'ordre (voir "
        "numerotation.txt).",
        "documents": "{count} document(s) dans la période.",
    },
    "en": {
        "title": "Accounting export",
        "intro": "A ZIP file for your accountant: every invoice and credit note as PDF, the "
        "sales journal, the FEC, the e-reporting aggregates, the numbering check and the "
        "SHA-256 of every file.",
        "first": "From",
        "last": "To",
        "by_issue_date": "The documents' issue date, included.",
        "download": "Download the ZIP",
        "download_anyway": "Download the ZIP anyway",
        "bad_date": "“{field}”: a date is expected, for example {example}.",
        "missing_date": "“{field}”: enter a date.",
        "bad_period": "The first day ({first}) is after the last one ({last}).",
        "too_long": "The period is longer than {days} days: export it in parts, or with "
        "`quittance export`.",
        "unknown_shop": "No shop is named “{shop}”.",
        "failed": "The export could not be written: {why}",
        "problems": "The export of this period has problems (its LISEZMOI.txt lists them too):",
        "gaps": "Numbering: a number is missing or out of order (see numerotation.txt).",
        "documents": "{count} document(s) in the period.",
    },
}


class Period(NamedTuple):
    first: date
    last: date
    shop: str | None


def routes(dash: Dashboard) -> APIRouter:
    router = APIRouter()

    @router.get("/exports")
    def exports_page(request: Request) -> Response:
        session = dash.reader(request)
        first, last = _last_month(_today(dash))
        form = {"first": first.isoformat(), "last": last.isoformat(), "shop": ""}
        return _page(dash, request, session, form)

    @router.post("/exports")
    def export_zip(
        request: Request, csrf: str = Form(""), first: str = Form(""), last: str = Form(""),
        shop: str = Form(""), anyway: str = Form(""),
    ) -> Response:  # fmt: skip
        session = dash.form(request, csrf, owner=False)  # the accountant's own page
        form = {"first": first, "last": last, "shop": shop}
        try:
            wanted = _period(dash, first, last, shop)
        except InputRefused as refusal:
            return _page(dash, request, session, form, error=refusal, status=400)
        folder = _scratch_folder()
        try:
            result = _export(dash, wanted, folder)
        except OSError as exc:  # a full disk, mostly
            shutil.rmtree(folder, ignore_errors=True)
            log.warning("dashboard.export_failed", error=str(exc))
            failed = InputRefused("failed", why=exc.strerror or str(exc))
            return _page(dash, request, session, form, error=failed, status=500)
        if _refused(result) and anyway != "1":
            shutil.rmtree(folder, ignore_errors=True)
            return _page(dash, request, session, form, result=result, status=422)
        dash.audit(
            request, session, "export.download", shop=wanted.shop, first=wanted.first.isoformat(),
            last=wanted.last.isoformat(), documents=result.documents,
            problems=len(result.problems), numbering_intact=result.numbering_intact,
        )  # fmt: skip
        return _download(wanted, folder)

    return router


SCRATCH_PREFIX = "quittance-export-"
SCRATCH_KEPT = timedelta(days=1)


def _scratch_folder() -> Path:
    """A new folder for one ZIP. A download cut short may never run its clean-up, so each
    export first removes what earlier ones left more than a day ago."""
    root = Path(tempfile.gettempdir())
    too_old = time.time() - SCRATCH_KEPT.total_seconds()
    for left in root.glob(SCRATCH_PREFIX + "*"):
        with contextlib.suppress(OSError):
            if left.is_dir() and left.stat().st_mtime < too_old:
                shutil.rmtree(left, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))


def _page(
    dash: Dashboard, request: Request, session: Session, form: dict[str, str], *,
    error: InputRefused | None = None, result: ExportResult | None = None, status: int = 200,
) -> Response:  # fmt: skip
    shops = [s.name for s in dash.settings.shops]
    return dash.page(
        request, session, "exports.html", wording=WORDING, status=status, form=form,
        shops=shops, error=error.shown() if error else None, result=result,
        gaps=result is not None and not result.numbering_intact and not result.numbering_shared,
    )  # fmt: skip


def _today(dash: Dashboard) -> date:
    return dash.store.clock().astimezone(dash.settings.seller.zoneinfo).date()


def _last_month(today: date) -> tuple[date, date]:
    """What the accountant usually asks for: the month before this one."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def _period(dash: Dashboard, first: str, last: str, shop: str) -> Period:
    """The export asked for, or an InputRefused naming what is wrong."""
    today = _today(dash)
    start, end = _day("first", first, today), _day("last", last, today)
    if start > end:
        raise InputRefused("bad_period", first=start.isoformat(), last=end.isoformat())
    if (end - start).days + 1 > MAX_DAYS:
        raise InputRefused("too_long", days=MAX_DAYS)
    if shop and shop not in {s.name for s in dash.settings.shops}:
        raise InputRefused("unknown_shop", shop=shop)
    return Period(start, end, shop or None)


def _day(field: str, value: str, today: date) -> date:
    if not value.strip():
        raise InputRefused("missing_date", field=field)
    day = sale_day(value.strip())  # a day of the years a sale can be in, else refused
    if day is None:
        raise InputRefused("bad_date", field=field, example=today.isoformat())
    return day


def _export(dash: Dashboard, wanted: Period, folder: Path) -> ExportResult:
    out = folder / "export.zip"

    def progress(done: int, expected: int) -> None:
        # Nobody watches a download's progress: a long one shows in the logs.
        if done % PROGRESS_EVERY == 0:
            log.info("dashboard.export_progress", done=done, expected=expected)

    svc = dash.services
    asked = ExportRequest(first=wanted.first, last=wanted.last, out=out, shop=wanted.shop)
    return export_period(
        svc.store, svc.archive, svc.settings, asked, now=svc.store.clock(), on_progress=progress
    )


def _refused(result: ExportResult) -> bool:
    """Where `quittance export` exits 1: a problem, or a gap in numbers not shared with
    other shops."""
    return bool(result.problems) or not (result.numbering_intact or result.numbering_shared)


def _download(wanted: Period, folder: Path) -> Response:
    name = f"quittance-{wanted.first.isoformat()}-{wanted.last.isoformat()}.zip"
    response = FileResponse(
        folder / "export.zip", media_type="application/zip", filename=name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )  # fmt: skip
    return private(response)
