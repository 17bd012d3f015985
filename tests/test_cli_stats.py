"""`quittance stats`, end to end: surveys written through a real SQLite store, read back by the
command through its config. Every instant is computed from now (the clock may be moved)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import Result
from typer.testing import CliRunner

from bridge.cli import app
from bridge.store import InvoiceRecord, Store
from tests.support.config import toml_text, write_config
from tests.support.snapshots import issue

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

SURVEY_OFF = "survey off for this shop"


def woo(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "platform": "woocommerce",
        "url": "http://127.0.0.1:9",  # never called: the command reads the database only
        "consumer_key": "ck_x",
        "consumer_secret": "cs_x",
        "webhook_secret": "whsec_x",
    }


class Clock:
    """The store's clock, set by the test before each write (invitation, answer)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Surveys:
    """Writes invoices, invitations and answers as the service would, at chosen instants."""

    def __init__(self, store: Store, clock: Clock, now: datetime) -> None:
        self.store, self.clock, self.now = store, clock, now

    def invite(
        self, order_id: str, *, shop: str = "boutique", scale: int = 3, days_ago: float = 3
    ) -> InvoiceRecord:
        return self.invite_at(self.now - timedelta(days=days_ago), order_id, shop, scale)

    def invite_at(self, when: datetime, order_id: str, shop: str, scale: int) -> InvoiceRecord:
        self.clock.now = when
        issued = issue(self.store, order_id, shop=shop, issued_at=when, period=str(when.year))
        self.store.invite_survey(issued.invoice.id, shop, scale)
        return issued.invoice

    def answer(
        self, invoice: InvoiceRecord, score: int, comment: str | None = None, *, days_ago: float = 2
    ) -> None:
        self.clock.now = self.now - timedelta(days=days_ago)
        self.store.answer_survey(invoice.id, score, comment, change_days=14, comment_days=365)


