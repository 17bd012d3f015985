"""Settings: one TOML file plus `QUITTANCE_<SECTION>__<KEY>` environment overrides.

Everything is validated at start-up, and every problem is reported at once as a `ConfigError`
whose message names each key, the value found and what is expected instead — a shop owner fixes
the whole file in one go instead of playing whack-a-mole with tracebacks.

Sources, highest priority first (pydantic-settings, see `Settings.settings_customise_sources`):
keyword arguments, then `QUITTANCE_*` environment variables, then the TOML file. Relative paths
written in the file are resolved against the file's folder; relative paths coming from the
environment or from defaults (`var/archive`, `sqlite:///var/quittance.db`) are relative to the
current directory. Secrets (SMTP password, apprise URLs) are `SecretStr`: they never appear in
`repr()`, `str()` or error messages.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import string
import tomllib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.fr import tva as fr_tva

__all__ = [
    "CONFIG_ENV_VAR",
    "ENV_PREFIX",
    "MAX_NUMBER_LENGTH",
    "SOLE_TRADER_FORMS",
    "AddressConfig",
    "AlertsConfig",
    "ConfigError",
    "ConfigProblem",
    "EmailConfig",
    "JobsConfig",
    "LoggingConfig",
    "NumberingConfig",
    "SellerConfig",
    "Settings",
    "StorageConfig",
    "TemplatesConfig",
    "is_sole_trader_form",
    "load_settings",
]

CONFIG_ENV_VAR = "QUITTANCE_CONFIG"
ENV_PREFIX = "QUITTANCE_"
ENV_DELIMITER = "__"
MASK = "'**********'"
MAX_NUMBER_LENGTH = 35  # French e-invoicing rule BR-FR-01/02
NUMBER_CHARS = "A-Za-z0-9+-_/"
_NUMBER_LITERAL = re.compile(r"[A-Za-z0-9+\-_/]*")
_SEQ_SPEC = re.compile(r"0([1-9][0-9]?)d")
_WORST_SEQ_DIGITS = 9  # seq = 999 999 999

# Sole-trader legal forms (normalised: upper case, words joined by "-"). They have no share
# capital, and their RCS registration is optional (artisans are in the RM, liberal professions
# in neither). Every other legal form is treated as a company: capital and RCS city required.
SOLE_TRADER_FORMS = frozenset(
    {
        "EI",
        "EIRL",
        "MICRO-ENTREPRISE",
        "MICRO-ENTREPRENEUR",
        "AUTO-ENTREPRENEUR",
        "AUTO-ENTREPRISE",
        "ENTREPRISE-INDIVIDUELLE",
        "ENTREPRENEUR-INDIVIDUEL",
    }
)

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z0-9-]{2,}$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_URL_USERINFO = re.compile(r"(://[^/:@\s]*):[^@/\s]*@")


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the configuration.

    `key` is the dotted path ("seller.siren", "alerts.urls[0]"), `value` the value found as
    shown to the user (quoted; secrets as '**********'; "<missing>" when absent), `expected`
    what is expected and how to fix it. `origin` names the environment variable the value came
    from, when it came from one.
    """

    key: str
    value: str
    expected: str
    origin: str | None = None

    def __str__(self) -> str:
        where = f" (from {self.origin})" if self.origin else ""
        return f"{self.key} = {self.value}{where} — expected {self.expected}"


