"""Configuration: TOML + QUITTANCE_* env overrides, validated at start-up, all problems at once."""

from __future__ import annotations

import json
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from stdnum import luhn
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret

from bridge.config import (
    ConfigError,
    ConfigProblem,
    NumberingConfig,
    Settings,
    load_settings,
)
from tests.support.config import merged, toml_text
from tests.support.paths import ROOT

EXAMPLE = ROOT / "config.example.toml"

SIREN = "732829320"
SIRET = "73282932000074"
VAT = "FR44732829320"

BASE: dict[str, Any] = {
    "seller": {
        "legal_name": "Atelier Test SAS",
        "legal_form": "SAS",
        "share_capital": 10000,
        "siren": SIREN,
        "siret": SIRET,
        "rcs_city": "Lyon",
        "vat_number": VAT,
        "address": {"line1": "1 rue A", "postcode": "69002", "city": "Lyon"},
    },
}


def write_config(folder: Path, data: dict[str, Any] | None = None, **sections: Any) -> Path:
    """Write BASE updated with `sections` ({"seller": {...}} merges into the seller table;
    a None value removes the key) and return its path."""
    path = folder / "quittance.toml"
    path.write_text(toml_text(merged(BASE if data is None else data, **sections)), encoding="utf-8")
    return path


def load(path: Path, **env: str) -> Settings:
    return load_settings(path, environ=env)


def problems_of(path: Path, **env: str) -> dict[str, ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load(path, **env)
    return {p.key: p for p in info.value.problems}


def only_problem(path: Path, key: str, **env: str) -> ConfigProblem:
    found = problems_of(path, **env)
    assert list(found) == [key], found
    return found[key]


# --- the example and the happy path ---------------------------------------------------------


def test_example_config_loads_and_is_a_valid_french_sas() -> None:
    settings = load(EXAMPLE)
    seller = settings.seller
    assert seller.legal_form == "SAS" and not seller.is_sole_trader
    assert seller.siren == SIREN  # spaces removed
    assert seller.vat_number == VAT  # compact form
    assert seller.siret.startswith(seller.siren)
    assert seller.share_capital == Decimal("10000")
    assert settings.numbering.format_number(1, date(2026, 3, 1)) == "FA-2026-000001"
    assert settings.email.enabled is False
    # relative paths in the file are relative to the file's folder (the repo root here)
    assert settings.storage.archive_dir == ROOT / "var" / "archive"
    assert settings.storage.database_url == f"sqlite:///{ROOT / 'var' / 'quittance.db'}"


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    sections = {
        name: field.annotation
        for name, field in Settings.model_fields.items()
        if name not in ("seller", "shops", "surveys", "sms", "helpdesks")
    }
    from bridge.config import AddressConfig, SellerConfig
    from connectors.shopify.settings import ShopifyShop
    from connectors.woocommerce.settings import WooCommerceShop

    assert "[[shops]]" in text
    for model in (WooCommerceShop, ShopifyShop):
        for key in model.model_fields:
            assert f"\n{key} =" in text or f"\n# {key} =" in text, f"shops.{key}"
    from bridge.config.channels import HelpdeskConfig, SmsConfig
    from bridge.config.portal import SurveyConfig

    for array, model in (("surveys", SurveyConfig), ("sms", SmsConfig),
                         ("helpdesks", HelpdeskConfig)):  # fmt: skip
        assert f"[[{array}]]" in text, array
        for key in model.model_fields:
            assert f"\n{key} =" in text or f"\n# {key} =" in text, f"{array}.{key}"
    sections["seller"] = SellerConfig
    sections["seller.address"] = AddressConfig
    from bridge.config.accounting import AccountsConfig

    sections["accounting.accounts"] = AccountsConfig
    for section, model in sections.items():
        assert f"[{section}]" in text, section
        for key in model.model_fields:
            if key in ("address", "accounts"):
                continue
            assert f"\n{key} =" in text or f"\n# {key} =" in text, f"{section}.{key}"


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    settings = load(write_config(tmp_path))
    assert settings.seller.timezone == "Europe/Paris"
    assert settings.seller.brand_color == "#1f3a5f"
    assert settings.seller.default_locale == "fr"
    assert settings.seller.address.country == "FR"
    assert settings.seller.vat_regime == "normal"
    assert settings.numbering.series == "FA"
    assert settings.numbering.yearly_reset is True
    assert settings.email.port == 587 and settings.email.security == "starttls"
    assert settings.storage.database_url == "sqlite:///var/quittance.db"  # default: cwd-relative
    assert settings.storage.archive_dir == Path("var/archive")
    assert settings.alerts.urls == [] and settings.alerts.dedupe_window_minutes == 60
    assert settings.templates.dir is None
    assert (settings.logging.level, settings.logging.format) == ("INFO", "auto")
    jobs = settings.jobs
    assert (jobs.lease_seconds, jobs.backoff_initial_seconds, jobs.backoff_max_seconds) == (
        300,
        60,
        21600,
    )
    assert (jobs.give_up_after_hours, jobs.quick_retries) == (72, 3)


# --- where the file comes from ---------------------------------------------------------------


def test_no_path_and_no_env_var_says_how_to_fix() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={})
    message = str(info.value)
    assert "--config" in message and "QUITTANCE_CONFIG" in message
    assert "config.example.toml" in message


