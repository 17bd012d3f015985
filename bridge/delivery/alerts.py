"""Owner alerts through apprise (one URL per target: mailto, Slack, Teams, Telegram, ...).

One outage = one alert: `alert(key, ...)` sends only when `claim(key, window)` says this key
was not alerted within `window` (in production `Store.claim_alert`, a database row, so several
workers share the deduplication). An alert that cannot be sent is logged, never raised: a
broken webhook must not take the worker down with it.

The URLs carry tokens, so they are never logged; targets are referred to by position ("#2").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import apprise
import structlog

from bridge.delivery.secrets import reveal

Claim = Callable[[str, timedelta], bool]


def _log() -> Any:
    return structlog.get_logger()


class Alerter:
    """Send deduplicated alerts to every configured apprise URL.

    `urls` are apprise URLs (str or `SecretStr`); invalid ones are reported (by position) and
    skipped. `claim(key, window) -> bool` returns True when this key may be alerted now.
    """

    def __init__(self, urls: Sequence[Any], claim: Claim, window: timedelta) -> None:
        self.claim = claim
        self.window = window
        self._apprise = apprise.Apprise()
        self._count = 0
        self._lock = threading.Lock()
        self._fallback_sent: dict[str, float] = {}  # only used when `claim` itself fails
        for position, url in enumerate(urls, start=1):
            raw = reveal(url).strip()
            if not raw:
                continue
            try:
                added = self._apprise.add(raw)
            except Exception:  # apprise should return False, but never let config kill us
                added = False
            if added:
                self._count += 1
            else:
                _log().warning("alerts.invalid_url", target=f"#{position}")

    @property
    def configured(self) -> bool:
        """True when at least one valid target is configured."""
        return self._count > 0

    def _claim(self, key: str) -> bool:
        try:
            return bool(self.claim(key, self.window))
        except Exception as exc:
            # The database is down — exactly when alerts matter. Fall back to a per-process
            # deduplication so we alert without flooding.
            _log().warning("alerts.claim_failed", key=key, error=type(exc).__name__)
            now = time.monotonic()
            with self._lock:
                last = self._fallback_sent.get(key)
                if last is not None and now - last < self.window.total_seconds():
                    return False
                self._fallback_sent[key] = now
                return True

    def alert(self, key: str, title: str, body: str) -> bool:
        """Send the alert unless `key` was already alerted within the window.

        Returns True when it was delivered to every target; False when nothing is configured,
        when it was deduplicated, or when delivery failed (logged, never raised).
        """
        if not self.configured:
            _log().warning("alerts.not_configured", key=key, title=title)
            return False
        if not self._claim(key):
            _log().info("alerts.deduplicated", key=key, window_s=self.window.total_seconds())
            return False
        try:
            ok = bool(self._apprise.notify(title=title, body=body))
        except Exception as exc:
            _log().error("alerts.failed", key=key, error=type(exc).__name__)
            return False
        if ok:
            _log().info("alerts.sent", key=key, targets=self._count)
        else:
            _log().error("alerts.failed", key=key, targets=self._count)
        return ok
