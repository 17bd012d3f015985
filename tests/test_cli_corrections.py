"""`quittance credit`, `resend` and `deliveries` through Typer's CliRunner, on a config file in
tmp_path, with a real SMTP server on loopback and the worker draining the queue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from bridge.cli import app
from bridge.services import Services
from bridge.worker import work
from tests.support.config import load_settings, write_config
from tests.support.documents import pdf_text
from tests.support.orders import sample_path
from tests.support.smtp import SMTPServer

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def _wide_consoles(wide_consoles: None) -> None:
    """Every test here reads the CLI's output unwrapped."""


@pytest.fixture
def config(tmp_path: Path, smtp: SMTPServer) -> Path:
    return write_config(tmp_path / "quittance.toml", smtp_port=smtp.port)


def cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    structlog.reset_defaults()
    return result.exit_code, " ".join((result.output or "").split())


def issued(config: Path, prefix: str = "01_") -> str:
    code, text = cli("issue", "-c", config, "--order", sample_path(prefix))
    assert code == 0, text
    return re.search(r"FA-\d{4}-\d{6}", text).group(0)  # type: ignore[union-attr]


def drain(config: Path) -> None:
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        work(svc, once=True)
    finally:
        svc.close()


def test_credit_an_amount_issues_a_credit_note_naming_the_invoice(config: Path) -> None:
    number = issued(config)
    code, text = cli(
        "credit", number, "-c", config, "--reason", "Geste commercial", "--amount", "10"
    )
    assert code == 0, text
    match = re.search(r"(AV-\d{4}-000001)\s+(\S+\.pdf)\s+credits " + number, text)
    assert match, text
    pdf = pdf_text(Path(match.group(2)).read_bytes())
    assert number in pdf and "Geste commercial" in pdf


def test_credit_some_lines_credits_those_lines(config: Path) -> None:
    number = issued(config)
    code, text = cli("credit", number, "-c", config, "--reason", "Retour", "--lines", "1")
    assert code == 0, text
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        original = svc.store.get_invoice(number)
        note = svc.store.credit_notes_of(original.id)[0]  # type: ignore[union-attr]
        assert [ln.total_incl for ln in note.snapshot.lines] == [
            original.snapshot.lines[0].total_incl  # type: ignore[union-attr]
        ]
    finally:
        svc.close()


def test_credit_beyond_the_invoice_exits_1_and_numbers_nothing(config: Path) -> None:
    number = issued(config)
    code, text = cli("credit", number, "-c", config, "--reason", "x", "--amount", "99999")
    assert code == 1 and "would exceed it" in text
    code, text = cli("credit", number, "-c", config, "--reason", "x", "--amount", "1")
    assert code == 0 and "AV-" in text and "-000001" in text


def test_credit_without_a_reason_is_refused(config: Path) -> None:
    number = issued(config)
    code, text = cli("credit", number, "-c", config, "--reason", " ")
    assert code == 2 and "--reason" in text


def test_credit_of_an_unknown_number_says_so(config: Path) -> None:
    code, text = cli("credit", "FA-1999-000001", "-c", config, "--reason", "x")
    assert code == 2 and "no invoice or credit note numbered" in text


def test_reissue_credits_the_whole_invoice_and_issues_a_new_number(config: Path) -> None:
    number = issued(config)
    code, text = cli("credit", number, "-c", config, "--reason", "Erreur d'acheteur", "--reissue")
    assert code == 0, text
    new = re.search(r"(FA-\d{4}-000002)\s+\S+\.pdf\s+replaces " + number, text)
    assert new and re.search(r"AV-\d{4}-000001\s+\S+\s+credits " + number, text), text
    code, text = cli("credit", number, "-c", config, "--reason", "again", "--amount", "1")
    assert code == 1 and "would exceed it" in text  # the old invoice is fully credited


def test_resend_sends_again_to_another_address_and_logs_it(config: Path, smtp: SMTPServer) -> None:
    number = issued(config)
    drain(config)
    code, text = cli("resend", number, "-c", config, "--to", "compta@example.fr")
    assert code == 0 and "queued for compta@example.fr" in text
    drain(config)
    assert len(smtp.received) == 2
    code, text = cli("deliveries", "-c", config, "--number", number)
    assert code == 0 and text.count(" sent ") == 2 and "compta@example.fr" in text


def test_resend_refuses_what_is_not_an_address(config: Path) -> None:
    number = issued(config)
    code, text = cli("resend", number, "-c", config, "--to", "marie at example")
    assert code == 2 and "not an email address" in text


def test_order_without_address_is_sent_once_one_is_given(config: Path, smtp: SMTPServer) -> None:
    number = issued(config, "04_")
    code, text = cli("resend", number, "-c", config)
    assert code == 2 and "--to" in text
    drain(config)
    assert smtp.received == []
    assert cli("resend", number, "-c", config, "--to", "paul@example.fr")[0] == 0
    drain(config)
    code, text = cli("deliveries", "-c", config, "--number", number)
    assert " skipped " in text and " sent " in text and len(smtp.received) == 1


def test_credit_on_a_reissued_invoice_is_a_new_credit_note_of_that_invoice(config: Path) -> None:
    number = issued(config)
    code, text = cli("credit", number, "-c", config, "--reason", "Erreur", "--reissue")
    new = re.search(r"(FA-\d{4}-000002)", text).group(1)  # type: ignore[union-attr]
    code, text = cli("credit", new, "-c", config, "--reason", "Geste", "--amount", "2")
    assert code == 0, text
    assert re.search(r"AV-\d{4}-000002\s+\S+\s+credits " + new, text), text


def test_reissue_goes_on_after_a_full_credit_without_refund(config: Path) -> None:
    number = issued(config)
    code, text = cli("credit", number, "-c", config, "--reason", "Erreur", "--no-refund")
    assert code == 0 and "AV-" in text
    code, text = cli("credit", number, "-c", config, "--reason", "Erreur", "--reissue")
    assert code == 0, text
    assert "replaces " + number in text and text.count("credits") == 0  # no second credit


def test_a_credit_without_refund_says_no_money_went_back(config: Path) -> None:
    number = issued(config)
    code, text = cli(
        "credit", number, "-c", config, "--reason", "Prix", "--amount", "3", "--no-refund"
    )
    pdf = pdf_text(Path(re.search(r"\S+\.pdf", text).group(0)).read_bytes())  # type: ignore[union-attr]
    assert code == 0 and "Remboursé" not in pdf