def test_path_from_quittance_config_env_var(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    settings = load_settings(None, environ={"QUITTANCE_CONFIG": str(path)})
    assert settings.seller.siren == SIREN


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.example\.toml"):
        load(tmp_path / "nope.toml")


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[seller]\nlegal_name = "X"\ncity = Lyon\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "broken.toml" in message
    assert "line 3" in message


# --- environment overrides and secrets ----------------------------------------------------------


def test_env_overrides_file_values(tmp_path: Path) -> None:
    path = write_config(tmp_path, email={"host": "smtp.file.example", "from_address": "a@b.fr"})
    settings = load(
        path,
        QUITTANCE_EMAIL__HOST="smtp.env.example",
        QUITTANCE_EMAIL__PORT="465",
        QUITTANCE_SELLER__ADDRESS__CITY="Villeurbanne",
        QUITTANCE_LOGGING__LEVEL="debug",
    )
    assert settings.email.host == "smtp.env.example"
    assert settings.email.port == 465
    assert settings.email.from_address == "a@b.fr"  # untouched keys still come from the file
    assert settings.seller.address.city == "Villeurbanne"
    assert settings.seller.address.line1 == "1 rue A"
    assert settings.logging.level == "DEBUG"


def test_env_vat_number_override_is_validated_and_compacted(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"vat_number": None})
    settings = load(path, QUITTANCE_SELLER__VAT_NUMBER="fr 44 732 829 320")
    assert settings.seller.vat_number == VAT


def test_secret_from_env_never_shown(tmp_path: Path) -> None:
    secret = "s3cr3t-Hunter2"
    token = "tgram://987654:AAbbCCsecrettoken/12345"
    path = write_config(
        tmp_path, email={"host": "smtp.example.fr", "username": "me", "from_address": "f@x.fr"}
    )
    settings = load(
        path,
        QUITTANCE_EMAIL__PASSWORD=secret,
        QUITTANCE_ALERTS__URLS=json.dumps([token]),
        QUITTANCE_STORAGE__DATABASE_URL=f"postgresql://user:{secret}@db:5432/q",
    )
    assert settings.email.password is not None
    assert settings.email.password.get_secret_value() == secret
    assert settings.alerts.urls[0].get_secret_value() == token
    assert settings.storage.database_url == f"postgresql+psycopg://user:{secret}@db:5432/q"
    for text in (repr(settings), str(settings), repr(settings.email), str(settings.storage)):
        assert secret not in text
        assert "secrettoken" not in text


def test_secrets_never_in_config_errors(tmp_path: Path) -> None:
    secret = "s3cr3t-Hunter2"
    path = write_config(
        tmp_path,
        email={"host": "smtp.example.fr", "from_address": "f@x.fr", "pasword": secret},
        alerts={"urls": [f"not a url {secret}"]},
        storage={"database_url": f"mysql://user:{secret}@db/q"},
        seller={"siren": "123"},
    )
    with pytest.raises(ConfigError) as info:
        load(path, QUITTANCE_ALERTS__URLS=f"[broken {secret}")
    message = str(info.value)
    keys = {p.key for p in info.value.problems}
    assert {"email.pasword", "alerts.urls", "storage.database_url", "seller.siren"} <= keys
    assert secret not in message
    assert all(secret not in p.value for p in info.value.problems)
    assert "'**********'" in message
    assert "typo for 'password'" in message


