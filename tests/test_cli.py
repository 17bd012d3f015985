"""`quittance …` commands, run through Typer's CliRunner (and the installed script for the
worker) on a config file in tmp_path."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

import bridge.cli as cli_module
from bridge.archive import Archive
from bridge.cli import app
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store import Store
from bridge.worker import work
from tests.support.cli import local_config
from tests.support.config import write_config
from tests.support.documents import pdf_text
from tests.support.orders import orders_by_id, sample_path
from tests.support.paths import ROOT
from tests.support.service import child_env
from tests.support.smtp import ScriptedHandler, SMTPServer

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


COMMANDS = ("issue", "render", "verify", "worker", "failures", "retry", "demo")


@pytest.fixture(autouse=True)
def _wide_consoles(wide_consoles: None) -> None:
    """Every test here reads the CLI's output unwrapped."""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return local_config(tmp_path)


def cli(*args: str | Path) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args])
    # the CLI configured structlog to print to the runner's (now closed) stderr
    structlog.reset_defaults()
    return result


def out(result: object) -> str:
    return " ".join((result.output or "").split())  # type: ignore[attr-defined]


def issue(config: Path, prefix: str) -> tuple[int, str]:
    result = cli("issue", "-c", config, "--order", sample_path(prefix))
    return result.exit_code, out(result)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- config


def test_bad_config_exits_2_naming_every_bad_key(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "bad.toml",
        database_url=f"sqlite:///{tmp_path / 'q.db'}",
        archive_dir=tmp_path / "archive",
        smtp_port=70000,
    )
    cfg.write_text(cfg.read_text().replace('siren = "732829320"', 'siren = "123456789"'))
    result = cli("verify", "-c", cfg)
    assert result.exit_code == 2, result.output
    text = out(result)
    assert "siren" in text and "123456789" in text
    assert "port" in text and "70000" in text
    assert text.count("Configuration error") == 1
    assert not (tmp_path / "q.db").exists()  # nothing opened on a bad config


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = cli("verify", "-c", tmp_path / "nope.toml")
    assert result.exit_code == 2
    assert "nope.toml" in out(result)


# --------------------------------------------------------------------------- issue


def test_issue_then_again_then_bad_totals(config: Path, tmp_path: Path) -> None:
    code, text = issue(config, "01_")
    assert code == 0, text
    match = re.search(r"(FA-\d{4}-000001)\s+(\S+\.pdf)", text)
    assert match, text
    number, pdf = match.group(1), Path(match.group(2))
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    assert number in pdf_text(pdf.read_bytes())

    code, text = issue(config, "01_")
    assert code == 0, text
    assert number in text and "already issued" in text

    code, text = issue(config, "06_")
    assert code == 1, text
    assert "1006" in text and "quarantined" in text
    assert "90.00" in text and "100.00" in text

    code, text = issue(config, "02_")
    assert code == 0 and "-000002" in text  # the quarantined order burnt no number


def test_output_is_not_wrapped_at_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for console in (cli_module.console, cli_module.err_console):
        monkeypatch.setattr(console, "_width", 80)  # what Rich picks when piped
    deep = tmp_path / ("a-rather-long-folder-name-" * 3)
    deep.mkdir()
    config = write_config(
        deep / "quittance.toml",
        database_url=f"sqlite:///{deep / 'q.db'}",
        archive_dir=deep / "archive",
    )
    result = cli("issue", "-c", config, "--order", sample_path("01_"))
    assert result.exit_code == 0, result.output
    _number, pdf = result.stdout.rstrip("\n").split("\t")
    assert Path(pdf).is_file()


def test_issue_missing_order_file_exits_2(config: Path, tmp_path: Path) -> None:
    result = cli("issue", "-c", config, "--order", tmp_path / "none.json")
    assert result.exit_code == 2
    assert "none.json" in out(result)


# --------------------------------------------------------------------------- render, verify


def _issued(config: Path, tmp_path: Path, *prefixes: str) -> list[str]:
    numbers = []
    for prefix in prefixes:
        result = cli("issue", "-c", config, "--order", sample_path(prefix))
        assert result.exit_code == 0, result.output
        numbers.append(result.stdout.split()[0])  # stdout: "NUMBER<TAB>PDF path"
    return numbers


