"""`Settings`, assembled from every section and each platform's `[[shops]]` schema, and
`load_settings`: the TOML file plus `QUITTANCE_<SECTION>__<KEY>` environment overrides."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from bridge.config.accounting import AccountingConfig
from bridge.config.alerts import AlertsConfig
from bridge.config.channels import HelpdeskConfig, SmsConfig
from bridge.config.currency import CurrencyConfig
from bridge.config.dashboard import DashboardConfig
from bridge.config.documents import LegalConfig, RulesConfig, TemplatesConfig
from bridge.config.email import EmailConfig, send_budget_seconds, smtp_replies
from bridge.config.numbering import NumberingConfig
from bridge.config.portal import PortalConfig, SurveyConfig
from bridge.config.problems import (
    ENV_DELIMITER,
    ENV_PREFIX,
    ConfigError,
    ConfigProblem,
    env_problem,
    toml_problem,
)
from bridge.config.seller import SellerConfig
from bridge.config.service import JobsConfig, LoggingConfig, ServerConfig
from bridge.config.shops import ShopConfig
from bridge.config.storage import StorageConfig
from bridge.config.vies import ViesConfig
from bridge.settings_types import (
    LOAD_CONTEXT,
    fail,
)

CONFIG_ENV_VAR = "QUITTANCE_CONFIG"


class _MappingEnvSource(EnvSettingsSource):
    """The standard env source, reading an explicit mapping instead of `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


# Keys holding paths; relative values written in the file are relative to the file's folder.
_FILE_PATH_KEYS = (
    ("seller", "logo"),
    ("templates", "dir"),
    ("storage", "archive_dir"),
    ("storage", "chain_key_file"),
    ("currency", "rates_file"),
)


class _TomlFileSource(TomlConfigSettingsSource):
    """The TOML source, with relative paths resolved against the file's folder."""

    def _read_file(self, file_path: Path) -> dict[str, Any]:  # type: ignore[override]
        data = super()._read_file(file_path)
        return _resolve_file_paths(data, Path(file_path).resolve().parent)


def _resolve_file_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    def resolve(raw: str) -> str:
        path = Path(raw.strip()).expanduser()
        return str(path if path.is_absolute() else base / path)

    for section, key in _FILE_PATH_KEYS:
        table = data.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str) and table[key].strip():
            table[key] = resolve(table[key])
    storage = data.get("storage")
    url = storage.get("database_url") if isinstance(storage, dict) else None
    if isinstance(url, str) and url.startswith("sqlite:///"):
        rest = url[len("sqlite:///") :]
        path, sep, query = rest.partition("?")
        if path and path != ":memory:" and not path.startswith("/"):
            storage["database_url"] = f"sqlite:///{resolve(path)}{sep}{query}"
    return data


class Settings(BaseSettings):
    """All of Quittance's configuration. Build it with `load_settings()`.

    Constructed directly (`Settings(seller=...)`), keyword arguments win over `QUITTANCE_*`
    variables of `os.environ`; no file is read.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        case_sensitive=False,
        extra="forbid",
        frozen=True,
    )

    seller: SellerConfig = Field(description="the [seller] table")
    numbering: NumberingConfig = Field(default_factory=NumberingConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)
    legal: LegalConfig = Field(default_factory=LegalConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    currency: CurrencyConfig = Field(default_factory=CurrencyConfig)
    vies: ViesConfig = Field(default_factory=ViesConfig)
    shops: list[ShopConfig] = Field(default_factory=list)
    portal: PortalConfig = Field(default_factory=PortalConfig)
    surveys: list[SurveyConfig] = Field(default_factory=list)
    sms: list[SmsConfig] = Field(default_factory=list)
    helpdesks: list[HelpdeskConfig] = Field(default_factory=list)
    accounting: AccountingConfig = Field(default_factory=AccountingConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)

    @field_validator("dashboard")
    @classmethod
    def _dashboard_port_of_its_own(
        cls, dashboard: DashboardConfig, info: ValidationInfo
    ) -> DashboardConfig:
        # The webhook port faces the internet; the owner's pages must not ride along on it.
        server = info.data.get("server")
        if server is None or not dashboard.port:
            return dashboard
        if dashboard.port in (server.port, server.metrics_port):
            raise fail(
                f"port: a port of its own, not {dashboard.port} ([server] port or "
                "metrics_port); 0 for no dashboard"
            )
        return dashboard

    @field_validator("shops")
    @classmethod
    def _unique_shop_names(cls, shops: list[ShopConfig]) -> list[ShopConfig]:
        names = [shop.name for shop in shops]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise fail(f"unique shop names; {', '.join(duplicates)} appear more than once")
        return shops

    @field_validator("jobs")
    @classmethod
    def _send_fits_lease(cls, jobs: JobsConfig, info: ValidationInfo) -> JobsConfig:
        """A send checks its lease just before it starts; it must then finish (or time out)
        before the lease can lapse, even if no heartbeat lands meanwhile."""
        email = info.data.get("email")
        if email is None or not email.enabled:
            return jobs
        budget = send_budget_seconds(email.timeout, email.bcc)
        if budget + jobs.heartbeat_seconds > jobs.step_timeout_seconds:
            raise fail(
                f"step_timeout_seconds ({jobs.step_timeout_seconds}) too short for one email "
                f"send ({budget:g} s at [email] timeout {email.timeout:g} s, plus "
                "heartbeat_seconds): raise it or lower [email] timeout"
            )
        if budget + jobs.heartbeat_seconds > jobs.lease_seconds:
            raise fail(
                f"lease_seconds ({jobs.lease_seconds}) too short for one email send: up to "
                f"{smtp_replies(email.bcc)} SMTP replies × [email] timeout ({email.timeout:g} s) "
                f"+ heartbeat_seconds ({jobs.heartbeat_seconds}) = "
                f"{budget + jobs.heartbeat_seconds:g} s; raise [jobs] lease_seconds or lower "
                "[email] timeout"
            )
        return jobs

    @field_validator("surveys", "sms", "helpdesks")
    @classmethod
    def _tables_of_known_shops(
        cls, tables: list[SurveyConfig | SmsConfig | HelpdeskConfig], info: ValidationInfo
    ) -> list[SurveyConfig | SmsConfig | HelpdeskConfig]:
        known = [shop.name for shop in info.data.get("shops") or []]
        for table in tables:
            if table.shop not in known:
                shops = ", ".join(known) or "none"
                raise fail(f"shop = one of the [[shops]] names ({shops}); got {table.shop!r}")
        # one table per shop; a shop may use both helpdesks, one table each
        keys = [(table.shop, getattr(table, "kind", "")) for table in tables]
        twice = sorted({" ".join(filter(None, k)) for k in keys if keys.count(k) > 1})
        if twice:
            raise fail(
                f"one [[{info.field_name}]] table per shop"
                + (" and kind" if info.field_name == "helpdesks" else "")
                + f"; {', '.join(twice)} has more than one"
            )
        return tables

    @field_validator("sms", "helpdesks")
    @classmethod
    def _hand_over_fits_lease(
        cls, tables: list[SmsConfig | HelpdeskConfig], info: ValidationInfo
    ) -> list[SmsConfig | HelpdeskConfig]:
        """As for an email: a hand-over started after the lease check must end before the
        lease can lapse, or a second worker could send it again."""
        jobs = info.data.get("jobs")
        if jobs is None:
            return tables
        for table in tables:
            needed = table.send_budget_seconds + jobs.heartbeat_seconds
            if needed > min(jobs.lease_seconds, jobs.step_timeout_seconds):
                raise fail(
                    f"timeout_seconds of shop {table.shop}'s table small enough that its "
                    f"hand-over ({table.send_budget_seconds:g} s) plus [jobs] heartbeat_seconds "
                    f"fits [jobs] lease_seconds ({jobs.lease_seconds}) and step_timeout_seconds "
                    f"({jobs.step_timeout_seconds}): lower timeout_seconds or raise those"
                )
        return tables

    def survey_for(self, shop: str) -> SurveyConfig:
        """The shop's survey settings; a shop with no `[[surveys]]` table asks nothing."""
        found = next((s for s in self.surveys if s.shop == shop), None)
        return found or SurveyConfig(shop=shop, enabled=False)

    def sms_for(self, shop: str) -> SmsConfig | None:
        """The shop's SMS settings when it texts its customers, else None."""
        return next((s for s in self.sms if s.shop == shop and s.enabled), None)

    def helpdesk_for(self, shop: str, kind: str) -> HelpdeskConfig | None:
        """The shop's Zendesk or Intercom settings when it uses that helpdesk, else None."""
        found = (h for h in self.helpdesks if h.shop == shop and h.kind == kind and h.enabled)
        return next(found, None)

    def shop(self, name: str) -> ShopConfig | None:
        return next((s for s in self.shops if s.name == name and s.enabled), None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        context = LOAD_CONTEXT.get()
        if context is None:
            return (init_settings, env_settings)
        path, environ = context
        return (
            init_settings,
            _MappingEnvSource(settings_cls, environ),
            _TomlFileSource(settings_cls, toml_file=path),
        )


def load_settings(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file at `path` (else `$QUITTANCE_CONFIG`), apply `QUITTANCE_*` overrides
    from `environ` (default `os.environ`), validate everything.

    Raises `ConfigError` listing every problem found (never a secret's value).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    if path is None or str(path).strip() == "":
        from_env = env.get(CONFIG_ENV_VAR, "").strip()
        if not from_env:
            raise ConfigError(
                [
                    ConfigProblem(
                        "config",
                        "<not set>",
                        "a configuration file: pass --config PATH or set "
                        f"{CONFIG_ENV_VAR}=PATH (start from a copy of config.example.toml)",
                    )
                ]
            )
        path = from_env
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ConfigError(
            [
                ConfigProblem(
                    "config",
                    repr(str(path)),
                    "an existing TOML file (nothing there; start from a copy of "
                    "config.example.toml)",
                )
            ]
        )
    token = LOAD_CONTEXT.set((file, env))
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError.from_validation_error(
            exc, root=Settings, source=file, environ=env
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([toml_problem(file, exc)], source=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [ConfigProblem("config", repr(str(file)), f"a readable UTF-8 TOML file ({exc})")],
            source=file,
        ) from None
    except SettingsError as exc:
        raise ConfigError([env_problem(exc, env)], source=file) from None
    finally:
        LOAD_CONTEXT.reset(token)