def test_email_username_without_password_is_caught_at_start_up(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, email={"host": "smtp.example.fr", "username": "me", "from_address": "f@x.fr"}
    )
    problem = only_problem(path, "email.password")
    assert problem.value == "<missing>"
    assert "QUITTANCE_EMAIL__PASSWORD" in problem.expected


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    problem = only_problem(write_config(tmp_path), "email.port", QUITTANCE_EMAIL__PORT="abc")
    assert problem.origin == "QUITTANCE_EMAIL__PORT"
    assert "QUITTANCE_EMAIL__PORT" in str(problem)


def test_alert_urls_from_env_space_separated(tmp_path: Path) -> None:
    settings = load(write_config(tmp_path), QUITTANCE_ALERTS__URLS="mailto://a:b@x.fr  tgram://t/1")
    assert [u.get_secret_value() for u in settings.alerts.urls] == [
        "mailto://a:b@x.fr",
        "tgram://t/1",
    ]


# --- every problem at once ---------------------------------------------------------------------


def test_several_bad_keys_yield_one_error_listing_all(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        seller={"siren": "123", "brand_color": "blue", "timezone": "Europe/Pariss"},
        numbering={"format": "FA {seq}"},
        email={"port": 0, "security": "tls"},
        jobs={"lease_seconds": -5},
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    err = info.value
    by_key = {p.key: p for p in err.problems}
    assert set(by_key) == {
        "seller.siren",
        "seller.brand_color",
        "seller.timezone",
        "numbering.format",
        "email.port",
        "email.security",
        "jobs.lease_seconds",
    }
    assert by_key["seller.siren"].value == "'123'"
    assert by_key["email.port"].value == "0"
    lines = str(err).splitlines()
    assert str(path) in lines[0] and "7 problems" in lines[0]
    assert len(lines) == 1 + 7
    assert any(
        line.strip().startswith("seller.siren = '123' — expected a 9-digit SIREN") for line in lines
    )
    assert any("email.security = 'tls'" in line and "starttls" in line for line in lines)


def test_unknown_key_typo_is_an_error_with_suggestion(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"vat_numbr": VAT})
    problem = only_problem(path, "seller.vat_numbr")
    assert "typo for 'vat_number'" in problem.expected


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, loging={"level": "INFO"})
    problem = only_problem(path, "loging")
    assert "logging" in problem.expected


def test_missing_required_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"siren": None})
    problem = only_problem(path, "seller.siren")
    assert problem.value == "<missing>"
    assert "required" in problem.expected


# --- seller identifiers ------------------------------------------------------------------------


def test_bad_siren_checksum(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"siren": "732829321", "siret": None, "vat_number": None})
    problems = problems_of(path)
    assert "Luhn" in problems["seller.siren"].expected


def test_siren_with_spaces_is_compacted(tmp_path: Path) -> None:
    settings = load(write_config(tmp_path, seller={"siren": "732 829 320"}))
    assert settings.seller.siren == SIREN


def test_bad_siret_checksum(tmp_path: Path) -> None:
    problem = only_problem(
        write_config(tmp_path, seller={"siret": "73282932000075"}), "seller.siret"
    )
    assert "14-digit SIRET" in problem.expected


def test_siret_must_start_with_siren(tmp_path: Path) -> None:
    other = "552100554"  # a valid SIREN, not ours
    assert fr_siren.is_valid(other)
    siret = other + "0001" + luhn.calc_check_digit(other + "0001")
    assert fr_siret.is_valid(siret)
    problem = only_problem(write_config(tmp_path, seller={"siret": siret}), "seller.siret")
    assert SIREN in problem.expected


def test_bad_vat_number(tmp_path: Path) -> None:
    problem = only_problem(
        write_config(tmp_path, seller={"vat_number": "FR00732829320"}), "seller.vat_number"
    )
    assert "EU VAT number" in problem.expected


def test_vat_number_of_another_siren(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"vat_number": "FR40303265045"})  # valid, other SIREN
    problem = only_problem(path, "seller.vat_number")
    assert VAT in problem.expected  # tells the right number


def test_vat_number_required_in_normal_regime(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"vat_number": None, "vat_regime": "normal"})
    problem = only_problem(path, "seller.vat_number")
    assert "franchise" in problem.expected


def test_vat_number_required_in_debits_regime(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"vat_number": None, "vat_regime": "debits"})
    only_problem(path, "seller.vat_number")


