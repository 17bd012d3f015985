"""`[[sms]]` and `[[helpdesks]]`: each table names a configured shop, carries what its
gateway or helpdesk needs, and is refused with the key to fix when it does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.config import ConfigError, Settings, load_settings
from tests.support.config import toml_text
from tests.test_config import BASE

SHOP = {
    "name": "boutique", "platform": "woocommerce", "url": "https://boutique.example.fr",
    "consumer_key": "ck_x", "consumer_secret": "cs_x", "webhook_secret": "wh_x",
}  # fmt: skip
TWILIO = {
    "shop": "boutique", "account_sid": "AC" + "1" * 32, "auth_token": "tw-secret-token-42",
    "sender": "MaBoutique",
}  # fmt: skip
ZENDESK = {
    "shop": "boutique", "kind": "zendesk", "url": "https://boutique.zendesk.com",
    "email": "agent@boutique.example.fr", "token": "zd-secret-token-42",
}  # fmt: skip
INTERCOM = {
    "shop": "boutique", "kind": "intercom", "url": "https://api.eu.intercom.io",
    "token": "ic-secret-token-42", "admin_id": "814860",
}  # fmt: skip


def settings(tmp_path: Path, env: dict[str, str] | None = None, **arrays: Any) -> Settings:
    path = tmp_path / "quittance.toml"
    path.write_text(toml_text({**BASE, "shops": [SHOP], **arrays}), encoding="utf-8")
    return load_settings(path, environ=env or {})


def problems(tmp_path: Path, **arrays: Any) -> str:
    with pytest.raises(ConfigError) as info:
        settings(tmp_path, **arrays)
    return str(info.value)


def test_a_shop_without_an_sms_table_sends_no_texts(tmp_path: Path) -> None:
    assert settings(tmp_path).sms_for("boutique") is None


def test_an_sms_table_turns_texts_on_for_its_shop(tmp_path: Path) -> None:
    cfg = settings(tmp_path, sms=[TWILIO]).sms_for("boutique")
    assert cfg is not None and cfg.gateway == "twilio" and cfg.max_segments == 1


def test_an_sms_table_switched_off_sends_nothing(tmp_path: Path) -> None:
    assert settings(tmp_path, sms=[{**TWILIO, "enabled": False}]).sms_for("boutique") is None


def test_an_sms_table_of_an_unknown_shop_is_refused_naming_the_shops(tmp_path: Path) -> None:
    message = problems(tmp_path, sms=[{**TWILIO, "shop": "other"}])
    assert "boutique" in message and "'other'" in message


def test_twilio_without_its_token_is_refused_naming_the_key(tmp_path: Path) -> None:
    message = problems(tmp_path, sms=[{**TWILIO, "auth_token": ""}])
    assert "auth_token" in message


def test_the_token_may_come_from_the_environment(tmp_path: Path) -> None:
    table = {**TWILIO, "auth_token": "${TWILIO_TOKEN}"}
    cfg = settings(tmp_path, {"TWILIO_TOKEN": "from-env-123"}, sms=[table]).sms_for("boutique")
    assert cfg is not None and cfg.auth_token.get_secret_value() == "from-env-123"


def test_a_sender_name_longer_than_eleven_characters_is_refused(tmp_path: Path) -> None:
    assert "11 letters" in problems(tmp_path, sms=[{**TWILIO, "sender": "La Boutique Bleue"}])


def test_an_apprise_url_must_say_where_the_number_goes(tmp_path: Path) -> None:
    table = {"shop": "boutique", "gateway": "apprise", "apprise_url": "octopush://k@u/0612"}
    assert "{to}" in problems(tmp_path, sms=[table])


def test_an_apprise_url_with_its_placeholder_is_accepted(tmp_path: Path) -> None:
    table = {"shop": "boutique", "gateway": "apprise", "apprise_url": "json://h/{to}"}
    cfg = settings(tmp_path, sms=[table]).sms_for("boutique")
    assert cfg is not None and cfg.gateway == "apprise"


def test_two_sms_tables_for_one_shop_are_refused(tmp_path: Path) -> None:
    assert "one [[sms]] table per shop" in problems(tmp_path, sms=[TWILIO, TWILIO])


def test_a_shop_may_use_zendesk_and_intercom_each_once(tmp_path: Path) -> None:
    loaded = settings(tmp_path, helpdesks=[ZENDESK, INTERCOM])
    assert loaded.helpdesk_for("boutique", "zendesk") is not None
    assert loaded.helpdesk_for("boutique", "intercom") is not None


def test_two_zendesk_tables_for_one_shop_are_refused(tmp_path: Path) -> None:
    assert "per shop and kind" in problems(tmp_path, helpdesks=[ZENDESK, ZENDESK])


def test_zendesk_needs_the_agent_address_its_token_belongs_to(tmp_path: Path) -> None:
    assert "email" in problems(tmp_path, helpdesks=[{**ZENDESK, "email": ""}])


def test_intercom_needs_the_admin_its_notes_are_written_as(tmp_path: Path) -> None:
    assert "admin_id" in problems(tmp_path, helpdesks=[{**INTERCOM, "admin_id": ""}])


def test_intercom_cannot_open_conversations(tmp_path: Path) -> None:
    assert "open_ticket" in problems(tmp_path, helpdesks=[{**INTERCOM, "open_ticket": True}])


def test_a_helpdesk_url_must_be_an_http_url(tmp_path: Path) -> None:
    assert "url" in problems(tmp_path, helpdesks=[{**ZENDESK, "url": "boutique.zendesk"}])


def test_a_refused_table_never_shows_its_token(tmp_path: Path) -> None:
    message = problems(
        tmp_path, helpdesks=[{**ZENDESK, "email": ""}], sms=[{**TWILIO, "sender": "x" * 20}]
    )
    assert "zd-secret-token-42" not in message and "tw-secret-token-42" not in message


def test_a_helpdesk_timeout_longer_than_the_lease_is_refused(tmp_path: Path) -> None:
    # Zendesk's hand-over is an upload and an update: 2 × 50 s outlasts a 60 s lease.
    slow = {**ZENDESK, "timeout_seconds": 50}
    message = problems(tmp_path, helpdesks=[slow], jobs={"lease_seconds": 60})
    assert "lease_seconds" in message and "timeout_seconds" in message


def test_a_region_phone_numbers_do_not_know_is_refused_with_the_right_code(
    tmp_path: Path,
) -> None:
    assert "GB" in problems(tmp_path, sms=[{**TWILIO, "default_region": "UK"}])


def test_an_account_sid_that_is_not_twilios_shape_is_refused(tmp_path: Path) -> None:
    assert "32 hexadecimal" in problems(tmp_path, sms=[{**TWILIO, "account_sid": "AC123/.."}])


def test_a_token_is_never_sent_over_plain_http_to_another_machine(tmp_path: Path) -> None:
    desk = {**ZENDESK, "url": "http://boutique.zendesk.com"}
    gateway = {**TWILIO, "api_url": "http://api.twilio.com"}
    assert "https" in problems(tmp_path, helpdesks=[desk])
    assert "https" in problems(tmp_path, sms=[gateway])


def test_plain_http_to_this_machine_is_allowed_for_a_local_relay(tmp_path: Path) -> None:
    desk = {**ZENDESK, "url": "http://127.0.0.1:8025"}
    assert settings(tmp_path, helpdesks=[desk]).helpdesk_for("boutique", "zendesk") is not None
