"""Settings: one TOML file plus `QUITTANCE_<SECTION>__<KEY>` environment overrides.

Everything is validated at start-up, and every problem is reported at once as a `ConfigError`
whose message names each key, the value found and what is expected instead — a shop owner fixes
the whole file in one go instead of playing whack-a-mole with tracebacks.

Sources, highest priority first (pydantic-settings, see `Settings.settings_customise_sources`):
keyword arguments, then `QUITTANCE_*` environment variables, then the TOML file. Relative paths
written in the file are resolved against the file's folder; relative paths coming from the
environment or from defaults (`var/archive`, `sqlite:///var/quittance.db`) are relative to the
current directory. Secrets (SMTP password, apprise URLs, platform keys) are `SecretStr`: they
never appear in `repr()`, `str()` or error messages.

One module per section (`seller`, `numbering`, `email`, `storage`, `alerts`, `documents` for
`[templates]` and `[legal]`, `service` for `[server]`, `[logging]`, `[jobs]`, `shops`); each
platform's `[[shops]]` keys live in its connector package (`connectors/<platform>/settings.py`).
"""

from bridge.config.alerts import AlertsConfig
from bridge.config.documents import LegalConfig, TemplatesConfig
from bridge.config.email import EmailConfig
from bridge.config.numbering import MAX_NUMBER_LENGTH, NumberingConfig
from bridge.config.problems import ENV_PREFIX, ConfigError, ConfigProblem
from bridge.config.seller import AddressConfig, SellerConfig, french_vat_for
from bridge.config.service import JobsConfig, LoggingConfig, ServerConfig
from bridge.config.settings import CONFIG_ENV_VAR, Settings, load_settings
from bridge.config.shops import ShopConfig
from bridge.config.storage import StorageConfig

__all__ = [
    "CONFIG_ENV_VAR",
    "ENV_PREFIX",
    "MAX_NUMBER_LENGTH",
    "AddressConfig",
    "AlertsConfig",
    "ConfigError",
    "ConfigProblem",
    "EmailConfig",
    "JobsConfig",
    "LegalConfig",
    "LoggingConfig",
    "NumberingConfig",
    "SellerConfig",
    "ServerConfig",
    "Settings",
    "ShopConfig",
    "StorageConfig",
    "TemplatesConfig",
    "french_vat_for",
    "load_settings",
]