def test_franchise_without_vat_number_is_fine(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"vat_number": None, "vat_regime": "franchise"})
    seller = load(path).seller
    assert seller.vat_regime == "franchise" and seller.vat_number == ""


def test_unknown_vat_regime(tmp_path: Path) -> None:
    only_problem(write_config(tmp_path, seller={"vat_regime": "reduced"}), "seller.vat_regime")


# --- legal form, capital, RCS ------------------------------------------------------------------


@pytest.mark.parametrize("form", ["EI", "ei", "EIRL", "Micro-entreprise", "auto-entrepreneur"])
def test_sole_trader_with_share_capital_rejected(tmp_path: Path, form: str) -> None:
    path = write_config(tmp_path, seller={"legal_form": form, "share_capital": 1000})
    problem = only_problem(path, "seller.share_capital")
    assert "sole trader" in problem.expected


def test_sole_trader_without_capital_nor_rcs_is_fine(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, seller={"legal_form": "EI", "share_capital": None, "rcs_city": None}
    )
    seller = load(path).seller
    assert seller.is_sole_trader and seller.share_capital is None and seller.rcs_city == ""


def test_sas_without_share_capital_rejected(tmp_path: Path) -> None:
    problem = only_problem(
        write_config(tmp_path, seller={"share_capital": None}), "seller.share_capital"
    )
    assert problem.value == "<missing>"
    assert "SAS" in problem.expected


@pytest.mark.parametrize("capital", [0, -10, "abc"])
def test_share_capital_must_be_a_positive_amount(tmp_path: Path, capital: Any) -> None:
    only_problem(write_config(tmp_path, seller={"share_capital": capital}), "seller.share_capital")


def test_company_without_rcs_city_rejected(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"legal_form": "SARL", "rcs_city": None})
    only_problem(path, "seller.rcs_city")


def test_legal_form_required(tmp_path: Path) -> None:
    only_problem(write_config(tmp_path, seller={"legal_form": None}), "seller.legal_form")


# --- other seller keys ---------------------------------------------------------------------------


def test_relative_logo_resolved_against_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    (folder / "branding").mkdir(parents=True)
    (folder / "branding" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the current directory must not matter
    settings = load(write_config(folder, seller={"logo": "branding/logo.png"}))
    assert settings.seller.logo == folder / "branding" / "logo.png"


def test_logo_must_exist(tmp_path: Path) -> None:
    problem = only_problem(write_config(tmp_path, seller={"logo": "missing.png"}), "seller.logo")
    assert str(tmp_path / "missing.png") in problem.expected


def test_relative_paths_from_env_are_left_to_the_current_directory(tmp_path: Path) -> None:
    settings = load(write_config(tmp_path), QUITTANCE_STORAGE__ARCHIVE_DIR="data/pdf")
    assert settings.storage.archive_dir == Path("data/pdf")


@pytest.mark.parametrize("color", ["blue", "#12345", "#GGGGGG", "1f3a5f"])
def test_brand_color_must_be_rrggbb(tmp_path: Path, color: str) -> None:
    only_problem(write_config(tmp_path, seller={"brand_color": color}), "seller.brand_color")


def test_bad_timezone(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"timezone": "Europe/Pariss"})
    problem = only_problem(path, "seller.timezone")
    assert "Europe/Paris" in problem.expected


def test_bad_default_locale(tmp_path: Path) -> None:
    only_problem(write_config(tmp_path, seller={"default_locale": "de"}), "seller.default_locale")


