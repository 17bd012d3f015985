"""The dashboard's report pages over a real bridge (documents issued by the real pipeline on
SQLite, archived on disk): the accountant's export ZIP, and the satisfaction figures, the
same as `quittance stats`. Every date is computed from the bridge's clock."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import lxml.html
import pytest
import structlog
from babel.numbers import format_decimal
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bridge.accounting.journal import ENCODING as JOURNAL_ENCODING
from bridge.cli import app as cli_app
from bridge.devsmtp import CaptureSMTPServer
from bridge.export import check_period
from bridge.logs import configure_logging
from bridge.store import InvoiceRecord
from bridge.survey.stats import period_bounds
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.dashboard import csrf_of, signed_in
from tests.support.portal import Bridge, new_email

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

_OWNERS = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("WARNING", "json")  # the console renderer is slow and noisy
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """A WooCommerce shop asking its 3-point survey; read-only for the tests but the ones
    that add survey answers of their own."""
    with CaptureSMTPServer() as smtp, WooSandbox(seed=False) as woo:
        started = Bridge.start(
            tmp_path_factory.mktemp("exports"), smtp, woo=woo, surveys=[{"shop": "boutique"}]
        )
        try:
            yield started
        finally:
            started.close()


@pytest.fixture(scope="module")
def documents(bridge: Bridge) -> list[InvoiceRecord]:
    """Three documents issued; other tests may issue more (see `issued`)."""
    return [bridge.issue_for(new_email()) for _ in range(3)]


def issued(bridge: Bridge) -> list[InvoiceRecord]:
    """Every document of the bridge, whatever test issued it (all of them today)."""
    return list(bridge.store.iter_invoices())


@pytest.fixture
def owner(bridge: Bridge) -> TestClient:
    """An owner of their own (the bridge is shared, and so are its accounts)."""
    return signed_in(bridge.svc, "owner", username=f"owner-{next(_OWNERS)}")


def local_today(bridge: Bridge) -> date:
    return bridge.store.clock().astimezone(bridge.svc.settings.seller.zoneinfo).date()


def export(client: TestClient, first: date | str, last: date | str, **more: str) -> object:
    form = client.get("/exports")
    assert form.status_code == 200
    data = {"csrf": csrf_of(form.text), "first": str(first), "last": str(last), **more}
    return client.post("/exports", data=data)


def member(archive: zipfile.ZipFile, ending: str) -> str:
    (name,) = [n for n in archive.namelist() if n.endswith(ending)]
    return name


def quittance(*args: str) -> Result:
    """`quittance …` in-process, this module's logging put back after it (the CLI set it up
    on the runner's stderr, closed once it returns)."""
    try:
        return CliRunner().invoke(cli_app, list(args))
    finally:
        configure_logging("WARNING", "json")


# --------------------------------------------------------------------------- exports


def test_export_returns_a_zip_whose_fec_and_journal_list_the_issued_documents(
    bridge: Bridge, documents: list[InvoiceRecord], owner: TestClient
) -> None:
    today = local_today(bridge)
    answer = export(owner, today - timedelta(days=7), today)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="quittance-{today - timedelta(days=7)}-{today}.zip"'
    )
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        journal = archive.read(member(archive, "/journal-des-ventes.csv")).decode(JOURNAL_ENCODING)
        # one FEC per fiscal year an entry falls in: a payment dated before the year began
        # (the samples' payment dates are fixed) is in the year before's
        fec_names = [n for n in archive.namelist() if "FEC" in n.rsplit("/", 1)[-1]]
        encoding = bridge.svc.settings.accounting.fec_encoding
        fec = "".join(archive.read(name).decode(encoding) for name in fec_names)
        pdfs = [n for n in archive.namelist() if "/factures/" in n]
    everything = issued(bridge)
    assert len(everything) >= len(documents)
    for document in everything:
        assert document.number in journal
        assert document.number in fec
    assert len(pdfs) == len(everything)


def test_an_export_download_is_audited_with_its_period_and_count(
    bridge: Bridge, documents: list[InvoiceRecord]
) -> None:
    owner = signed_in(bridge.svc, "owner", username="owner-audited")
    today = local_today(bridge)
    first = today - timedelta(days=3)
    assert export(owner, first, today).status_code == 200

    audited = bridge.store.events(limit=50, kind="dashboard.export.download")
    (mine,) = [e for e in audited if e.detail["user"] == "owner-audited"]
    assert mine.detail["first"] == first.isoformat()
    assert mine.detail["last"] == today.isoformat()
    assert mine.detail["documents"] == len(issued(bridge))


def test_an_accountant_may_download_the_export(
    bridge: Bridge, documents: list[InvoiceRecord]
) -> None:
    accountant = signed_in(bridge.svc, "accountant", username="accountant-export")
    today = local_today(bridge)
    answer = export(accountant, today - timedelta(days=1), today)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"


def test_export_without_csrf_is_refused(bridge: Bridge, owner: TestClient) -> None:
    today = local_today(bridge)
    answer = owner.post("/exports", data={"first": str(today), "last": str(today)})
    assert answer.status_code == 400
    assert "application/zip" not in answer.headers["content-type"]


