"""`quittance stats`: what the customers answered to the satisfaction survey, per shop."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bridge.cli.app import ConfigOption, app, console, err_console, services_for, shop_or_exit

if TYPE_CHECKING:
    from rich.table import Table

    from bridge.services import Services
    from bridge.survey.stats import ShopReport, SurveyStats

# The survey is its own `[[surveys]]` table (shop = "…"): none, or enabled = false, asks nothing.
SURVEY_OFF = "survey off for this shop ([[surveys]] of this shop: none, or enabled = false)"
BAR_WIDTH = 30  # characters of the longest bar of a distribution


@app.command("stats")
def stats_command(
    shop: Annotated[
        str | None, typer.Option("--shop", help="Only this shop (its `name` in [[shops]]).")
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="First day, ISO date (UTC). Default: 29 days before --to."),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day, ISO date (UTC), included. Default: today.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Machine-readable output (percentages as strings).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """The satisfaction survey of the invoices emailed in a period: how many customers were
    asked and answered, the share of satisfied answers (CSAT: the top two scores), the
    scores, and the comments, newest first.

    Example: `quittance stats --shop boutique --from 2026-01-01 --to 2026-01-31 -c quittance.toml`
    """
    today = datetime.now(UTC).date()  # the clock is read at the edge
    since, until = _period_or_exit(_date_or_exit("--from", from_), _date_or_exit("--to", to), today)
    svc = services_for(config)
    try:
        if shop is not None:
            shop_or_exit(svc, shop)
        reports = _reports(svc, since, until, shop)
    finally:
        svc.close()
    if as_json:
        typer.echo(json.dumps(_as_json(reports, since, until), ensure_ascii=False, indent=2))
        return
    if not reports:
        console.print("no shop configured and no survey in the period", highlight=False)
    for n, report in enumerate(reports):
        if n:
            console.print()  # a blank line between shops
        _print_report(report, since, until)


def _date_or_exit(option: str, value: str | None) -> date | None:
    from bridge.export import SALE_YEARS

    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    # A survey follows a sale: none is dated outside the years a sale can be (and the year 1
    # or 9999 would overflow the period's bounds).
    if day is None or day.year not in SALE_YEARS:
        err_console.print(
            f"{option} {value!r}: expected an ISO date such as 2026-01-31, from "
            f"{SALE_YEARS[0]} to {SALE_YEARS[-1]}",
            highlight=False,
        )
        raise typer.Exit(2)
    return day


def _period_or_exit(
    first: date | None, last: date | None, today: date
) -> tuple[datetime, datetime]:
    from bridge.survey.stats import period_bounds

    try:
        return period_bounds(first, last, today=today)
    except ValueError as exc:
        err_console.print(f"--from/--to: {exc}", highlight=False)
        raise typer.Exit(2) from None


def _reports(svc: Services, since: datetime, until: datetime, shop: str | None) -> list[ShopReport]:
    """One report per shop (bridge/survey/stats.py: the dashboard shows the same)."""
    from bridge.survey.stats import shop_reports

    return shop_reports(svc.settings, svc.store.surveys_between(since, until, shop=shop), shop)


# --------------------------------------------------------------------------- Rich output


def _print_report(report: ShopReport, since: datetime, until: datetime) -> None:
    from rich.text import Text

    from bridge.survey.stats import period_days

    first, last = period_days(since, until)
    console.print(Text(f"{report.shop}: {first} → {last} (UTC)", style="bold"))
    stats = report.stats
    if stats.invited == 0 and report.survey_enabled is False:
        console.print(f"  {SURVEY_OFF}", markup=False, highlight=False)
        return
    console.print(
        f"  invited {stats.invited}, answered {stats.answered}, "
        f"response rate {_percent_text(stats.response_rate)}, CSAT {_percent_text(stats.csat)}, "
        f"low scores {stats.low_scores}",
        markup=False,
        highlight=False,
    )
    if report.survey_enabled is False:  # answers of before it was turned off
        console.print(f"  now {SURVEY_OFF}", markup=False, highlight=False)
    for scale, counts in stats.distribution.items():
        console.print(_distribution_table(scale, counts))
    if stats.comments:
        console.print(_comments_table(stats))


def _percent_text(value: Decimal | None) -> str:
    return "—" if value is None else f"{value} %"


def _distribution_table(scale: int, counts: dict[int, int]) -> Table:
    from rich.table import Table

    table = Table(title=f"{scale}-point scale", title_justify="left")
    table.add_column("score", justify="right")
    table.add_column("answers", justify="right")
    table.add_column("", no_wrap=True)
    most = max(counts.values())
    for score in sorted(counts, reverse=True):  # best first, as people read a rating
        table.add_row(str(score), str(counts[score]), _bar(counts[score], most))
    return table


def _bar(count: int, most: int) -> str:
    # Scaled to the most chosen score; any answer shows at least one block, none shows none.
    if count == 0:
        return ""
    return "█" * max(1, round(count * BAR_WIDTH / most))


def _comments_table(stats: SurveyStats) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Comments (newest first)", title_justify="left")
    for column in ("number", "order", "score", "date", "comment"):
        table.add_column(column, overflow="fold")
    for c in stats.comments:
        day = c.answered_at.date().isoformat() if c.answered_at else ""
        # Text: a customer's words are never read as Rich markup ("[red]" stays "[red]").
        table.add_row(
            Text(c.number), Text(c.order_id), f"{c.score}/{c.scale}", day, Text(c.comment)
        )
    return table


# --------------------------------------------------------------------------- JSON


def _as_json(reports: Sequence[ShopReport], since: datetime, until: datetime) -> dict[str, Any]:
    from bridge.survey.stats import period_days

    first, last = period_days(since, until)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "since": since.isoformat(),
        "until": until.isoformat(),
        "shops": [_report_json(report) for report in reports],
    }


def _report_json(report: ShopReport) -> dict[str, Any]:
    stats = report.stats
    return {
        "shop": report.shop,
        "survey_enabled": report.survey_enabled,
        "invited": stats.invited,
        "answered": stats.answered,
        "response_rate": _decimal_json(stats.response_rate),
        "csat": _decimal_json(stats.csat),
        "low_scores": stats.low_scores,
        # JSON keys are strings: "3" → {"1": 0, "2": 4, "3": 9}
        "distribution": {
            str(scale): {str(score): n for score, n in counts.items()}
            for scale, counts in stats.distribution.items()
        },
        "comments": [
            {
                "number": c.number,
                "order_id": c.order_id,
                "score": c.score,
                "scale": c.scale,
                "answered_at": c.answered_at.isoformat() if c.answered_at else None,
                "comment": c.comment,
            }
            for c in stats.comments
        ],
    }


def _decimal_json(value: Decimal | None) -> str | None:
    # A string: a float would turn 33.3 into 33.299999… in some readers.
    return None if value is None else str(value)