def test_bad_french_postcode(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    text = path.read_text(encoding="utf-8").replace('"69002"', '"6900"')
    path.write_text(text, encoding="utf-8")
    problem = only_problem(path, "seller.address.postcode")
    assert problem.value == "'6900'"


# --- numbering ------------------------------------------------------------------------------------


def test_format_number_and_period_across_a_year_boundary() -> None:
    numbering = NumberingConfig()
    dec31, jan1 = date(2025, 12, 31), date(2026, 1, 1)
    assert numbering.period_for(dec31) == "2025"
    assert numbering.period_for(jan1) == "2026"
    assert numbering.format_number(1234, dec31) == "FA-2025-001234"
    assert numbering.format_number(1, jan1) == "FA-2026-000001"


def test_no_yearly_reset_has_one_period() -> None:
    numbering = NumberingConfig(format="F{seq:08d}", yearly_reset=False)
    assert numbering.period_for(date(2025, 12, 31)) == numbering.period_for(date(2026, 1, 1)) == ""
    assert numbering.format_number(1235, date(2026, 1, 1)) == "F00001235"


def test_month_placeholder_is_two_digits() -> None:
    numbering = NumberingConfig(format="{year}/{month}/{seq:04d}")
    assert numbering.format_number(7, date(2026, 3, 5)) == "2026/03/0007"


def test_format_number_rejects_non_positive_sequence() -> None:
    with pytest.raises(ValueError):
        NumberingConfig().format_number(0, date(2026, 1, 1))


def test_numbering_too_long(tmp_path: Path) -> None:
    # 27 fixed chars + 4 (year) + 9 (worst-case seq) = 40 > 35, although seq:06d looks shorter
    path = write_config(tmp_path, numbering={"format": "FACTURE-BOUTIQUE-LYON-{year}-{seq:06d}"})
    problem = only_problem(path, "numbering.format")
    assert "35" in problem.expected


def test_numbering_pad_wider_than_nine_counts(tmp_path: Path) -> None:
    path = write_config(tmp_path, numbering={"format": "FACTURES-{year}-{seq:025d}"})
    only_problem(path, "numbering.format")


def test_numbering_at_the_limit_is_fine(tmp_path: Path) -> None:
    fmt = "ABCDEFGHIJKLMNOPQRSTU-{year}{seq}"  # 22 + 4 + 9 = 35
    assert load(write_config(tmp_path, numbering={"format": fmt})).numbering.format == fmt


@pytest.mark.parametrize(
    "fmt", ["FA {year}-{seq}", "FA.{year}.{seq}", "FA#{year}-{seq}", "É-{year}-{seq}"]
)
def test_numbering_bad_characters(tmp_path: Path, fmt: str) -> None:
    problem = only_problem(write_config(tmp_path, numbering={"format": fmt}), "numbering.format")
    assert "A-Za-z0-9+-_/" in problem.expected


@pytest.mark.parametrize(
    "fmt", ["FA-{year}-{number}", "FA-{year:04d}-{seq}", "FA-{year}-{seq:x}", "FA-{seq"]
)
def test_numbering_bad_placeholders(tmp_path: Path, fmt: str) -> None:
    only_problem(write_config(tmp_path, numbering={"format": fmt}), "numbering.format")


def test_numbering_missing_seq(tmp_path: Path) -> None:
    problem = only_problem(
        write_config(tmp_path, numbering={"format": "FA-{year}"}), "numbering.format"
    )
    assert "{seq}" in problem.expected


def test_yearly_reset_requires_year(tmp_path: Path) -> None:
    path = write_config(tmp_path, numbering={"format": "FA-{seq:06d}", "yearly_reset": True})
    problem = only_problem(path, "numbering.format")
    assert "otherwise numbers would repeat every January" in problem.expected
    # without the reset, the same format is fine
    path = write_config(tmp_path, numbering={"format": "FA-{seq:06d}", "yearly_reset": False})
    assert load(path).numbering.period_for(date(2026, 1, 1)) == ""


def test_bad_series(tmp_path: Path) -> None:
    only_problem(write_config(tmp_path, numbering={"series": "F A"}), "numbering.series")


# --- email, storage, alerts, templates, logging, jobs ------------------------------------------


def test_email_enabled_follows_host(tmp_path: Path) -> None:
    assert load(write_config(tmp_path)).email.enabled is False
    path = write_config(tmp_path, email={"host": "smtp.example.fr", "from_address": "f@x.fr"})
    assert load(path).email.enabled is True


def test_email_ssl_defaults_to_port_465(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, email={"host": "smtp.example.fr", "from_address": "f@x.fr", "security": "SSL"}
    )
    email = load(path).email
    assert (email.security, email.port) == ("ssl", 465)


def test_email_enabled_needs_a_plausible_from_address(tmp_path: Path) -> None:
    path = write_config(tmp_path, email={"host": "smtp.example.fr"})
    only_problem(path, "email.from_address")
    path = write_config(tmp_path, email={"host": "smtp.example.fr", "from_address": "factures"})
    only_problem(path, "email.from_address")


@pytest.mark.parametrize("key", ["reply_to", "bcc"])
def test_optional_emails_must_be_plausible(tmp_path: Path, key: str) -> None:
    path = write_config(
        tmp_path, email={"host": "smtp.example.fr", "from_address": "f@x.fr", key: "not-an-email"}
    )
    only_problem(path, f"email.{key}")


@pytest.mark.parametrize("port", [0, 65536])
def test_email_port_range(tmp_path: Path, port: int) -> None:
    only_problem(write_config(tmp_path, email={"port": port}), "email.port")


def test_postgresql_url_is_normalised(tmp_path: Path) -> None:
    path = write_config(tmp_path, storage={"database_url": "postgresql://q@127.0.0.1:5432/test"})
    assert load(path).storage.database_url == "postgresql+psycopg://q@127.0.0.1:5432/test"


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://u@h/db", "sqlite://relative.db", ""])
def test_bad_database_url(tmp_path: Path, url: str) -> None:
    only_problem(write_config(tmp_path, storage={"database_url": url}), "storage.database_url")


def test_templates_dir_must_exist_and_is_resolved(tmp_path: Path) -> None:
    only_problem(write_config(tmp_path, templates={"dir": "mine"}), "templates.dir")
    (tmp_path / "mine").mkdir()
    assert (
        load(write_config(tmp_path, templates={"dir": "mine"})).templates.dir == tmp_path / "mine"
    )


def test_bad_alert_url(tmp_path: Path) -> None:
    problem = only_problem(write_config(tmp_path, alerts={"urls": ["nope"]}), "alerts.urls")
    assert problem.value == "'**********'"


def test_bad_logging_values(tmp_path: Path) -> None:
    path = write_config(tmp_path, logging={"level": "LOUD", "format": "xml"})
    assert set(problems_of(path)) == {"logging.level", "logging.format"}


@pytest.mark.parametrize(
    "key",
    ["lease_seconds", "backoff_initial_seconds", "backoff_max_seconds", "give_up_after_hours"],
)
def test_jobs_values_must_be_positive(tmp_path: Path, key: str) -> None:
    only_problem(write_config(tmp_path, jobs={key: 0}), f"jobs.{key}")


def test_jobs_backoff_max_at_least_initial(tmp_path: Path) -> None:
    path = write_config(tmp_path, jobs={"backoff_initial_seconds": 600, "backoff_max_seconds": 60})
    only_problem(path, "jobs.backoff_max_seconds")


def test_settings_are_immutable(tmp_path: Path) -> None:
    settings = load(write_config(tmp_path))
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        settings.seller.siren = "552100554"  # type: ignore[misc]


def test_demo_sample_config_loads() -> None:
    demo = ROOT / "bridge" / "samples" / "demo.toml"
    if not demo.exists():  # pragma: no cover - owned by the lead
        pytest.skip("no demo config")
    assert tomllib.loads(demo.read_text(encoding="utf-8"))
    assert load(demo).seller.siren == SIREN


# --- [[shops]]: each table is read with its own platform's schema ---------------------------

SHOPS = {
    "woocommerce": {
        "name": "theiere", "platform": "woocommerce", "url": "https://shop.fr",
        "consumer_key": "ck_1", "consumer_secret": "cs_1", "webhook_secret": "wh_1",
    },
    "shopify": {
        "name": "theiere", "platform": "shopify", "domain": "theiere.myshopify.com",
        "access_token": "shpat_1", "client_secret": "cs_1",
    },
}  # fmt: skip
SECRET_KEY = {"woocommerce": "webhook_secret", "shopify": "client_secret"}
OWN_KEY = {"woocommerce": "consumer_key", "shopify": "access_token"}


def _shop_config(tmp_path: Path, kind: str, **keys: Any) -> Path:
    shop = {k: v for k, v in {**SHOPS[kind], **keys}.items() if v is not None}
    return write_config(tmp_path, {**BASE, "shops": [shop]})


@pytest.mark.parametrize("platform", sorted(SHOPS))
def test_a_shop_secret_written_as_a_number_is_masked(tmp_path: Path, platform: str) -> None:
    key = SECRET_KEY[platform]
    problem = only_problem(_shop_config(tmp_path, platform, **{key: 12345678}), f"shops[0].{key}")
    assert problem.value == "'**********'" and "12345678" not in str(problem)


@pytest.mark.parametrize("platform", sorted(SHOPS))
def test_a_mistyped_shop_key_lists_its_own_platform_s_keys(tmp_path: Path, platform: str) -> None:
    problem = only_problem(_shop_config(tmp_path, platform, colour="red"), "shops[0].colour")
    others = [p for p in SHOPS if p != platform]
    assert OWN_KEY[platform] in problem.expected
    assert all(OWN_KEY[other] not in problem.expected for other in others)


def test_an_unknown_platform_is_named_with_the_known_ones(tmp_path: Path) -> None:
    problem = only_problem(
        _shop_config(tmp_path, "shopify", platform="magento"), "shops[0].platform"
    )
    assert problem.value == "'magento'"
    assert "shopify" in problem.expected and "woocommerce" in problem.expected


def test_a_shop_without_a_platform_is_named_with_the_known_ones(tmp_path: Path) -> None:
    problem = only_problem(_shop_config(tmp_path, "shopify", platform=None), "shops[0].platform")
    assert problem.value == "<missing>" and "woocommerce" in problem.expected


def test_credit_notes_are_numbered_in_their_own_series_by_default() -> None:
    credit = NumberingConfig().for_credit_notes()
    assert (credit.series, credit.format_number(3, date(2026, 5, 1))) == ("AV", "AV-2026-000003")


def test_credit_note_series_equal_to_the_invoices_is_refused_naming_the_key() -> None:
    with pytest.raises(ValidationError, match="credit_note_series"):
        NumberingConfig(credit_note_series="FA")


@pytest.mark.parametrize("fmt", ["{year}-{seq:06d}", "FA-{year}-{seq:06d}", "FA-AV-{seq}"])
def test_credit_note_format_whose_numbers_could_equal_an_invoice_number_is_refused(
    fmt: str,
) -> None:
    with pytest.raises(ValidationError, match="credit_note_format"):
        NumberingConfig(credit_note_format=fmt)


def test_credit_note_format_with_a_letter_is_apart_from_invoice_numbers_of_digits() -> None:
    assert NumberingConfig(format="{year}{seq:06d}").credit_note_format == "AV-{year}-{seq:06d}"


def test_credit_note_format_needs_its_year_with_a_yearly_reset() -> None:
    with pytest.raises(ValidationError, match="credit_note_format"):
        NumberingConfig(credit_note_format="AV-{seq:06d}")


# --- leases: a send fits in one ---------------------------------------------------------------


def test_an_email_timeout_longer_than_the_lease_allows_is_refused(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        email={"host": "smtp.example.fr", "from_address": "f@x.fr", "timeout": 120},
        jobs={"lease_seconds": 300},
    )
    problem = only_problem(path, "jobs")
    assert "[email] timeout (120 s)" in problem.expected
    assert "raise [jobs] lease_seconds or lower [email] timeout" in problem.expected


def test_a_heartbeat_longer_than_a_third_of_the_lease_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, jobs={"lease_seconds": 300, "heartbeat_seconds": 120})
    assert "a third of lease_seconds (300)" in only_problem(path, "jobs.heartbeat_seconds").expected