@pytest.fixture(autouse=True)
def _wide_consoles(wide_consoles: None) -> None:
    """Every test here reads the CLI's output unwrapped."""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Two shops; only "boutique" asks (a 3-point `[[surveys]]` table), "atelier" has none."""
    return stats_config(tmp_path, [{"shop": "boutique", "scale": 3}])


def stats_config(tmp_path: Path, surveys: Sequence[dict[str, Any]]) -> Path:
    path = write_config(
        tmp_path / "quittance.toml",
        database_url=f"sqlite:///{tmp_path / 'q.db'}",
        archive_dir=tmp_path / "archive",
        shops=[woo("boutique"), woo("atelier")],
    )
    # [[surveys]] is a top-level array of tables: appended after [[shops]], it stays its own
    with path.open("a", encoding="utf-8") as file:
        file.write(toml_text({"surveys": list(surveys)}))
    return path


@pytest.fixture
def surveys(tmp_path: Path, config: Path) -> Iterator[Surveys]:
    now = datetime.now(UTC)
    clock = Clock(now)
    with Store.open(f"sqlite:///{tmp_path / 'q.db'}", clock=clock) as store:
        yield Surveys(store, clock, now)


def cli(*args: str | Path) -> Result:
    result = CliRunner().invoke(app, ["stats", *(str(a) for a in args)])
    structlog.reset_defaults()  # the CLI configured structlog on the runner's closed stderr
    return result


def out(result: Result) -> str:
    return " ".join((result.output or "").split())


def shop_json(result: Result, shop: str) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return next(s for s in json.loads(result.stdout)["shops"] if s["shop"] == shop)


def day(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).date().isoformat()


# --------------------------------------------------------------------------- figures


def test_stats_prints_invited_answered_rate_and_csat(config: Path, surveys: Surveys) -> None:
    happy, unhappy, _silent = (surveys.invite(n) for n in ("1001", "1002", "1003"))
    surveys.answer(happy, 3)
    surveys.answer(unhappy, 1)
    result = cli("-c", config, "--shop", "boutique")
    assert result.exit_code == 0, result.output
    assert "invited 3, answered 2, response rate 66.7 %, CSAT 50.0 %, low scores 1" in out(result)


def test_stats_draws_the_distribution_with_bars(config: Path, surveys: Surveys) -> None:
    for order_id, score in (("1001", 3), ("1002", 3), ("1003", 1)):
        surveys.answer(surveys.invite(order_id), score)
    text = out(cli("-c", config, "--shop", "boutique"))
    assert "3-point scale" in text
    assert f"3 │ 2 │ {'█' * 30}" in text and "2 │ 0 │ │" in text and f"1 │ 1 │ {'█' * 15} " in text


def test_stats_lists_comments_newest_first(config: Path, surveys: Surveys) -> None:
    older, newer = surveys.invite("1001", days_ago=6), surveys.invite("1002", days_ago=5)
    surveys.answer(older, 1, "Colis arrivé ouvert", days_ago=4)
    surveys.answer(newer, 3, "Parfait, merci", days_ago=1)
    text = out(cli("-c", config, "--shop", "boutique"))
    assert text.index("Parfait, merci") < text.index("Colis arrivé ouvert")


def test_a_comment_row_gives_number_order_score_and_date(config: Path, surveys: Surveys) -> None:
    invoice = surveys.invite("1001")
    surveys.answer(invoice, 2, "Un peu long", days_ago=1)
    answered_on = (surveys.now - timedelta(days=1)).date().isoformat()
    text = out(cli("-c", config, "--shop", "boutique"))
    assert f"{invoice.number} │ 1001 │ 2/3 │ {answered_on} │ Un peu long" in text


def test_a_comment_is_printed_as_written_not_read_as_markup(config: Path, surveys: Surveys) -> None:
    surveys.answer(surveys.invite("1001"), 1, "[bold red]jamais reçu[/bold red]")
    assert "[bold red]jamais reçu[/bold red]" in out(cli("-c", config, "--shop", "boutique"))


def test_stats_json_gives_percentages_as_strings(config: Path, surveys: Surveys) -> None:
    surveys.answer(surveys.invite("1001"), 3)
    surveys.invite("1002")
    surveys.invite("1003")
    found = shop_json(cli("-c", config, "--json"), "boutique")
    assert (found["response_rate"], found["csat"]) == ("33.3", "100.0")


def test_stats_json_gives_the_distribution_and_comments(config: Path, surveys: Surveys) -> None:
    invoice = surveys.invite("1001")
    surveys.answer(invoice, 2, "Bien", days_ago=1)
    found = shop_json(cli("-c", config, "--json"), "boutique")
    assert found["distribution"] == {"3": {"1": 0, "2": 1, "3": 0}}
    (comment,) = found["comments"]
    assert (comment["number"], comment["order_id"], comment["score"], comment["comment"]) == (
        invoice.number,
        "1001",
        2,
        "Bien",
    )


def test_stats_json_of_a_shop_without_invitation_has_no_rates(config: Path) -> None:
    found = shop_json(cli("-c", config, "--json"), "boutique")
    assert (found["invited"], found["response_rate"], found["csat"]) == (0, None, None)


# --------------------------------------------------------------------------- shops


def test_stats_of_one_shop_leaves_the_others_out(config: Path, surveys: Surveys) -> None:
    surveys.invite("1001")
    result = cli("-c", config, "--shop", "boutique", "--json")
    assert [s["shop"] for s in json.loads(result.stdout)["shops"]] == ["boutique"]


def test_stats_without_shop_reports_every_shop(config: Path) -> None:
    result = cli("-c", config, "--json")
    assert [s["shop"] for s in json.loads(result.stdout)["shops"]] == ["boutique", "atelier"]


def test_a_shop_with_the_survey_off_and_no_data_says_so(config: Path) -> None:
    result = cli("-c", config, "--shop", "atelier")
    assert result.exit_code == 0, result.output
    assert SURVEY_OFF in out(result)


def test_a_shop_with_the_survey_on_but_no_invitation_shows_zeros(config: Path) -> None:
    text = out(cli("-c", config, "--shop", "boutique"))
    assert "invited 0, answered 0, response rate —, CSAT —, low scores 0" in text
    assert SURVEY_OFF not in text


def test_answers_of_a_shop_gone_from_the_config_still_count(
    tmp_path: Path, surveys: Surveys
) -> None:
    surveys.invite("1001", shop="ancienne")
    found = shop_json(cli("-c", tmp_path / "quittance.toml", "--json"), "ancienne")
    assert (found["invited"], found["survey_enabled"]) == (1, None)


def test_an_unknown_shop_exits_2_listing_the_configured_ones(config: Path) -> None:
    result = cli("-c", config, "--shop", "nope")
    assert result.exit_code == 2
    assert "'nope'" in out(result) and "boutique, atelier" in out(result)


# --------------------------------------------------------------------------- periods


def test_the_default_period_is_the_last_30_days(config: Path, surveys: Surveys) -> None:
    surveys.invite("1001", days_ago=40)
    surveys.invite("1002", days_ago=3)
    assert shop_json(cli("-c", config, "--json"), "boutique")["invited"] == 1


def test_from_and_to_select_the_invitations_of_those_days(config: Path, surveys: Surveys) -> None:
    for order_id, days_ago in (("1001", 20), ("1002", 10), ("1003", 3)):
        surveys.invite(order_id, days_ago=days_ago)
    result = cli("-c", config, "--json", "--from", day(15), "--to", day(5))
    assert shop_json(result, "boutique")["invited"] == 1


def test_the_to_day_counts_until_its_last_minute(config: Path, surveys: Surveys) -> None:
    last = datetime.now(UTC).date() - timedelta(days=5)
    late = datetime(last.year, last.month, last.day, 23, 59, tzinfo=UTC)
    surveys.invite_at(late, "1001", "boutique", 3)
    result = cli("-c", config, "--json", "--from", last.isoformat(), "--to", last.isoformat())
    assert shop_json(result, "boutique")["invited"] == 1


def test_the_period_is_printed_with_the_report(config: Path) -> None:
    first, last = day(9), day(2)
    result = cli("-c", config, "--shop", "boutique", "--from", first, "--to", last)
    assert f"boutique: {first} → {last} (UTC)" in out(result)


@pytest.mark.parametrize("option", ["--from", "--to"])
def test_a_bad_date_exits_2_naming_the_option(config: Path, option: str) -> None:
    result = cli("-c", config, option, "le 3 mars")
    assert result.exit_code == 2
    assert f"{option} 'le 3 mars'" in out(result)


def test_a_period_ending_before_it_starts_exits_2(config: Path) -> None:
    result = cli("-c", config, "--from", day(1), "--to", day(3))
    assert result.exit_code == 2
    assert "--from/--to" in out(result) and "is after" in out(result)
