"""Texting a customer through apprise: any SMS gateway apprise knows (Octopush, SFR, Vonage,
Twilio, a home-made HTTP endpoint…), configured as one URL with `{to}` where the customer's
number goes (`[[sms]] apprise_url`, a secret: it holds the gateway's key).

The number goes in as E.164 with its "+" (+33612345678): apprise's SMS plugins read a
leading "+" and strip it where their API wants bare digits, and the "+" stays literal in a
URL's path and query (apprise does not read it as a space).

apprise answers only True or False. A URL it cannot read is the owner's to fix (permanent);
a False says nothing more: a bad number and a gateway outage look the same, so it is retried
as transient until the job gives up (`[jobs] give_up_after_hours`). There is no message id,
hence no looking for an earlier attempt's text either: `twilio` is the gateway that can.

`check_apprise` is the doctor's look at it: apprise has no way to test a gateway without
sending, so it only reads the URL (a sample number in place of `{to}`) and names the plugin
that would send; the gateway's credentials are first tried by a real text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote

import apprise

from bridge.config.channels import SmsConfig
from bridge.delivery.channel import Sent
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.secrets import reveal
from bridge.handover import check_before_handover

# apprise logs a URL it cannot read in full, key included, whatever its secure_logging says
# (and every part of it at TRACE level): its records pass through a mask while we call it.
_APPRISE_LOGGER = "apprise"
_URL_PARTS = re.compile(r"[:/@?&=,#;]+")
_MASK = "***"
# What the doctor puts in place of {to}: any mobile in E.164 reads the same, none is texted.
SAMPLE_NUMBER = "+33612345678"


def apprise_url(cfg: SmsConfig, to: str) -> str:
    return reveal(cfg.apprise_url).replace("{to}", to)


def _url_secrets(url: str, to: str) -> list[str]:
    """Every part of the URL that may be a key: we cannot tell which is, so all of them."""
    parts = {url, *_URL_PARTS.split(url)}
    parts |= {unquote(part) for part in parts}
    kept = [part for part in parts if len(part) >= 4 and part != to]
    return sorted(kept, key=len, reverse=True)  # the whole URL before its pieces


class _Mask(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = text
        for secret in self.secrets:
            masked = masked.replace(secret, _MASK)
        if masked != text:
            record.msg, record.args = masked, None
        return True


@contextmanager
def _masked_logs(url: str, to: str) -> Iterator[None]:
    logger = logging.getLogger(_APPRISE_LOGGER)
    mask = _Mask(_url_secrets(url, to))
    logger.addFilter(mask)
    try:
        yield
    finally:
        logger.removeFilter(mask)


def _plugin(cfg: SmsConfig, to: str) -> apprise.NotifyBase:
    # instantiate(), not add(url): add() splits its text on commas and spaces into several
    # URLs, and one gateway is meant. Secure logging keeps the key out of apprise's own logs.
    asset = apprise.AppriseAsset(secure_logging=True)
    plugin = apprise.Apprise.instantiate(apprise_url(cfg, to), asset=asset)
    if plugin is None:
        raise PermanentDeliveryError(
            f"[[sms]] apprise_url of shop {cfg.shop} is not an apprise URL apprise "
            "understands (read with a mobile number in place of {to})"
        )
    # Our timeout, not the plugin's default or the URL's: it is what the send budget counts.
    plugin.socket_connect_timeout = cfg.timeout_seconds
    plugin.socket_read_timeout = cfg.timeout_seconds
    # No retry inside apprise (?retry= in the URL): after an error the text may have gone,
    # and repeating it is the job queue's decision, spaced over hours, not apprise's.
    plugin.retry = 0
    return plugin


def send_apprise(cfg: SmsConfig, to: str, body: str) -> Sent:
    """Text `body` to `to` (E.164) through the shop's apprise URL."""
    with _masked_logs(apprise_url(cfg, to), to):
        notifier = apprise.Apprise(asset=apprise.AppriseAsset(secure_logging=True))
        notifier.add(_plugin(cfg, to))
        check_before_handover()
        try:
            delivered = notifier.notify(body=body)
        except Exception as exc:  # a plugin's bug must not lose the text: retried, named only
            raise TransientDeliveryError(
                f"apprise: the gateway's plugin failed ({type(exc).__name__}); retried until "
                "[jobs] give_up_after_hours"
            ) from None
    if not delivered:
        raise TransientDeliveryError(
            f"apprise: the gateway of shop {cfg.shop} did not take the text. apprise cannot "
            "tell a bad number from an outage, so it is retried until [jobs] "
            "give_up_after_hours (the gateway's own logs say which it was)"
        )
    return Sent(external_id="", target=to, detail="apprise: sent (no message id)")


def check_apprise(cfg: SmsConfig) -> str:
    """The plugin apprise would text through, from the URL alone (the doctor's check; nothing
    is sent): "apprise URL understood (Octopush); …". A URL it cannot read, or reads with no
    recipient, is permanent."""
    with _masked_logs(apprise_url(cfg, SAMPLE_NUMBER), SAMPLE_NUMBER):
        plugin = _plugin(cfg, SAMPLE_NUMBER)
    name = str(getattr(plugin, "service_name", "") or type(plugin).__name__)
    if len(plugin) == 0:
        # Read, but with no recipient: {to} stands where the plugin takes no number, and
        # every text would fail (transiently, for hours) instead of reaching the customer.
        raise PermanentDeliveryError(
            f"[[sms]] apprise_url of shop {cfg.shop} is read as {name} but with no recipient: "
            "put {to} where that gateway's URL takes the number"
        )
    return f"apprise URL understood ({name}); credentials are only checked by a real text"