def test_the_default_lease_outlives_a_send_at_the_default_timeout(tmp_path: Path) -> None:
    settings = load(
        write_config(tmp_path, email={"host": "smtp.example.fr", "from_address": "f@x.fr"})
    )
    assert (
        5 * settings.email.timeout + settings.jobs.heartbeat_seconds <= settings.jobs.lease_seconds
    )


def test_a_step_timeout_shorter_than_one_send_is_refused(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        email={"host": "smtp.example.fr", "from_address": "f@x.fr", "timeout": 30},
        jobs={"lease_seconds": 300, "step_timeout_seconds": 20},
    )
    assert "step_timeout_seconds (20) too short" in only_problem(path, "jobs").expected


def test_the_lease_is_not_held_to_an_email_timeout_when_email_is_off(tmp_path: Path) -> None:
    settings = load(write_config(tmp_path, jobs={"lease_seconds": 60}))
    assert not settings.email.enabled and settings.jobs.lease_seconds == 60


def test_a_bcc_copy_counts_in_the_send_a_lease_must_hold(tmp_path: Path) -> None:
    email = {"host": "smtp.example.fr", "from_address": "f@x.fr", "timeout": 30}
    fits = {"lease_seconds": 160, "heartbeat_seconds": 10}
    assert load(write_config(tmp_path, email=email, jobs=fits)).jobs.lease_seconds == 160
    path = write_config(tmp_path, email={**email, "bcc": "archive@x.fr"}, jobs=fits)
    assert "up to 6 SMTP replies" in only_problem(path, "jobs").expected


