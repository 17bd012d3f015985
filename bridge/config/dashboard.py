"""`[dashboard]`: the owner's web pages (bridge/dashboard) — where they listen, how long a
login lasts, how many password guesses an account and an address get, and how often the
numbering and archive are checked on their own. Accounts are made with
`quittance admin add-user`, never in this file."""

from __future__ import annotations

from pydantic import Field, field_validator

from bridge.settings_types import Section, Text, fail


class DashboardConfig(Section):
    enabled: bool = Field(
        default=True, description="serve the owner's dashboard from `quittance run`"
    )
    host: str = Field(
        default="127.0.0.1",
        description="listen address; keep it on loopback and put your reverse proxy (https) "
        "in front",
    )
    port: int = Field(
        default=8081,
        ge=0,
        le=65535,
        description="listen port, never the webhooks' [server] port; 0: no dashboard",
    )
    url: Text = Field(
        default="",
        description="the address you open it at through your proxy, e.g. "
        "https://admin.example.fr ('' = http://host:port); https makes the cookies Secure",
    )
    session_hours: int = Field(
        default=12, gt=0, le=168, description="hours a login lasts, then sign in again"
    )
    login_attempts_per_account: int = Field(
        default=5,
        gt=0,
        description="sign-in attempts per account per 15 minutes (then it waits)",
    )
    login_attempts_per_client: int = Field(
        default=20,
        gt=0,
        description="sign-in attempts per client address per 15 minutes, whatever the account",
    )
    verify_every_hours: int = Field(
        default=24,
        ge=0,
        le=720,
        description="hours between the scheduled numbering and archive checks (`verify`); "
        "0: only when asked on the integrity page",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise fail(f"an http:// or https:// address, got {value!r}")
        return value.rstrip("/")

    def address(self) -> str:
        """Where the owner opens it."""
        if self.url:
            return self.url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def serves(self) -> bool:
        return self.enabled and self.port > 0