class ConfigError(Exception):
    """The configuration cannot be used. `str()` lists every problem, one per line."""

    def __init__(self, problems: list[ConfigProblem], source: Path | str | None = None) -> None:
        self.problems = list(problems)
        self.source = str(source) if source is not None else None
        super().__init__(self._message())

    def _message(self) -> str:
        count = len(self.problems)
        where = f" in {self.source}" if self.source else ""
        head = f"invalid configuration{where} ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])

    def __str__(self) -> str:
        return self._message()

    @classmethod
    def from_validation_error(
        cls,
        exc: ValidationError,
        *,
        source: Path | str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ConfigError:
        """Translate pydantic's errors (all of them) into config problems with dotted keys."""
        env_names = {k.upper() for k in (environ or {})}
        problems = [_problem_from_error(err, env_names) for err in exc.errors()]
        return cls(problems, source)


def _fail(expected: str) -> PydanticCustomError:
    """A validation failure whose message is exactly `expected` (what the user should write)."""
    return PydanticCustomError("config", "{expected}", {"expected": expected})


def _fail_field(field: str, value: Any, expected: str) -> PydanticCustomError:
    """A failure raised by a model validator but belonging to one of its fields."""
    return PydanticCustomError(
        "config_field", "{expected}", {"field": field, "value": value, "expected": expected}
    )


# --------------------------------------------------------------------------------------------
# Small reusable types


def _blank_to_empty(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return value


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _expand_user(value: Any) -> Any:
    if isinstance(value, str | Path):
        text = str(value).strip()
        return Path(text).expanduser() if text else None
    return value


Text = Annotated[str, BeforeValidator(_blank_to_empty)]
"""Optional free text: absent, null or blank all become "" (what the invoice snapshot wants)."""
OptPath = Annotated[Path | None, BeforeValidator(_expand_user)]


def _check_email(value: str, what: str) -> str:
    if value and not _EMAIL.match(value):
        raise _fail(f"{what}, a plain address such as contact@maboutique.fr (no name, no <>)")
    return value


def is_sole_trader_form(legal_form: str) -> bool:
    """True for EI, EIRL, micro-entreprise, auto-entrepreneur… (any case, spaces or dashes)."""
    norm = re.sub(r"[\s_]+", "-", legal_form.strip().upper().replace(".", ""))
    return norm in SOLE_TRADER_FORMS


def french_vat_for(siren: str) -> str:
    """The French intra-community VAT number of a SIREN: key = (12 + 3·(siren mod 97)) mod 97."""
    key = (12 + 3 * (int(siren) % 97)) % 97
    return f"FR{key:02d}{siren}"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --------------------------------------------------------------------------------------------
# Sections


class AddressConfig(_Section):
    line1: str = Field(min_length=1, description="street address, e.g. '8 rue Mercière'")
    line2: Text = Field(default="", description="optional second address line")
    postcode: str = Field(min_length=1, description="postcode, 5 digits in France")
    city: str = Field(min_length=1, description="city name")
    country: Annotated[str, BeforeValidator(_upper)] = Field(
        default="FR", pattern=r"^[A-Z]{2}$", description="ISO 3166 two-letter country code, e.g. FR"
    )

    @model_validator(mode="after")
    def _french_postcode(self) -> AddressConfig:
        if self.country == "FR" and not re.fullmatch(r"\d{5}", self.postcode):
            raise _fail_field("postcode", self.postcode, "a 5-digit French postcode, e.g. 69002")
        return self


class SellerConfig(_Section):
    """The shop owner's legal identity, printed on every invoice."""

    legal_name: str = Field(
        min_length=1, description="the registered name, as on the Kbis (e.g. 'La Théière SAS')"
    )
    trade_name: Text = Field(default="", description="optional shop/brand name")
    legal_form: str = Field(
        min_length=1,
        description="the legal form: SAS, SASU, SARL, EURL, SA, SNC… or EI, EIRL, micro-entreprise",
    )
    share_capital: Annotated[Decimal | None, BeforeValidator(_blank_to_none)] = Field(
        default=None,
        validate_default=True,
        description="the share capital in euros (companies only), e.g. 10000",
    )
    address: AddressConfig = Field(description="the registered address ([seller.address] table)")
    siren: str = Field(description="a 9-digit SIREN with a valid Luhn checksum (see your Kbis)")
    siret: Text = Field(
        default="", description="the 14-digit SIRET of the establishment (SIREN + 5 digits)"
    )
    rcs_city: Text = Field(
        default="",
        validate_default=True,
        description="the city of the RCS registry (e.g. 'Lyon'), as on the Kbis",
    )
    vat_regime: Annotated[Literal["normal", "franchise", "debits"], BeforeValidator(_lower)] = (
        Field(
            default="normal",
            description="'normal', 'franchise' (franchise en base, art. 293 B) or 'debits'",
        )
    )
    vat_number: Text = Field(
        default="",
        validate_default=True,
        description="the intra-community VAT number, e.g. FR44732829320",
    )
    email: Text = Field(default="", description="contact email printed on invoices")
    phone: Text = Field(default="", description="contact phone printed on invoices")
    website: Text = Field(default="", description="website printed on invoices")
    logo: OptPath = Field(default=None, description="path to a PNG/JPEG logo for the invoice")
    brand_color: str = Field(default="#1f3a5f", description="a colour as #RRGGBB, e.g. #1f3a5f")
    timezone: str = Field(
        default="Europe/Paris", description="an IANA time zone, e.g. Europe/Paris"
    )
    default_locale: Annotated[Literal["fr", "en"], BeforeValidator(_lower)] = Field(
        default="fr", description="'fr' or 'en': invoice language when the order has none"
    )

    @property
    def is_sole_trader(self) -> bool:
        return is_sole_trader_form(self.legal_form)

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("share_capital")
    @classmethod
    def _capital(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        form = info.data.get("legal_form")
        if value is not None:
            if not value.is_finite() or value <= 0:
                raise _fail("a positive amount in euros, e.g. 10000")
            if value != value.quantize(Decimal("0.01")):
                raise _fail("an amount in euros with at most 2 decimals, e.g. 10000 or 1500.50")
        if form is None:
            return value
        if is_sole_trader_form(form):
            if value is not None:
                raise _fail(
                    f"no share_capital for a sole trader ({form}): an EI has no capital — "
                    "remove the key"
                )
        elif value is None:
            raise _fail(
                f"the share capital of your {form} in euros (see your Kbis), e.g. "
                "share_capital = 10000 — it is a mandatory invoice mention for a company"
            )
        return value

    @field_validator("siren", mode="before")
    @classmethod
    def _siren(cls, value: Any) -> Any:
        if not isinstance(value, str | int):
            return value
        try:
            return fr_siren.validate(str(value))
        except StdnumError:
            raise _fail("a 9-digit SIREN with a valid Luhn checksum (see your Kbis)") from None

    @field_validator("siret", mode="before")
    @classmethod
    def _siret(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            return value
        try:
            value = fr_siret.validate(value)
        except StdnumError:
            raise _fail(
                "a 14-digit SIRET with a valid checksum (SIREN + 5-digit NIC, see your Kbis)"
            ) from None
        siren = info.data.get("siren")
        if siren and not value.startswith(siren):
            raise _fail(
                f"a SIRET starting with the SIREN {siren} (the first 9 digits of a SIRET are "
                "the SIREN): one of the two is mistyped"
            )
        return value

    @field_validator("rcs_city")
    @classmethod
    def _rcs(cls, value: str, info: ValidationInfo) -> str:
        form = info.data.get("legal_form")
        if not value and form and not is_sole_trader_form(form):
            raise _fail(
                f"the city of the RCS registry of your {form}, as on the Kbis (e.g. 'Lyon' for "
                "'RCS Lyon') — required for a company"
            )
        return value

    @field_validator("vat_number")
    @classmethod
    def _vat(cls, value: str, info: ValidationInfo) -> str:
        regime = info.data.get("vat_regime")
        if not value:
            if regime in ("normal", "debits"):
                raise _fail(
                    f"your intra-community VAT number (e.g. FR44732829320): required when "
                    f"vat_regime = '{regime}'; set vat_regime = 'franchise' if you are under "
                    "the franchise en base (art. 293 B du CGI)"
                )
            return value
        try:
            number = eu_vat.validate(value)
        except StdnumError:
            raise _fail(
                "an EU VAT number: country code + number with a valid key, e.g. FR44732829320 "
                "(see your professional space on impots.gouv.fr)"
            ) from None
        siren = info.data.get("siren")
        address = info.data.get("address")
        french = address is None or address.country == "FR"
        if french and not number.startswith("FR"):
            raise _fail("a French VAT number (FR + key + SIREN): the seller's address is in France")
        if number.startswith("FR") and siren:
            try:
                owner = fr_tva.to_siren(number[2:])
            except StdnumError:  # pragma: no cover - validate() already checked the format
                owner = ""
            if owner != siren:
                raise _fail(
                    f"the VAT number of SIREN {siren}, i.e. {french_vat_for(siren)} "
                    f"(this one belongs to SIREN {owner or '?'})"
                )
        return number

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _check_email(value, "a contact email")

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise _fail(
                f"an existing image file (nothing at {value}); relative paths are resolved "
                "against the config file's folder"
            )
        return value

    @field_validator("brand_color", mode="before")
    @classmethod
    def _color(cls, value: Any) -> Any:
        if isinstance(value, str) and _COLOR.match(value.strip()):
            return value.strip().lower()
        raise _fail("a colour as #RRGGBB, e.g. #1f3a5f")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise _fail("an IANA time zone such as Europe/Paris or America/Martinique") from None
        return value


class NumberingConfig(_Section):
    """How invoice numbers look. Numbers come from the store's counter, gapless per series."""

    series: str = Field(
        default="FA",
        pattern=r"^[A-Za-z0-9+\-_/]{1,20}$",
        description=f"the series name: 1-20 characters from {NUMBER_CHARS}",
    )
    format: str = Field(
        default="FA-{year}-{seq:06d}",
        description="the number template, e.g. 'FA-{year}-{seq:06d}'",
    )
    yearly_reset: bool = Field(
        default=True, description="true to restart at 1 every 1 January (format needs {year})"
    )

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        _check_number_format(value)
        return value

    @model_validator(mode="after")
    def _reset_needs_year(self) -> NumberingConfig:
        if self.yearly_reset and "year" not in _placeholders(self.format):
            raise _fail_field(
                "format",
                self.format,
                "a format containing {year} when yearly_reset = true (otherwise numbers would "
                "repeat every January): add {year}, e.g. 'FA-{year}-{seq:06d}', or set "
                "yearly_reset = false",
            )
        return self

    def period_for(self, issued_local_date: date) -> str:
        """The counter period the date belongs to: "2026" with a yearly reset, else ""."""
        return f"{issued_local_date.year:04d}" if self.yearly_reset else ""

    def format_number(self, seq: int, issued_local_date: date) -> str:
        """Render the invoice number of sequence `seq` issued on `issued_local_date`."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise ValueError(f"sequence must be a positive integer, got {seq!r}")
        number = self.format.format(
            year=f"{issued_local_date.year:04d}",
            month=f"{issued_local_date.month:02d}",
            seq=seq,
        )
        if len(number) > MAX_NUMBER_LENGTH:
            raise ValueError(
                f"invoice number {number!r} is longer than {MAX_NUMBER_LENGTH} characters"
            )
        return number


def _placeholders(fmt: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(fmt) if name is not None]
    except ValueError:
        return []


def _check_number_format(fmt: str) -> None:
    help_ = "e.g. 'FA-{year}-{seq:06d}'"
    try:
        parts = list(string.Formatter().parse(fmt))
    except ValueError:
        raise _fail(f"a format with balanced braces, {help_}") from None
    length = 0
    has_seq = False
    for literal, name, spec, conversion in parts:
        if not _NUMBER_LITERAL.fullmatch(literal):
            bad = "".join(sorted({c for c in literal if not _NUMBER_LITERAL.fullmatch(c)}))
            raise _fail(
                f"only the characters {NUMBER_CHARS} outside placeholders (found {bad!r}), {help_}"
            )
        length += len(literal)
        if name is None:
            continue
        if name not in ("year", "month", "seq") or conversion:
            raise _fail(
                f"only the placeholders {{year}}, {{month}} and {{seq}} (found {{{name}}}), {help_}"
            )
        if name == "seq":
            has_seq = True
            match = _SEQ_SPEC.fullmatch(spec or "") if spec else None
            if spec and not match:
                raise _fail(f"{{seq}} or {{seq:0Nd}} for N digits with leading zeros, {help_}")
            length += max(_WORST_SEQ_DIGITS, int(match.group(1)) if match else 0)
        else:
            if spec:
                raise _fail(
                    f"{{{name}}} without a format spec ({{year}} is always 4 digits, {{month}} "
                    f"always 2), {help_}"
                )
            length += 4 if name == "year" else 2
    if not has_seq:
        raise _fail(f"a format containing {{seq}} (the sequential number), {help_}")
    if length > MAX_NUMBER_LENGTH:
        raise _fail(
            f"a format whose numbers fit in {MAX_NUMBER_LENGTH} characters; the longest one it "
            f"can produce (year 9999, sequence 999999999) has {length}: shorten the fixed text "
            "or the {seq} padding"
        )


class EmailConfig(_Section):
    """SMTP settings for sending receipts. Email is off while `host` is empty."""

    enabled: bool = Field(
        default=False, description="true/false; defaults to true when host is set"
    )
    host: Text = Field(default="", description="the SMTP server, e.g. smtp-relay.brevo.com")
    port: int = Field(
        default=587, ge=1, le=65535, description="the SMTP port, 1-65535 (587 starttls, 465 ssl)"
    )
    security: Annotated[Literal["none", "starttls", "ssl"], BeforeValidator(_lower)] = Field(
        default="starttls", description="'starttls', 'ssl' or 'none'"
    )
    username: Text = Field(default="", description="the SMTP login, empty for no authentication")
    password: Annotated[SecretStr | None, BeforeValidator(_blank_to_none)] = Field(
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
        if "port" not in data and _lower(data.get("security")) == "ssl":
            data["port"] = 465
        return data

    @field_validator("host")
    @classmethod
    def _host(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("enabled") and not value:
            raise _fail("the SMTP server name when enabled = true (or set enabled = false)")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("enabled") and info.data.get("username") and value is None:
            raise _fail(
                "the SMTP password for this username: set QUITTANCE_EMAIL__PASSWORD (or "
                "email.password), or leave username empty for no authentication"
            )
        return value

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("enabled") and not value:
            raise _fail("the sender address, e.g. factures@maboutique.fr (required to send email)")
        return _check_email(value, "the sender address")

    @field_validator("reply_to", "bcc")
    @classmethod
    def _optional_email(cls, value: str) -> str:
        return _check_email(value, "an email address or nothing")


def redact_url(url: str) -> str:
    """`postgresql+psycopg://user:secret@host/db` -> `postgresql+psycopg://user:***@host/db`."""
    return _URL_USERINFO.sub(r"\1:***@", url)


class StorageConfig(_Section):
    database_url: str = Field(
        default="sqlite:///var/quittance.db",
        description="sqlite:///path/to/file.db or postgresql://user@host:5432/dbname",
    )
    archive_dir: Annotated[Path, BeforeValidator(_expand_user)] = Field(
        default=Path("var/archive"), description="the folder keeping the PDFs (10 years)"
    )

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value[len("postgresql://") :]
        if value.startswith("postgres://"):
            raise _fail(
                "postgresql://… (not postgres://), e.g. postgresql://quittance@db:5432/quittance"
            )
        if value.startswith(("sqlite:///", "postgresql+psycopg://")) and len(value) > 12:
            return value
        raise _fail(
            "a database URL starting with sqlite:/// (e.g. sqlite:///var/quittance.db) or "
            "postgresql:// (e.g. postgresql://quittance@127.0.0.1:5432/quittance)"
        )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "database_url" else value


def _split_urls(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise _fail(
                    'a JSON list of apprise URLs, e.g. ["mailto://…", "tgram://…"]'
                ) from None
        return text.split()
    return value


class AlertsConfig(_Section):
    urls: Annotated[list[SecretStr], NoDecode, BeforeValidator(_split_urls)] = Field(
        default_factory=list,
        description="apprise URLs (mailto://, tgram://, slack://…) notified when a job fails",
    )
    dedupe_window_minutes: int = Field(
        default=60, gt=0, description="minutes during which a repeated alert is not resent"
    )

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for url in value:
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", url.get_secret_value()):
                raise _fail(
                    "apprise URLs such as mailto://user:pass@gmail.com or tgram://token/chat"
                )
        return value


class TemplatesConfig(_Section):
    dir: OptPath = Field(
        default=None,
        description="a folder of template overrides; missing files fall back to ours",
    )

    @field_validator("dir")
    @classmethod
    def _dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise _fail(
                f"an existing folder (nothing at {value}); relative paths are resolved against "
                "the config file's folder"
            )
        return value


class LegalConfig(_Section):
    """The seller's own wording of the mentions the law lets them choose (empty = standard)."""

    late_payment_penalties: str = Field(default="", description="B2B late-payment penalty text")
    late_payment_penalties_en: str = ""
    early_payment_discount: str = Field(default="", description="B2B escompte terms")
    early_payment_discount_en: str = ""
    legal_guarantee: str = Field(default="", description="legal-guarantee text for goods")
    legal_guarantee_en: str = ""


def _from_env_reference(value: Any) -> Any:
    """`"${NAME}"` → the value of environment variable NAME (secrets stay out of the file)."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        name = value[2:-1].strip()
        context = _LOAD_CONTEXT.get()
        environ = context[1] if context is not None else os.environ
        if name not in environ or not environ[name]:
            raise _fail(f"environment variable {name} to be set (the file says ${{{name}}})")
        return environ[name]
    return value


Secret = Annotated[SecretStr, BeforeValidator(_from_env_reference)]
SHOP_NAME = r"^[a-z0-9][a-z0-9_-]{0,49}$"


class ShopBase(_Section):
    name: str = Field(pattern=SHOP_NAME, description="short id used in URLs: a-z 0-9 _ -")
    enabled: bool = Field(default=True, description="false = ignore this shop")
    poll_interval_seconds: int = Field(default=300, ge=10, description="safety-net polling")
    poll_overlap_seconds: int = Field(
        default=600, ge=0, description="how far back each poll re-reads, for clock skew"
    )
    default_locale: Annotated[Literal["fr", "en", ""], BeforeValidator(_lower)] = Field(
        default="", description="invoice language when the order has none ('' = seller's)"
    )
    send_email: bool = Field(default=True, description="email the invoice to the customer")
    timeout_seconds: float = Field(default=20.0, gt=0, le=120, description="HTTP timeout")


class WooCommerceShop(ShopBase):
    platform: Literal["woocommerce"]
    url: str = Field(pattern=r"^https?://", description="the store URL, e.g. https://shop.fr")
    consumer_key: Secret = Field(description="REST API key (ck_…)")
    consumer_secret: Secret = Field(description="REST API secret (cs_…)")
    webhook_secret: Secret = Field(description="the secret set on the shop's webhooks")
    paid_statuses: list[str] = Field(
        default_factory=lambda: ["processing", "completed"],
        description="statuses that mean paid (with date_paid_gmt set)",
    )
    customer_note: bool = Field(default=False, description="order note visible to the customer")
    vat_meta_keys: list[str] = Field(
        default_factory=lambda: [
            "_billing_vat_number", "_vat_number", "vat_number", "_billing_eu_vat_number",
        ],
        description="order meta keys an EU VAT plugin stores the buyer's VAT number in",
    )  # fmt: skip
    siren_meta_keys: list[str] = Field(
        default_factory=lambda: ["_billing_siren", "billing_siren", "siren"],
        description="order meta keys holding the buyer's SIREN",
    )
    locale_meta_keys: list[str] = Field(
        default_factory=lambda: ["wpml_language", "_locale", "locale", "pll_language"],
        description="order meta keys holding the customer's language",
    )


class ShopifyShop(ShopBase):
    platform: Literal["shopify"]
    domain: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*(:\d+)?$",
        description="the shop's myshopify domain, e.g. la-theiere.myshopify.com",
    )
    access_token: Secret = Field(description="Admin API access token (shpat_…)")
    client_secret: Secret = Field(description="the app's client secret (webhook HMAC)")
    previous_client_secret: Annotated[Secret | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, description="the former secret while rotating"
    )
    api_version: str = Field(
        default="2025-10", pattern=r"^(\d{4}-\d{2}|unstable)$", description="Admin API version"
    )
    order_note: bool = Field(
        default=False, description="also append a line to the order note (replaces the note!)"
    )
    api_base_url: str = Field(
        default="", description="tests/sandbox only: e.g. http://127.0.0.1:8899 instead of https"
    )


ShopConfig = Annotated[WooCommerceShop | ShopifyShop, Field(discriminator="platform")]


class ServerConfig(_Section):
    host: str = Field(default="127.0.0.1", description="listen address (0.0.0.0 in Docker)")
    port: int = Field(default=8080, ge=1, le=65535, description="listen port")
    public_url: Text = Field(
        default="", description="the https URL shops reach us at (webhooks, invoice links)"
    )
    link_secret: Annotated[Secret | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, description="signs invoice download links (QUITTANCE_SERVER__LINK_SECRET)"
    )


class LoggingConfig(_Section):
    level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
    ] = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    format: Annotated[Literal["auto", "json", "console"], BeforeValidator(_lower)] = Field(
        default="auto", description="'auto' (console in a terminal, else json), 'json', 'console'"
    )


class JobsConfig(_Section):
    lease_seconds: int = Field(default=300, gt=0, description="seconds a worker holds a job")
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

    @field_validator("backoff_max_seconds")
    @classmethod
    def _max(cls, value: int, info: ValidationInfo) -> int:
        initial = info.data.get("backoff_initial_seconds")
        if initial is not None and value < initial:
            raise _fail(f"at least backoff_initial_seconds ({initial})")
        return value


# --------------------------------------------------------------------------------------------
# Settings and its sources

_LOAD_CONTEXT: ContextVar[tuple[Path, Mapping[str, str]] | None] = ContextVar(
    "quittance_config_load", default=None
)


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
_FILE_PATH_KEYS = (("seller", "logo"), ("templates", "dir"), ("storage", "archive_dir"))


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
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    shops: list[ShopConfig] = Field(default_factory=list)

    @field_validator("shops")
    @classmethod
    def _unique_shop_names(cls, shops: list[ShopConfig]) -> list[ShopConfig]:
        names = [shop.name for shop in shops]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise _fail(f"unique shop names; {', '.join(duplicates)} appear more than once")
        return shops

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
        context = _LOAD_CONTEXT.get()
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
    token = _LOAD_CONTEXT.set((file, env))
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError.from_validation_error(exc, source=file, environ=env) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_problem(file, exc)], source=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [ConfigProblem("config", repr(str(file)), f"a readable UTF-8 TOML file ({exc})")],
            source=file,
        ) from None
    except SettingsError as exc:
        raise ConfigError([_env_problem(exc, env)], source=file) from None
    finally:
        _LOAD_CONTEXT.reset(token)


def _toml_problem(file: Path, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    text = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)", text)
    reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", text) or "syntax error"
    if found:
        line, column = found.groups()
        return ConfigProblem(
            f"{file.name} line {line}",
            f"<TOML syntax error at line {line}, column {column} of {file}>",
            f'valid TOML ({reason}): text values need quotes, e.g. city = "Lyon"',
        )
    return ConfigProblem(file.name, f"<TOML syntax error in {file}>", f"valid TOML ({reason})")


def _env_problem(exc: SettingsError, env: Mapping[str, str]) -> ConfigProblem:
    found = re.search(r'field "([^"]+)"', str(exc))
    key = found.group(1) if found else "environment"
    names = sorted(k for k in env if k.upper().startswith(f"{ENV_PREFIX}{key.upper()}"))
    return ConfigProblem(
        key,
        "<not shown>",
        "valid JSON for a whole table, or one variable per key: "
        f"{ENV_PREFIX}<SECTION>{ENV_DELIMITER}<KEY>=value, "
        f"e.g. {ENV_PREFIX}SELLER{ENV_DELIMITER}ADDRESS{ENV_DELIMITER}CITY=Lyon",
        origin=", ".join(names) or None,
    )


# --------------------------------------------------------------------------------------------
# Translating pydantic errors


def _sub_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _sub_models(arg)]


def _has_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_has_secret(arg) for arg in get_args(annotation))


def _walk(loc: tuple[str | int, ...]) -> tuple[type[BaseModel] | None, Any, bool]:
    """(model owning the last named key, its FieldInfo or None, whether the value is secret)."""
    model: type[BaseModel] | None = Settings
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None:
            return None, None, False
        field = model.model_fields.get(part)
        if field is None:
            return model, None, False
        if _has_secret(field.annotation):
            return model, field, True
        subs = _sub_models(field.annotation)
        if subs:
            model = subs[0]
    return model, field, False


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _show(value: Any, secret: bool) -> str:
    if value is None:
        return "<missing>"
    if secret:
        return MASK
    if isinstance(value, dict):
        return "<a table>"
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str):
        value = redact_url(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_SECRETISH = re.compile(r"pass|pwd|secret|token|key|url|auth|cred", re.IGNORECASE)


def _problem_from_error(err: Any, env_names: set[str]) -> ConfigProblem:
    loc: tuple[str | int, ...] = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    value: Any = err.get("input")
    if kind == "config_field":
        loc = (*loc, ctx["field"])
        value = ctx.get("value")
    owner, field, secret = _walk(loc)
    expected: str
    if kind in ("config", "config_field"):
        expected = str(ctx.get("expected", err.get("msg", "")))
    elif kind == "extra_forbidden":
        name = str(loc[-1]) if loc else ""
        known = list(owner.model_fields) if owner is not None else []
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        secret = bool(_SECRETISH.search(name)) or bool(
            close and owner is not None and _has_secret(owner.model_fields[close[0]].annotation)
        )
        hint = f"typo for '{close[0]}'? " if close else ""
        section = _dotted(loc[:-1]) if len(loc) > 1 else "the top level"
        expected = (
            f"a known key ({hint}keys allowed in {section}: {', '.join(known)})"
            if known
            else "no key here: remove it"
        )
    elif kind == "missing":
        what = field.description if field is not None and field.description else "a value"
        expected = f"{what} — this key is required"
        value = None
    else:
        msg = str(err.get("msg", "a valid value"))
        msg = re.sub(r"^(Input should be|Value error,)\s*", "", msg)
        what = field.description if field is not None and field.description else ""
        expected = f"{msg}: {what}" if what and what not in msg else msg
    if isinstance(value, dict) and kind != "missing" and not loc:
        value = None
    shown = _show(value, secret) if kind != "missing" else "<missing>"
    env_name = ENV_PREFIX + ENV_DELIMITER.join(str(p) for p in loc if isinstance(p, str)).upper()
    origin = env_name if env_name in env_names else None
    return ConfigProblem(_dotted(loc), shown, expected, origin)
