"""`[email]`: the SMTP server receipts go through, and who they come from."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bridge.settings_types import (
    Section,
    Text,
    blank_to_none,
    check_email,
    fail,
    lower,
)

# Once the message is handed over (MAIL, one RCPT per recipient, DATA, the data's end, QUIT),
# each reply may take up to `timeout`: the longest a send can run after its last lease check.
SMTP_REPLIES_PER_SEND = 5  # with one recipient; the `bcc` copy adds its RCPT


def smtp_replies(bcc: str) -> int:
    return SMTP_REPLIES_PER_SEND + (1 if bcc.strip() else 0)


def send_budget_seconds(timeout: float, bcc: str = "") -> float:
    return smtp_replies(bcc) * timeout


class EmailConfig(Section):
    """SMTP settings for sending receipts. Email is off while `host` is empty."""

    enabled: bool = Field(
        default=False, description="true/false; defaults to true when host is set"
    )
    host: Text = Field(default="", description="the SMTP server, e.g. smtp-relay.brevo.com")
    port: int = Field(
        default=587, ge=1, le=65535, description="the SMTP port, 1-65535 (587 starttls, 465 ssl)"
    )
    security: Annotated[Literal["none", "starttls", "ssl"], BeforeValidator(lower)] = Field(
        default="starttls", description="'starttls', 'ssl' or 'none'"
    )
    username: Text = Field(default="", description="the SMTP login, empty for no authentication")
    password: Annotated[SecretStr | None, BeforeValidator(blank_to_none)] = Field(
        default=None,
        validate_default=True,
        description="the SMTP password (better: QUITTANCE_EMAIL__PASSWORD)",
    )
    from_address: Text = Field(
        default="",
        validate_default=True,
        description="the sender address, e.g. factures@maboutique.fr",
    )
    from_name: Text = Field(default="", description="the sender name, e.g. 'La Théière'")
    reply_to: Text = Field(default="", description="optional Reply-To address")
    bcc: Text = Field(default="", description="optional address receiving a copy of each email")
    timeout: float = Field(default=30.0, gt=0, le=600, description="seconds, e.g. 30")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        host = data.get("host")
        if "enabled" not in data or data["enabled"] is None:
            data["enabled"] = bool(isinstance(host, str) and host.strip())
        if "port" not in data and lower(data.get("security")) == "ssl":
            data["port"] = 465
        return data

    @field_validator("host")
    @classmethod
    def _host(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("enabled") and not value:
            raise fail("the SMTP server name when enabled = true (or set enabled = false)")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("enabled") and info.data.get("username") and value is None:
            raise fail(
                "the SMTP password for this username: set QUITTANCE_EMAIL__PASSWORD (or "
                "email.password), or leave username empty for no authentication"
            )
        return value

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("enabled") and not value:
            raise fail("the sender address, e.g. factures@maboutique.fr (required to send email)")
        return check_email(value, "the sender address")

    @field_validator("reply_to", "bcc")
    @classmethod
    def _optional_email(cls, value: str) -> str:
        return check_email(value, "an email address or nothing")
