"""The survey figures (bridge/survey/stats.py): rates, CSAT, distribution, comments, periods.

Records are stand-ins with the attributes of `SurveyRecord`: the figures read nothing else.
Every instant is computed from now, so the tests hold whatever day they run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.survey.stats import by_shop, period_bounds, survey_stats

NOW = datetime.now(UTC)
TODAY = NOW.date()


@dataclass(frozen=True, slots=True)
class Survey:
    shop: str = "boutique"
    number: str = "FA-000001"
    order_id: str = "1001"
    scale: int = 3
    invited_at: datetime = NOW - timedelta(days=2)
    score: int | None = None
    comment: str | None = None
    answered_at: datetime | None = None


def answered(
    score: int,
    *,
    scale: int = 3,
    hours_ago: int = 1,
    number: str = "FA-000001",
    order_id: str = "1001",
    comment: str | None = None,
) -> Survey:
    return Survey(
        number=number,
        order_id=order_id,
        scale=scale,
        score=score,
        comment=comment,
        answered_at=NOW - timedelta(hours=hours_ago),
    )


# --------------------------------------------------------------------------- counts and rates


def test_no_record_gives_no_rate() -> None:
    stats = survey_stats([])
    assert (stats.invited, stats.answered, stats.response_rate, stats.csat) == (0, 0, None, None)


def test_invitations_without_answer_give_a_zero_rate_and_no_csat() -> None:
    stats = survey_stats([Survey(), Survey()])
    assert (stats.response_rate, stats.csat) == (Decimal("0.0"), None)


def test_response_rate_is_answers_over_invitations_with_one_decimal() -> None:
    assert survey_stats([answered(3), Survey(), Survey()]).response_rate == Decimal("33.3")


def test_response_rate_rounds_half_up() -> None:
    # 1/16 = 6.25 %: half up gives 6.3 where banker's rounding would give 6.2
    assert survey_stats([answered(3), *[Survey()] * 15]).response_rate == Decimal("6.3")


def test_percentages_are_decimals() -> None:
    stats = survey_stats([answered(3), Survey()])
    assert isinstance(stats.response_rate, Decimal) and isinstance(stats.csat, Decimal)


def test_csat_counts_the_top_two_scores_of_a_3_point_scale() -> None:
    stats = survey_stats([answered(3), answered(2), answered(1), answered(1)])
    assert stats.csat == Decimal("50.0")


def test_csat_counts_the_top_two_scores_of_a_5_point_scale() -> None:
    stats = survey_stats([answered(s, scale=5) for s in (5, 4, 3, 2, 1)])
    assert stats.csat == Decimal("40.0")


def test_csat_reads_each_answer_on_its_own_scale() -> None:
    # a 3 is satisfied on a 3-point scale, not on a 5-point one
    assert survey_stats([answered(3, scale=3), answered(3, scale=5)]).csat == Decimal("50.0")


def test_low_scores_are_the_bottom_two_of_any_scale() -> None:
    records = [answered(s, scale=5) for s in (5, 4, 3, 2, 1)] + [answered(2), answered(3)]
    assert survey_stats(records).low_scores == 3


# --------------------------------------------------------------------------- distribution


def test_distribution_lists_every_score_of_the_scale() -> None:
    assert survey_stats([answered(3), answered(3)]).distribution == {3: {1: 0, 2: 0, 3: 2}}


def test_distribution_keeps_scales_apart() -> None:
    stats = survey_stats([answered(2), answered(4, scale=5)])
    assert stats.distribution == {3: {1: 0, 2: 1, 3: 0}, 5: {1: 0, 2: 0, 3: 0, 4: 1, 5: 0}}


def test_distribution_shows_a_scale_nobody_answered_on() -> None:
    assert survey_stats([Survey(scale=5)]).distribution == {5: dict.fromkeys(range(1, 6), 0)}


def test_a_score_outside_its_scale_is_refused() -> None:
    with pytest.raises(ValueError, match=r"FA-000009.*score 4 outside 1\.\.3"):
        survey_stats([answered(4, number="FA-000009")])


# --------------------------------------------------------------------------- comments


def test_comments_come_newest_first() -> None:
    records = [
        answered(1, number="FA-1", comment="old", hours_ago=30),
        answered(3, number="FA-2", comment="new", hours_ago=1),
    ]
    assert [c.comment for c in survey_stats(records).comments] == ["new", "old"]


def test_comments_carry_the_number_order_score_scale_and_time() -> None:
    record = answered(2, number="FA-7", order_id="1007", comment="Colis abîmé")
    (comment,) = survey_stats([record]).comments
    assert comment == ("FA-7", "1007", 2, 3, record.answered_at, "Colis abîmé")


def test_empty_and_erased_comments_are_left_out() -> None:
    records = [answered(3, comment=""), answered(3, comment="  \n"), answered(3, comment=None)]
    assert survey_stats(records).comments == []


# --------------------------------------------------------------------------- shops


def test_by_shop_groups_the_records_of_each_shop() -> None:
    a, b, c = Survey(shop="b"), Survey(shop="a"), Survey(shop="b")
    assert by_shop([a, b, c]) == {"a": [b], "b": [a, c]}


# --------------------------------------------------------------------------- periods


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_default_period_is_the_30_days_ending_today() -> None:
    since, until = period_bounds(None, None, today=TODAY)
    assert (since, until) == (midnight(TODAY - timedelta(days=29)), midnight(TODAY) + timedelta(1))


def test_the_last_day_counts_whole() -> None:
    last = TODAY - timedelta(days=3)
    _, until = period_bounds(last, last, today=TODAY)
    assert until == midnight(last + timedelta(days=1))


def test_a_period_from_a_day_ends_today() -> None:
    first = TODAY - timedelta(days=90)
    assert period_bounds(first, None, today=TODAY) == (
        midnight(first),
        midnight(TODAY + timedelta(days=1)),
    )


def test_a_period_to_a_day_is_the_30_days_ending_it() -> None:
    last = TODAY - timedelta(days=60)
    since, _ = period_bounds(None, last, today=TODAY)
    assert since == midnight(last - timedelta(days=29))


def test_period_bounds_are_utc() -> None:
    since, until = period_bounds(None, None, today=TODAY)
    assert since.utcoffset() == until.utcoffset() == timedelta(0)


def test_a_period_ending_before_it_starts_is_refused() -> None:
    first, last = TODAY, TODAY - timedelta(days=1)
    with pytest.raises(ValueError, match=f"first day {first} is after the last day {last}"):
        period_bounds(first, last, today=TODAY)


# --------------------------------------------------------------------------- properties


# Blank and erased comments beside real ones (free text would only slow the draws down).
COMMENTS = st.sampled_from([None, "", "  ", "Parfait", "Colis abîmé"])


@st.composite
def surveys(draw: st.DrawFn) -> Survey:
    scale = draw(st.sampled_from([3, 5]))
    score = draw(st.none() | st.integers(1, scale))
    return Survey(
        scale=scale,
        score=score,
        answered_at=None if score is None else NOW,
        comment=draw(COMMENTS) if score is not None else None,
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(surveys(), max_size=40))
def test_figures_stay_within_bounds_on_mixed_scales(records: list[Survey]) -> None:
    stats = survey_stats(records)
    for rate in (stats.response_rate, stats.csat):
        assert rate is None or Decimal(0) <= rate <= Decimal(100)
    assert sum(sum(counts.values()) for counts in stats.distribution.values()) == stats.answered
    assert stats.answered == sum(r.score is not None for r in records) <= stats.invited
    assert stats.low_scores <= stats.answered
    assert all(set(counts) == set(range(1, s + 1)) for s, counts in stats.distribution.items())
