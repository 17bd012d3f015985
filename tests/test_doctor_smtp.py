"""`quittance doctor` connects to SMTP exactly as sending does (one opener for both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_settings
from bridge.ops import check_smtp
from bridge.services import Services
from tests.support.config import settings_for, smtp_table, write_config
from tests.support.smtp import SMTP_ACCEPTED_PASSWORD, SMTP_PASSWORD, SMTP_USER, SMTPServer

AUTH_SERVER = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _doctor_smtp_line(tmp_path: Path, port: int, **login: str | None):
    svc = Services.from_settings(settings_for(tmp_path, smtp_port=port, **login))
    try:
        return check_smtp(svc)
    finally:
        svc.close()


@AUTH_SERVER
def test_doctor_logs_in_with_the_configured_account(tmp_path: Path) -> None:
    with SMTPServer(auth=True) as smtp:
        line = _doctor_smtp_line(
            tmp_path, smtp.port, username=SMTP_USER, password=SMTP_ACCEPTED_PASSWORD
        )
    assert line.ok and "login ok" in line.detail


@AUTH_SERVER
def test_doctor_reports_a_refused_login_without_the_password(tmp_path: Path) -> None:
    with SMTPServer(auth=True) as smtp:
        line = _doctor_smtp_line(tmp_path, smtp.port, username=SMTP_USER, password=SMTP_PASSWORD)
    assert not line.ok and "535" in line.detail
    assert SMTP_PASSWORD not in line.detail


def test_doctor_refuses_starttls_the_server_does_not_offer(tmp_path: Path) -> None:
    with SMTPServer() as smtp:
        email = smtp_table(smtp.port, security="starttls")
        config = write_config(tmp_path / "quittance.toml", email=email)
        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            line = check_smtp(svc)
        finally:
            svc.close()
    assert not line.ok and "does not offer STARTTLS" in line.detail
