"""`[server]`, `[logging]` and `[jobs]`: how the service listens, logs and retries."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import NoDecode

from bridge.settings_types import (
    Secret,
    Section,
    Text,
    blank_to_none,
    fail,
    lower,
    upper,
)


def _split_words(value: Any) -> Any:
    return value.split() if isinstance(value, str) else value


class ServerConfig(Section):
    host: str = Field(default="127.0.0.1", description="listen address (0.0.0.0 in Docker)")
    port: int = Field(default=8080, ge=1, le=65535, description="listen port")
    public_url: Text = Field(
        default="", description="the https URL shops reach us at (webhooks, invoice links)"
    )
    link_secret: Annotated[Secret | None, BeforeValidator(blank_to_none)] = Field(
        default=None, description="signs invoice download links (QUITTANCE_SERVER__LINK_SECRET)"
    )
    # Rotation: a new link_secret signs from now on; links signed with these still open.
    previous_link_secrets: Annotated[list[Secret], NoDecode, BeforeValidator(_split_words)] = Field(
        default_factory=list,
        description="former link_secret values whose links still work, newest first "
        "(QUITTANCE_SERVER__PREVIOUS_LINK_SECRETS, space-separated)",
    )
    # The public port faces the internet: these limits hold even without a reverse proxy.
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        gt=0,
        description="largest request body in bytes; a larger one is answered 413 unread "
        "(a webhook is a few KB; 2 MB = 2097152)",
    )
    body_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="seconds a request body may take to arrive; a slower one is answered 408",
    )
    idle_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="seconds a connection may stay without a complete request head (new, or "
        "idle between requests) before it is closed",
    )
    max_connections: int = Field(
        default=1000,
        gt=0,
        description="open connections beyond which a request is answered 503 (keep "
        "LimitNOFILE above it)",
    )
    docs: bool = Field(
        default=False, description="serve the API docs (/docs, /redoc, /openapi.json)"
    )
    trusted_proxies: Annotated[list[str], NoDecode, BeforeValidator(_split_words)] = Field(
        # a local proxy reaching a dual-stack listener over IPv4 comes as ::ffff:127.0.0.1
        default_factory=lambda: ["127.0.0.1", "::1", "::ffff:127.0.0.1"],
        description="addresses or networks (CIDR) of the reverse proxies whose "
        "X-Forwarded-For names the client",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value)  # strict, as uvicorn reads it: 10.0.0.1/8 is no network
            except ValueError:
                raise fail(
                    f"IP addresses or networks such as 172.18.0.0/16, got {value!r} (not '*': "
                    "a proxy that appends to X-Forwarded-For would let any client name itself)"
                ) from None
        return values

    metrics_host: str = Field(
        default="127.0.0.1",
        description="listen address of /metrics and the detailed /readyz (never the internet)",
    )
    metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="listen port of /metrics and the detailed /readyz; 0: no such listener",
    )
    metrics_token: Annotated[Secret | None, BeforeValidator(blank_to_none)] = Field(
        default=None,
        description="when set, /metrics is also served on the public port to requests "
        "carrying `Authorization: Bearer <token>` (QUITTANCE_SERVER__METRICS_TOKEN)",
    )

    @field_validator("metrics_port")
    @classmethod
    def _metrics_port(cls, value: int, info: ValidationInfo) -> int:
        if value and value == info.data.get("port"):
            raise fail(
                f"another port than [server] port ({value}): metrics have their own listener, "
                "or 0 for none"
            )
        return value


class LoggingConfig(Section):
    level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(upper)
    ] = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    format: Annotated[Literal["auto", "json", "console"], BeforeValidator(lower)] = Field(
        default="auto", description="'auto' (console in a terminal, else json), 'json', 'console'"
    )


class JobsConfig(Section):
    lease_seconds: int = Field(
        default=300,
        gt=0,
        description="seconds a job stays claimed without a heartbeat (a killed worker's job "
        "is taken over after this)",
    )
    heartbeat_seconds: float = Field(
        default=10.0,
        gt=0,
        description="seconds between renewals of a running job's lease and of a poll's lease",
    )
    step_timeout_seconds: int = Field(
        default=1800,
        gt=0,
        description="longest one step may run; a step still running then is stopped and "
        "retried later",
    )
    backoff_initial_seconds: int = Field(
        default=60, gt=0, description="first retry delay in seconds"
    )
    backoff_max_seconds: int = Field(
        default=21600, gt=0, description="longest retry delay in seconds"
    )
    give_up_after_hours: int = Field(
        default=72, gt=0, description="hours after the first attempt before a job goes dead"
    )
    quick_retries: int = Field(
        default=3, ge=0, description="immediate in-process retries before a delayed retry"
    )

    @field_validator("heartbeat_seconds")
    @classmethod
    def _heartbeat(cls, value: float, info: ValidationInfo) -> float:
        lease = info.data.get("lease_seconds")
        if lease is not None and value * 3 > lease:
            raise fail(
                f"at most a third of lease_seconds ({lease}), so a lease outlives two failed "
                "renewals"
            )
        return value

    @field_validator("backoff_max_seconds")
    @classmethod
    def _max(cls, value: int, info: ValidationInfo) -> int:
        initial = info.data.get("backoff_initial_seconds")
        if initial is not None and value < initial:
            raise fail(f"at least backoff_initial_seconds ({initial})")
        return value
