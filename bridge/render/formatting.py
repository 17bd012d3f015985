"""Locale-aware formatting of money, dates, rates and quantities (Babel).

Babel's French output uses U+202F (narrow no-break space) as the group separator and before
"%"; the font we embed in PDFs (Bitstream Vera) has no glyph for it, so every function here
returns U+00A0 (no-break space) instead: it renders, it never wraps inside a number, and
text extraction reads it back as a space. Reuse these in emails too.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.numbers import format_currency as _babel_currency
from babel.numbers import format_decimal as _babel_decimal

NBSP = "\u00a0"
_SPACES = str.maketrans({"\u202f": NBSP, "\u2009": NBSP, "\u2007": NBSP})

# Short, unambiguous date forms: "27/11/2026" in French, "27 Nov 2026" in English (neither
# reader can mistake day and month).
_SHORT_DATE = {"fr": "dd/MM/y", "en": "d MMM y"}


@lru_cache(maxsize=16)
def _locale(locale: str) -> Locale:
    return Locale.parse(locale.replace("-", "_"))


def _lang(locale: str) -> str:
    return _locale(locale).language


def _clean(text: str) -> str:
    return text.translate(_SPACES)


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """ "1 234,56 €" (fr), "€1,234.56" (en), "1 234,56 $US" (fr, USD); spaces are U+00A0."""
    return _clean(_babel_currency(amount, currency, locale=_locale(locale)))


# Unit prices are stored with up to four decimals (bridge/invoicing/amounts.py, unit_price_excl).
UNIT_PRICE_MAX_DECIMALS = 4


def format_unit_price(amount: Decimal, currency: str, locale: str) -> str:
    """A unit price with the decimals it carries, at most four: "3,3333 €", "0,125 €" (fr),
    "€3.3333" (en).

    An amount of whole cents ("8,00 €") goes through `format_money`, so every snapshot stored
    when unit prices were rounded to the cent prints exactly as it did then.
    """
    exponent = amount.normalize().as_tuple().exponent  # an int for any finite amount
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places <= 2:
        return format_money(amount, currency, locale)
    if places > UNIT_PRICE_MAX_DECIMALS:
        amount = amount.quantize(Decimal(1).scaleb(-UNIT_PRICE_MAX_DECIMALS), ROUND_HALF_UP)
    # decimal_quantization=False: Babel keeps the amount's own decimals instead of rounding
    # them to the currency's two (it still pads to two).
    return _clean(
        _babel_currency(amount, currency, locale=_locale(locale), decimal_quantization=False)
    )


def format_date(d: date | datetime, locale: str, *, long: bool = False) -> str:
    """Short: "27/11/2026" (fr), "27 Nov 2026" (en).

    Long: "27 novembre 2026" (fr), "27 November 2026" (en).
    """
    if isinstance(d, datetime):
        d = d.date()
    loc = _locale(locale)
    if long:
        return _clean(_babel_date(d, format="d MMMM y", locale=loc))
    pattern = _SHORT_DATE.get(loc.language, "medium")
    return _clean(_babel_date(d, format=pattern, locale=loc))


def format_rate(rate: Decimal, locale: str) -> str:
    """A VAT rate given in percent: "20 %", "5,5 %" (fr); "20%", "5.5%" (en)."""
    number = _babel_decimal(rate, format="#,##0.###", locale=_locale(locale))
    sep = NBSP if _lang(locale) == "fr" else ""
    return _clean(f"{number}{sep}%")


def format_quantity(quantity: Decimal, locale: str) -> str:
    """ "2", "1,5", "1 000" (fr) — no trailing zeros."""
    return _clean(_babel_decimal(quantity, format="#,##0.###", locale=_locale(locale)))


def country_name(code: str, locale: str) -> str:
    """ "DE" → "Allemagne" (fr) / "Germany" (en); unknown codes come back unchanged."""
    if not code:
        return ""
    return _locale(locale).territories.get(code.upper(), code)


def format_exchange_rate(rate: Decimal, locale: str) -> str:
    """An exchange rate with the decimals the ECB published it with: "1,0842", "20 275,17" (fr);
    "1.0842" (en)."""
    return _clean(_babel_decimal(rate, format="#,##0.##########", locale=_locale(locale)))
