"""`[[sms]]` and `[[helpdesks]]`: the customer channels beyond email, one table per shop that
uses them (their own tables, as `[[surveys]]`: a shop's keys belong to its platform).

A table names its shop; credentials may be written `"${VAR}"` to come from the environment.
Nothing is sent on a channel until its table exists and says `enabled = true` (the default
once the table is written)."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from bridge.settings_types import Secret, Section, Text, fail, fail_field, lower, upper

_HTTP_URL = re.compile(r"^https?://[^\s/]+(:\d+)?(/\S*)?$")
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ._-]{1,11}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TIMEOUT = Field(default=10.0, gt=0, le=60, description="seconds each HTTP call may take")
# `requests` waits up to its timeout twice per request: to connect, then for the answer.
WAITS_PER_REQUEST = 2
# An apprise plugin may log in before it sends, and spaces its requests by its throttle.
APPRISE_REQUESTS = 2
APPRISE_THROTTLE_SECONDS = 5.5
# A Twilio Messaging Service SID, not a sender name that begins with MG ("MGBoutique").
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


def _http_url(value: str, what: str) -> str:
    value = value.rstrip("/")
    if not _HTTP_URL.match(value):
        raise fail(f"{what}, an http(s) URL such as https://api.twilio.com")
    return value


def _private_or_https(url: str) -> bool:
    """https, or plain http to this machine (a local relay, the sandboxes)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost", "::1")


class SmsConfig(Section):
    shop: str = Field(default="", description="the [[shops]] name whose customers get texts")
    enabled: bool = Field(
        default=True,
        description="text each customer who gave a mobile number: amount, number, link",
    )
    gateway: Annotated[Literal["twilio", "apprise"], BeforeValidator(lower)] = Field(
        default="twilio",
        description="'twilio' (its HTTP API: message id, bad number told from an outage) or "
        "'apprise' (any gateway apprise knows; a failure cannot be told apart, see docs)",
    )
    api_url: str = Field(default="https://api.twilio.com", description="the Twilio API's base URL")
    account_sid: Text = Field(default="", description="Twilio account SID (AC…)")
    auth_token: Secret = Field(
        default=SecretStr(""), description='Twilio auth token (write "${VAR}")'
    )
    apprise_url: Secret = Field(
        default=SecretStr(""),
        description="gateway = 'apprise': the apprise URL with {to} where the customer's "
        "number goes, e.g. octopush://login:key@{to}",
    )
    sender: Text = Field(
        default="",
        description="the sender: a number in E.164 (+33…), a name of up to 11 letters and "
        "digits (MaBoutique; customers cannot reply to a name), or a Twilio Messaging "
        "Service SID (MG…)",
    )
    default_region: Annotated[str, BeforeValidator(upper)] = Field(
        default="FR",
        pattern=r"^[A-Z]{2}$",
        description="country of numbers written without +code (06 12 34 56 78 → +33 6…)",
    )
    max_segments: int = Field(
        default=1,
        ge=1,
        le=3,
        description="SMS segments a text may take (160 GSM-7 characters, 70 with accents "
        "outside GSM-7): each one is billed",
    )
    daily_cap: int = Field(
        default=200,
        gt=0,
        description="texts per UTC day this shop may send; past it they are skipped and the "
        "owner told (a runaway import must not run up the bill)",
    )
    timeout_seconds: float = _TIMEOUT

    @property
    def send_budget_seconds(self) -> float:
        """The longest a text's hand-over runs after its lease check. Each HTTP request may
        wait the timeout twice (to connect, then for the answer); an apprise plugin may log
        in before it sends, with its throttle between the two requests."""
        if self.gateway == "apprise":
            return APPRISE_REQUESTS * WAITS_PER_REQUEST * self.timeout_seconds + (
                (APPRISE_REQUESTS - 1) * APPRISE_THROTTLE_SECONDS
            )
        return WAITS_PER_REQUEST * self.timeout_seconds

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = _http_url(value, "the gateway's base URL")
        if not _private_or_https(value):
            raise fail("an https URL: the auth token travels with each request (plain http "
                       "only to this machine)")  # fmt: skip
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            hint = " (the United Kingdom is GB)" if value == "UK" else ""
            raise fail(f"an ISO 3166 country code phone numbers know, such as FR or BE{hint}")
        return value

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        if value and not _ACCOUNT_SID.match(value):
            raise fail("the Twilio account SID: AC followed by 32 hexadecimal characters")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        known = (_E164, _ALPHANUMERIC_SENDER, SERVICE_SID)
        if value and not any(pattern.match(value) for pattern in known):
            raise fail(
                "a number in E.164 (+33612345678), a name of 1 to 11 letters and digits "
                "with at least one letter (MaBoutique), or a Twilio Messaging Service SID (MG…)"
            )
        return value

    @model_validator(mode="after")
    def _credentials(self) -> SmsConfig:
        if not self.enabled:
            return self
        if self.gateway == "apprise":
            url = self.apprise_url.get_secret_value()
            if "://" not in url or "{to}" not in url:
                raise fail_field(
                    "apprise_url", "***", "an apprise URL with {to} where the number goes"
                )
            return self
        for key, value in (
            ("account_sid", self.account_sid),
            ("auth_token", self.auth_token.get_secret_value()),
            ("sender", self.sender),
        ):
            if not value:
                raise fail_field(key, "", f"the Twilio {key.replace('_', ' ')} (gateway twilio)")
        return self