def test_seller_electronic_address_is_stored_canonical(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"electronic_address": " 0225 : 732829320_FACTURES"})
    assert load(path).seller.electronic_address == "0225:732829320_FACTURES"


def test_seller_electronic_address_defaults_to_empty(tmp_path: Path) -> None:
    assert load(write_config(tmp_path)).seller.electronic_address == ""


def test_seller_electronic_address_with_an_email_under_em_is_accepted(tmp_path: Path) -> None:
    # BR-FR-23's character set is scheme 0225's: an e-mail address is what EM carries.
    path = write_config(tmp_path, seller={"electronic_address": "em:factures@example.fr"})
    assert load(path).seller.electronic_address == "EM:factures@example.fr"


def test_seller_0225_electronic_address_with_an_email_is_rejected(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"electronic_address": "0225:732829320@example.fr"})
    problem = only_problem(path, "seller.electronic_address")
    assert "BR-FR-23" in problem.expected and "remove the key" in problem.expected


def test_seller_0225_electronic_address_may_contain_a_plus(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"electronic_address": "0225:732829320+FACTURES"})
    assert load(path).seller.electronic_address == "0225:732829320+FACTURES"


def test_seller_electronic_address_longer_than_125_characters_is_rejected(
    tmp_path: Path,
) -> None:
    address = f"EM:{'a' * 120}@example.fr"
    problem = only_problem(write_config(tmp_path, seller={"electronic_address": address}),
                           "seller.electronic_address")  # fmt: skip
    assert "BR-FR-25" in problem.expected


