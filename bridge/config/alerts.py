"""`[alerts]`: where the owner is told that something needs them (apprise URLs)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
)
from pydantic_settings import (
    NoDecode,
)

from bridge.settings_types import (
    Section,
    fail,
)


def _split_urls(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise fail(
                    'a JSON list of apprise URLs, e.g. ["mailto://…", "tgram://…"]'
                ) from None
        return text.split()
    return value


class AlertsConfig(Section):
    urls: Annotated[list[SecretStr], NoDecode, BeforeValidator(_split_urls)] = Field(
        default_factory=list,
        description="apprise URLs (mailto://, tgram://, slack://…) notified when a job fails",
    )
    dedupe_window_minutes: int = Field(
        default=60, gt=0, description="minutes during which a repeated alert is not resent"
    )
    after_minutes: int = Field(
        default=15,
        gt=0,
        description="minutes a failure that will be retried (SMTP down, archive full) may "
        "last before the owner is alerted (once per cause, and again when it clears)",
    )
    digest_hour: int = Field(
        default=7, ge=0, le=23, description="hour (UTC) of the daily digest of what is pending"
    )
    probe_interval_seconds: int = Field(
        default=300,
        ge=10,
        description="seconds between checks of the SMTP server and the shops (cached, alerts "
        "only: webhook intake stays ready)",
    )

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for url in value:
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", url.get_secret_value()):
                raise fail(
                    "apprise URLs such as mailto://user:pass@gmail.com or tgram://token/chat"
                )
        return value
