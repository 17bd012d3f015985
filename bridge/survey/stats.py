"""Survey figures over a list of survey records: pure functions, no store, no clock.

`quittance stats` and the dashboard's satisfaction page read the records
(`Store.surveys_between`) and the day at their edge, and hand them here. Percentages are
Decimal with one decimal (ROUND_HALF_UP), never float: the same figures must come out of the
table, of `--json` and of the page, on every machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from bridge.config import Settings

# How long the default period is (today included), when neither --from nor --to is given.
DEFAULT_PERIOD_DAYS = 30
ONE_DECIMAL = Decimal("0.1")
HUNDRED = Decimal(100)


class SurveyLike(Protocol):
    """What the figures read of a `SurveyRecord` (read-only, like the frozen record)."""

    @property
    def shop(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def order_id(self) -> str: ...
    @property
    def scale(self) -> int: ...
    @property
    def invited_at(self) -> datetime: ...
    @property
    def score(self) -> int | None: ...
    @property
    def comment(self) -> str | None: ...
    @property
    def answered_at(self) -> datetime | None: ...


class SurveyComment(NamedTuple):
    number: str
    order_id: str
    score: int
    scale: int
    answered_at: datetime | None
    comment: str


@dataclass(frozen=True, slots=True)
class SurveyStats:
    invited: int
    answered: int
    response_rate: Decimal | None  # percent of the invited who answered; None: nobody invited
    csat: Decimal | None  # percent of the answers in the top two scores; None: no answer
    distribution: dict[int, dict[int, int]]  # scale → score → answers, every score present
    low_scores: int  # answers in the bottom two scores (the ones the owner is told about)
    comments: list[SurveyComment]  # newest first, non-empty comments only


def percent(part: int, whole: int) -> Decimal | None:
    """`part` of `whole` in percent, one decimal, half up; None when `whole` is 0."""
    if whole == 0:
        return None
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(ONE_DECIMAL, ROUND_HALF_UP)


def is_top_two(score: int, scale: int) -> bool:
    """2–3 on a 3-point scale, 4–5 on a 5-point one: what counts as satisfied."""
    return score >= scale - 1


def is_bottom_two(score: int) -> bool:
    """1–2 on any scale. On a 3-point scale the middle score is both top and bottom two: it
    counts as satisfied and is still worth the owner's look."""
    return score <= 2


def survey_stats(records: Iterable[SurveyLike]) -> SurveyStats:
    """The figures of `records`, whatever their shops and scales (call per shop to split)."""
    rows = list(records)
    for row in rows:
        _check_score(row)
    scores = [(r.score, r.scale) for r in rows if r.score is not None]
    return SurveyStats(
        invited=len(rows),
        answered=len(scores),
        response_rate=percent(len(scores), len(rows)),
        csat=percent(sum(is_top_two(s, scale) for s, scale in scores), len(scores)),
        distribution=distribution(rows),
        low_scores=sum(is_bottom_two(s) for s, _ in scores),
        comments=comments(rows),
    )


def _check_score(record: SurveyLike) -> None:
    # The store only takes scores of the record's scale: anything else is a damaged row, and
    # dropping it silently would make the distribution disagree with the answer count.
    if record.scale < 2:
        raise ValueError(f"survey of {record.number}: scale {record.scale} (at least 2 points)")
    if record.score is not None and not 1 <= record.score <= record.scale:
        raise ValueError(
            f"survey of {record.number}: score {record.score} outside 1..{record.scale}"
        )


def distribution(records: Iterable[SurveyLike]) -> dict[int, dict[int, int]]:
    """scale → score → answers, for every scale invited with, every score 1..scale listed
    (0 when nobody chose it): a table with a missing row reads as a bug."""
    out: dict[int, dict[int, int]] = {}
    for record in records:
        counts = out.setdefault(record.scale, dict.fromkeys(range(1, record.scale + 1), 0))
        if record.score is not None:
            counts[record.score] += 1
    return dict(sorted(out.items()))


def comments(records: Iterable[SurveyLike]) -> list[SurveyComment]:
    """The answers with a comment, newest first (number as the tie-break: a stable list)."""
    found = [
        SurveyComment(r.number, r.order_id, r.score, r.scale, r.answered_at, r.comment.strip())
        for r in records
        if r.score is not None and r.comment and r.comment.strip()
    ]
    # Newest first; an answer without its time (should not happen) goes last.
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda c: (c.answered_at or oldest, c.number), reverse=True)


def by_shop(records: Iterable[SurveyLike]) -> dict[str, list[SurveyLike]]:
    """The records grouped by shop, shops in name order."""
    out: dict[str, list[SurveyLike]] = {}
    for record in records:
        out.setdefault(record.shop, []).append(record)
    return dict(sorted(out.items()))


def period_bounds(
    from_: date | None, to: date | None, *, today: date, zone: tzinfo = UTC
) -> tuple[datetime, datetime]:
    """[since, until) for the inclusive days `from_`..`to` of `zone` (the CLI's are UTC days,
    the dashboard's the seller's): until is the midnight after `to`, so the whole last day
    counts. Default: the 30 days ending `today` (or ending `to`), `to` defaulting to today."""
    last = to or today
    try:
        first = from_ or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        if first > last:
            raise ValueError(f"the first day {first} is after the last day {last}")
        since, until = _midnight(first, zone), _midnight(last + timedelta(days=1), zone)
        # What the store and `period_days` do with them: at the calendar's edge (0001-01-01,
        # 9999-12-31) either would overflow later, far from the day that was asked.
        since.astimezone(UTC), until.astimezone(UTC)
    except OverflowError:
        raise ValueError("the period reaches the calendar's first or last day") from None
    return since, until


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def period_days(since: datetime, until: datetime, zone: tzinfo = UTC) -> tuple[date, date]:
    """The inclusive days of a period made by `period_bounds` (what the report shows)."""
    return since.astimezone(zone).date(), (until.astimezone(zone) - timedelta(days=1)).date()


@dataclass(frozen=True, slots=True)
class ShopReport:
    shop: str
    survey_enabled: bool | None  # None: the shop is no longer configured, its data remains
    stats: SurveyStats


def shop_reports(
    settings: Settings, records: Iterable[SurveyLike], shop: str | None = None
) -> list[ShopReport]:
    """One report per shop of `records` (the surveys of a period): the enabled shops in
    config order, then any other shop with survey data in the period (disabled since, or
    removed from the config: its answers still count). `shop`: that one only."""
    grouped = by_shop(records)
    configured = [s.name for s in settings.shops]
    if shop is not None:
        names = [shop]
    else:
        enabled = [s.name for s in settings.shops if s.enabled]
        names = [*enabled, *(n for n in grouped if n not in enabled)]
    return [
        ShopReport(
            name,
            settings.survey_for(name).enabled if name in configured else None,
            survey_stats(grouped.get(name, [])),
        )
        for name in names
    ]