def test_seller_0225_electronic_address_must_start_with_the_siren(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"electronic_address": "0225:552100554"})
    assert SIREN in only_problem(path, "seller.electronic_address").expected


def test_seller_electronic_address_scheme_outside_the_eas_list_is_rejected(
    tmp_path: Path,
) -> None:
    # EN 16931 checks the scheme against the EAS list: "1234" would fail every document.
    for scheme in ("1234", "ZZ"):
        path = write_config(tmp_path, seller={"electronic_address": f"{scheme}:abc"})
        expected = only_problem(path, "seller.electronic_address").expected
        assert f"'{scheme}'" in expected and "EAS" in expected
        assert '"0225:732829320"' in expected and "4-digit" not in expected


def test_seller_electronic_address_with_an_inner_space_is_rejected(tmp_path: Path) -> None:
    path = write_config(tmp_path, seller={"electronic_address": "0225:732829320 FACTURES"})
    assert "contains a space" in only_problem(path, "seller.electronic_address").expected


def test_seller_electronic_address_in_a_two_letter_eas_scheme_is_accepted(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path, seller={"electronic_address": "em:factures.latheiere"})
    assert load(path).seller.electronic_address == "EM:factures.latheiere"


@pytest.mark.parametrize("value", ["*", "10.0.0.0/33", "proxy.internal", "172.18.0.1/16"])
def test_a_trusted_proxy_must_be_an_address_or_a_network(tmp_path: Path, value: str) -> None:
    problem = only_problem(
        write_config(tmp_path, server={"trusted_proxies": ["127.0.0.1", value]}),
        "server.trusted_proxies",
    )
    assert "172.18.0.0/16" in problem.expected


def test_trusted_proxies_take_networks_of_both_families(tmp_path: Path) -> None:
    path = write_config(tmp_path, server={"trusted_proxies": ["172.18.0.0/16", "fd00::/8"]})
    assert load(path).server.trusted_proxies == ["172.18.0.0/16", "fd00::/8"]


def test_survey_labels_must_count_one_per_choice(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    with path.open("a", encoding="utf-8") as file:
        file.write(
            '\n[[shops]]\nname = "boutique"\nplatform = "woocommerce"\n'
            'url = "https://b.example.fr"\nconsumer_key = "ck"\nconsumer_secret = "cs"\n'
            'webhook_secret = "ws"\n\n[[surveys]]\nshop = "boutique"\nscale = 5\n'
            'labels_fr = ["Non", "Oui"]\n'
        )
    only_problem(path, "surveys[0].labels_fr")


def test_a_survey_must_name_a_configured_shop(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    with path.open("a", encoding="utf-8") as file:
        file.write('\n[[surveys]]\nshop = "nowhere"\n')
    assert "nowhere" in only_problem(path, "surveys").expected
