"""The satisfaction page: per shop, what the customers answered to the survey of the
invoices emailed in a period — the same figures as `quittance stats` (bridge/survey/stats.py),
over the seller's days rather than UTC ones."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.dashboard.refusals import InputRefused
from bridge.dashboard.views.paging import sale_day
from bridge.survey.stats import ShopReport, period_bounds, period_days, shop_reports

if TYPE_CHECKING:
    from bridge.dashboard.context import Dashboard

COMMENTS_SHOWN = 50  # the newest; `quittance stats` lists them all

WORDING = {
    "fr": {
        "title": "Satisfaction",
        "since": "Du",
        "until": "Au",
        "show": "Afficher",
        "period": "Du {first} au {last}",
        "bad_date": "« {field} » : une date est attendue, par exemple {example}.",
        "bad_period": "Le premier jour ({first}) est après le dernier ({last}).",
        "unknown_shop": "Aucune boutique ne s'appelle « {shop} ».",
        "invited": "Questionnaires envoyés",
        "answered": "Réponses",
        "response_rate": "Taux de réponse",
        "csat": "Clients satisfaits (CSAT)",
        "low_scores": "Notes basses",
        "survey_off": "Questionnaire désactivé pour cette boutique.",
        "now_off": "Questionnaire désactivé depuis : ces réponses sont antérieures.",
        "removed": "Boutique retirée de la configuration : ses réponses comptent encore.",
        "scale": "Notes sur {scale}",
        "score": "Note",
        "answers": "Réponses",
        "comments": "Commentaires récents",
        "comment": "Commentaire",
        "no_comment": "Aucun commentaire sur la période.",
        "no_shop": "Aucune boutique configurée et aucun questionnaire sur la période.",
    },
    "en": {
        "title": "Satisfaction",
        "since": "From",
        "until": "To",
        "show": "Show",
        "period": "From {first} to {last}",
        "bad_date": "“{field}”: a date is expected, for example {example}.",
        "bad_period": "The first day ({first}) is after the last one ({last}).",
        "unknown_shop": "No shop is named “{shop}”.",
        "invited": "Surveys sent",
        "answered": "Answers",
        "response_rate": "Response rate",
        "csat": "Satisfied customers (CSAT)",
        "low_scores": "Low scores",
        "survey_off": "Survey turned off for this shop.",
        "now_off": "Survey turned off since: these answers are from before.",
        "removed": "Shop removed from the configuration: its answers still count.",
        "scale": "Scores out of {scale}",
        "score": "Score",
        "answers": "Answers",
        "comments": "Recent comments",
        "comment": "Comment",
        "no_comment": "No comment in the period.",
        "no_shop": "No shop configured and no survey in the period.",
    },
}


def routes(dash: Dashboard) -> APIRouter:
    router = APIRouter()

    @router.get("/satisfaction")
    def satisfaction_page(
        request: Request, since: str = "", until: str = "", shop: str = ""
    ) -> Response:
        session = dash.reader(request)
        svc = dash.services
        zone = svc.settings.seller.zoneinfo
        today = svc.store.clock().astimezone(zone).date()
        shops = [s.name for s in svc.settings.shops]
        filters = {"since": since, "until": until, "shop": shop}
        context: dict[str, Any] = {"filters": filters, "shops": shops, "reports": [],
                                   "error": None, "first": None, "last": None,
                                   "day": _day_text}  # fmt: skip
        try:
            start, end = _period(since, until, today, zone)
            if shop and shop not in shops:
                raise InputRefused("unknown_shop", shop=shop)
        except InputRefused as bad:
            context["error"] = bad.shown()
            return dash.page(request, session, "satisfaction.html", wording=WORDING,
                             status=400, **context)  # fmt: skip
        records = svc.store.surveys_between(start, end, shop=shop or None)
        first, last = context["first"], context["last"] = period_days(start, end, zone)
        # The form shows the period the figures are of, defaults included.
        filters.update(since=first.isoformat(), until=last.isoformat())
        context["reports"] = [_view(r) for r in shop_reports(svc.settings, records, shop or None)]
        return dash.page(request, session, "satisfaction.html", wording=WORDING, **context)

    return router


def _period(since: str, until: str, today: date, zone: tzinfo) -> tuple[datetime, datetime]:
    first, last = _day("since", since, today), _day("until", until, today)
    try:
        return period_bounds(first, last, today=today, zone=zone)
    except ValueError:
        raise InputRefused("bad_period", first=first, last=last or today) from None


def _day(name: str, value: str, today: date) -> date | None:
    if not value.strip():
        return None
    day = sale_day(value.strip())  # a day of the years a sale can be in, else refused
    if day is None:
        raise InputRefused("bad_date", field=name, example=today.isoformat())
    return day


def _day_text(day: date, locale: str) -> str:
    return format_date(day, "long", locale="fr_FR" if locale == "fr" else "en_GB")


def _view(report: ShopReport) -> dict[str, Any]:
    """A report as the template shows it: each distribution with its bars' widths."""
    stats = report.stats
    return {
        "shop": report.shop,
        "survey_enabled": report.survey_enabled,
        "stats": stats,
        "scales": [_bars(scale, counts) for scale, counts in stats.distribution.items()],
        "comments": stats.comments[:COMMENTS_SHOWN],
    }


def _bars(scale: int, counts: dict[int, int]) -> dict[str, Any]:
    # Scaled to the most chosen score, as the CLI's bars: the longest is the full width.
    most = max(counts.values()) or 1
    return {
        "scale": scale,
        "rows": [
            {"score": score, "count": counts[score], "width": round(counts[score] * 100 / most)}
            for score in sorted(counts, reverse=True)  # best first, as people read a rating
        ],
    }