@pytest.mark.parametrize(
    ("first_days_ago", "last_days_ago", "message"),
    [
        (0, 5, "is after the last one"),
        (450, 0, "longer than 400 days"),
        (None, 0, "“From”: a date is expected"),
    ],
    ids=["reversed", "too-long", "not-a-date"],
)
def test_a_bad_period_shows_a_message_and_no_zip(
    bridge: Bridge,
    owner: TestClient,
    first_days_ago: int | None,
    last_days_ago: int,
    message: str,
) -> None:
    today = local_today(bridge)
    first = "last week" if first_days_ago is None else today - timedelta(days=first_days_ago)
    answer = export(owner, first, today - timedelta(days=last_days_ago))
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert message in answer.text


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [("0001-01-01", None, "“From”: a date is expected"),
     (None, "9999-12-31", "“To”: a date is expected")],
    ids=["first-day-of-the-calendar", "last-day-of-the-calendar"],
)  # fmt: skip
def test_an_export_on_a_day_no_sale_can_be_on_names_the_field(
    bridge: Bridge, owner: TestClient, first: str | None, last: str | None, message: str
) -> None:
    today = local_today(bridge)
    answer = export(owner, first or today, last or today)
    assert answer.status_code == 400
    assert message in answer.text


def test_quittance_export_from_the_first_day_of_the_calendar_exits_2(
    bridge: Bridge, tmp_path: Path
) -> None:
    out = tmp_path / "export.zip"
    cli = quittance("export", "--from", "0001-01-01", "--to", str(local_today(bridge)),
                    "--out", str(out), "-c", str(bridge.config))  # fmt: skip
    assert cli.exit_code == 2, cli.output
    assert "--from 0001-01-01: a day from 2000 to 2999 is expected" in cli.output
    assert not out.exists()


# --------------------------------------------------------------------------- satisfaction


def figures(html: str, shop: str) -> dict[str, str]:
    """The figures of one shop's card: data-figure → the text shown."""
    page = lxml.html.fromstring(html)
    (card,) = page.xpath(f"//section[h2[normalize-space()='{shop}']]")
    return {dd.get("data-figure"): dd.text_content().strip() for dd in card.xpath(".//dd")}


def shown(value: str | None) -> str:
    """A percentage of `quittance stats --json` as the page shows it (in English)."""
    return "—" if value is None else f"{format_decimal(Decimal(value), locale='en_GB')} %"


def test_satisfaction_shows_the_same_figures_as_quittance_stats(
    bridge: Bridge, documents: list[InvoiceRecord], owner: TestClient
) -> None:
    asked = [bridge.issue_for(new_email()) for _ in range(2)]
    comment = "<b>Parfait</b>, merci"
    bridge.store.answer_survey(asked[0].id, 3, comment, change_days=14, comment_days=365)
    bridge.store.answer_survey(asked[1].id, 1, None, change_days=14, comment_days=365)
    # Days around today in UTC and in the seller's zone: both views count the same surveys.
    today = bridge.store.clock().astimezone(UTC).date()
    first, last = today - timedelta(days=2), today + timedelta(days=2)

    cli = quittance("stats", "--json", "--from", str(first), "--to", str(last),
                    "-c", str(bridge.config))  # fmt: skip
    page = owner.get("/satisfaction", params={"since": str(first), "until": str(last)})

    assert cli.exit_code == 0, cli.output
    (expected,) = [s for s in json.loads(cli.stdout)["shops"] if s["shop"] == "boutique"]
    assert page.status_code == 200
    assert figures(page.text, "boutique") == {
        "invited": str(expected["invited"]),
        "answered": str(expected["answered"]),
        "response_rate": shown(expected["response_rate"]),
        "csat": shown(expected["csat"]),
        "low_scores": str(expected["low_scores"]),
    }
    assert expected["answered"] >= 2
    assert "&lt;b&gt;Parfait&lt;/b&gt;, merci" in page.text


def test_satisfaction_with_a_bad_date_names_the_field(bridge: Bridge, owner: TestClient) -> None:
    page = owner.get("/satisfaction", params={"until": "31/12"})
    assert page.status_code == 400
    assert "“To”: a date is expected" in page.text


@pytest.mark.parametrize(
    ("name", "day", "label"),
    [("since", "0001-01-01", "From"), ("until", "9999-12-31", "To")],
    ids=["first-day-of-the-calendar", "last-day-of-the-calendar"],
)
def test_satisfaction_on_a_day_no_sale_can_be_on_names_the_field(
    owner: TestClient, name: str, day: str, label: str
) -> None:
    page = owner.get("/satisfaction", params={name: day})
    assert page.status_code == 400
    assert f"“{label}”: a date is expected" in page.text


@pytest.mark.parametrize("option", ["--from", "--to"])
def test_quittance_stats_on_a_day_no_sale_can_be_on_exits_2(bridge: Bridge, option: str) -> None:
    day = "0001-01-01" if option == "--from" else "9999-12-31"
    cli = quittance("stats", option, day, "-c", str(bridge.config))
    assert cli.exit_code == 2, cli.output
    assert f"{option} '{day}': expected an ISO date" in cli.output


@pytest.mark.parametrize(
    ("first", "last"), [(date.min, None), (None, date.max)], ids=["first-day", "last-day"]
)
def test_survey_period_bounds_at_the_calendar_edge_are_a_value_error(
    first: date | None, last: date | None
) -> None:
    paris = ZoneInfo("Europe/Paris")  # a day's midnight there is the day before in UTC
    with pytest.raises(ValueError, match="calendar's first or last day"):
        period_bounds(first, last, today=date.today(), zone=paris)


@pytest.mark.parametrize(
    ("first", "last"), [(date.min, None), (None, date.max)], ids=["first-day", "last-day"]
)
def test_an_export_period_at_the_calendar_edge_is_a_value_error(
    first: date | None, last: date | None
) -> None:
    with pytest.raises(ValueError, match="a day from 2000 to 2999 is expected"):
        check_period(first or date.today(), last or date.today())