class HelpdeskConfig(Section):
    shop: str = Field(default="", description="the [[shops]] name whose tickets get documents")
    kind: Annotated[Literal["zendesk", "intercom"], BeforeValidator(lower)] = Field(
        description="'zendesk' or 'intercom'"
    )
    enabled: bool = Field(
        default=True,
        description="add each invoice and credit note to the customer's open ticket or "
        "conversation, as a note the support desk sees",
    )
    url: str = Field(
        default="",
        description="zendesk: https://<subdomain>.zendesk.com; intercom: https://api.intercom.io "
        "(https://api.eu.intercom.io for a European workspace)",
    )
    email: Text = Field(
        default="", description="zendesk: the agent's address the API token belongs to"
    )
    token: Secret = Field(
        default=SecretStr(""),
        description='zendesk API token or intercom access token (write "${VAR}")',
    )
    admin_id: Text = Field(
        default="", description="intercom: the id of the admin the notes are written as"
    )
    public: bool = Field(
        default=False,
        description="reply to the customer instead of an internal note (they already have the "
        "email: off by default)",
    )
    open_ticket: bool = Field(
        default=False,
        description="zendesk: open a ticket for a customer who has none open (off: skipped)",
    )
    timeout_seconds: float = Field(
        default=20.0, gt=0, le=120, description="seconds each HTTP call may take"
    )

    @model_validator(mode="after")
    def _complete(self) -> HelpdeskConfig:
        if not self.url:
            raise fail_field("url", "", "the helpdesk's URL (see the key's description)")
        if not _HTTP_URL.match(self.url) or not _private_or_https(self.url):
            raise fail_field("url", self.url, "an https URL such as "
                             "https://maboutique.zendesk.com (the token travels with each "
                             "request; plain http only to this machine)")  # fmt: skip
        if not self.enabled:
            return self
        if not self.token.get_secret_value():
            raise fail_field("token", "", f'the {self.kind} token (write "${{VAR}}")')
        if self.kind == "zendesk" and not self.email:
            raise fail_field("email", "", "the Zendesk agent's address the token belongs to")
        if self.kind == "intercom" and not self.admin_id:
            raise fail_field("admin_id", "", "the Intercom admin id the notes are written as")
        if self.kind == "intercom" and self.open_ticket:
            raise fail_field("open_ticket", True, "false: intercom notes go to open "
                             "conversations only")  # fmt: skip
        return self

    @property
    def send_budget_seconds(self) -> float:
        """The longest the hand-over runs after its lease check: Zendesk's upload then the
        ticket's update, Intercom's one reply; each request may wait the timeout twice."""
        requests = 2 if self.kind == "zendesk" else 1
        return requests * WAITS_PER_REQUEST * self.timeout_seconds

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")