def _archived_path(tmp_path: Path, number: str) -> Path:
    store = Store.open(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        invoice = store.get_invoice(number)
        assert invoice is not None and invoice.pdf_sha256
        return Archive(tmp_path / "archive").path_for(invoice.pdf_sha256)
    finally:
        store.close()


def test_render_gives_the_archived_bytes(config: Path, tmp_path: Path) -> None:
    (number,) = _issued(config, tmp_path, "02_")
    target = tmp_path / "out.pdf"
    result = cli("render", number, "--out", target, "-c", config)
    assert result.exit_code == 0, result.output
    assert "identical" in out(result)
    archived = _archived_path(tmp_path, number).read_bytes()
    assert target.read_bytes() == archived
    assert pdf_text(target.read_bytes()) == pdf_text(archived)

    result = cli("render", "FA-1999-999999", "--out", target, "-c", config)
    assert result.exit_code == 1


def test_verify_detects_altered_and_missing_files(config: Path, tmp_path: Path) -> None:
    first, second = _issued(config, tmp_path, "01_", "03_")
    result = cli("verify", "-c", config)
    assert result.exit_code == 0, result.output
    assert "2 invoice(s) verified" in out(result)

    altered = _archived_path(tmp_path, first)
    altered.chmod(0o644)
    altered.write_bytes(altered.read_bytes().replace(b"%%EOF", b"%%EOF\n% tampered"))
    result = cli("verify", "-c", config)
    assert result.exit_code == 1
    text = out(result)
    assert first in text and "altered" in text and altered.name in text
    assert f"{second}:" not in text  # no problem line (it is named as the chain head)

    missing = _archived_path(tmp_path, second)
    missing.unlink()
    result = cli("verify", "-c", config)
    assert result.exit_code == 1
    text = out(result)
    assert second in text and "missing" in text and missing.name in text


# --------------------------------------------------------------------------- failures, retry


def test_failures_and_retry(tmp_path: Path) -> None:
    handler = ScriptedHandler()
    handler.reject_all("550 5.1.1 Mailbox unavailable")
    with SMTPServer(handler) as smtp:
        config = write_config(
            tmp_path / "quittance.toml",
            database_url=f"sqlite:///{tmp_path / 'q.db'}",
            archive_dir=tmp_path / "archive",
            smtp_port=smtp.port,
        )
        from bridge.config import load_settings

        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            orders = orders_by_id()
            submit_order(svc, orders["1001"])
            submit_order(svc, orders["1006"])
            work(svc, once=True)
            (dead,) = svc.store.list_jobs(states=("dead",))
            assert dead.kind == "email"
        finally:
            svc.close()

        result = cli("failures", "-c", config)
        assert result.exit_code == 0, result.output
        text = out(result)
        assert "550" in text and "email" in text and "dead" in text
        assert "1006" in text and "90.00" in text

        result = cli("retry", "999999", "-c", config)
        assert result.exit_code == 1
        assert "999999" in out(result)

        result = cli("retry", "--all", "-c", config)
        assert result.exit_code == 0, result.output
        assert "1 job(s) and 1 quarantined order(s)" in out(result)

        store = Store.open(f"sqlite:///{tmp_path / 'q.db'}")
        try:
            assert store.get_job(dead.id).state == "pending"
            assert store.list_quarantined() == []
            assert store.get_order("demo", "1006").status == "received"
            assert store.list_jobs(states=("dead",)) == []
        finally:
            store.close()

        handler.accept_all()
        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            work(svc, once=True)
            assert len(smtp.received) == 1
            # the order's data were not fixed: quarantined again, still no invoice
            assert [o.order_id for o in svc.store.list_quarantined()] == ["1006"]
            assert svc.store.get_invoice_for_order("demo", "1006") is None
        finally:
            svc.close()

        result = cli("retry", "-c", config)
        assert result.exit_code == 2  # neither an id nor --all


def test_failures_when_there_are_none(config: Path) -> None:
    result = cli("failures", "-c", config)
    assert result.exit_code == 0
    assert "No failures" in out(result)


# --------------------------------------------------------------------------- worker


def test_worker_once_processes_queued_jobs(tmp_path: Path) -> None:
    with SMTPServer() as smtp:
        config = write_config(
            tmp_path / "quittance.toml",
            database_url=f"sqlite:///{tmp_path / 'q.db'}",
            archive_dir=tmp_path / "archive",
            smtp_port=smtp.port,
        )
        from bridge.config import load_settings

        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            for order in orders_by_id().values():
                submit_order(svc, order)
        finally:
            svc.close()
        script = Path(sys.executable).parent / "quittance"
        proc = subprocess.run(
            [str(script), "worker", "--once", "--concurrency", "1", "-c", str(config)],
            cwd=ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert len(smtp.received) == 4
        store = Store.open(f"sqlite:///{tmp_path / 'q.db'}")
        try:
            counts = store.job_counts()
            assert counts["pending"] == counts["running"] == counts["retry"] == 0
            assert counts["done"] == 14 and counts["skipped"] == 2
            assert len(list(store.iter_invoices())) == 5
        finally:
            store.close()


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example(command: str) -> None:
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output
