"""Receipt email: rendering (pure) and delivery against a real SMTP server (aiosmtpd, loopback)."""

from __future__ import annotations

import base64
import email
import logging
import traceback
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from html import unescape
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr

from bridge.delivery.email import SurveyInvite, build_receipt_email, greeting_name, send_email
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.devsmtp import free_port
from bridge.invoicing.snapshot import DocumentKind
from tests.support.snapshots import case, receipt_snapshot

PDF = b"%PDF-1.4\n% fake but binary \x00\x01\x02\xff\n%%EOF\n"
PASSWORD = "S3cr3t-pa55"


# --------------------------------------------------------------------------- fixtures


def make_cfg(port: int, **overrides: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "",
        "password": None,
        "from_address": "factures@boutique-x.fr",
        "from_name": "Boutique X",
        "reply_to": "contact@boutique-x.fr",
        "bcc": "archive@boutique-x.fr",
        "timeout": 5.0,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


class Recorder:
    """aiosmtpd handler: records accepted envelopes; can answer RCPT / DATA with failures."""

    def __init__(
        self,
        *,
        rcpt_failures: int = 0,
        rcpt_reply: str = "451 4.7.1 Greylisted, try again later",
        data_failures: int = 0,
        data_reply: str = "451 4.3.0 Temporary failure",
    ) -> None:
        self.rcpt_failures = rcpt_failures
        self.rcpt_reply = rcpt_reply
        self.data_failures = data_failures
        self.data_reply = data_reply
        self.rcpt_calls: list[str] = []
        self.data_calls = 0
        self.envelopes: list[SimpleNamespace] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_calls.append(address)
        if self.rcpt_failures != 0:
            self.rcpt_failures -= 1
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.data_failures != 0:
            self.data_failures -= 1
            return self.data_reply
        self.envelopes.append(
            SimpleNamespace(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=email.message_from_bytes(envelope.content, policy=default_policy),
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class Server:
    def __init__(self, handler: Recorder, port: int | None = None, **smtp_kwargs: Any) -> None:
        self.handler = handler
        self.port = port or free_port()
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port, **smtp_kwargs)

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server(Recorder()) as srv:
        yield srv


def parts(message: EmailMessage) -> dict[str, Any]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    attachments = list(message.iter_attachments())
    return {
        "text": text.get_content() if text else None,
        "html": html.get_content() if html else None,
        "attachments": attachments,
    }


# --------------------------------------------------------------------------- building


def test_build_structure_and_headers() -> None:
    snap = receipt_snapshot()
    msg = build_receipt_email(snap, PDF, make_cfg(25))
    assert msg.get_content_type() == "multipart/mixed"
    alternative = next(iter(msg.iter_parts()))
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    (attachment,) = msg.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "FA-2026-000042.pdf"
    assert attachment.get_content() == PDF

    assert msg["Subject"] == "Marie, votre facture FA-2026-000042 — La Théière"
    assert msg["From"].addresses[0].addr_spec == "factures@boutique-x.fr"
    assert msg["From"].addresses[0].display_name == "Boutique X"
    assert msg["To"].addresses[0].addr_spec == "marie.dupont@example.org"
    assert msg["Reply-To"].addresses[0].addr_spec == "contact@boutique-x.fr"
    assert msg["Bcc"] is None
    assert msg["Message-ID"].endswith("@boutique-x.fr>")


def test_reply_to_defaults_to_from_address() -> None:
    msg = build_receipt_email(receipt_snapshot(), PDF, make_cfg(25, reply_to=""))
    assert msg["Reply-To"].addresses[0].addr_spec == "factures@boutique-x.fr"


def test_french_rendering() -> None:
    msg = build_receipt_email(receipt_snapshot(locale="fr"), PDF, make_cfg(25))
    body = parts(msg)
    text, html = body["text"], body["html"]
    assert text.startswith("Bonjour Marie,")
    assert "merci pour votre commande" in text
    assert "FA-2026-000042" in text and "FA-2026-000042" in html
    assert "115,39\u00a0€" in text and "115,39\u00a0€" in unescape(html)
    assert "27 novembre 2026" in text
    assert "carte bancaire" in text
    assert "bonjour@latheiere.example.fr" in text  # follow-up line with the shop's contact
    assert "Bonjour Marie," in html
    assert msg["Content-Language"] == "fr"


def test_english_rendering_and_unknown_locale_falls_back_to_english() -> None:
    for locale in ("en", "de"):
        snap = receipt_snapshot(locale=locale)
        msg = build_receipt_email(snap, PDF, make_cfg(25))
        text = parts(msg)["text"]
        assert msg["Subject"] == "Marie, your invoice FA-2026-000042 — La Théière"
        assert text.startswith("Hello Marie,")
        assert "Thank you" in text
        assert "€115.39" in text
        assert "27 November 2026" in text
        assert "Bonjour" not in text
        assert msg["Content-Language"] == "en"


def test_amounts_are_grouped_the_way_each_language_writes_them() -> None:
    big = case("hundred_lines")  # 1 865,57 €
    fr = parts(build_receipt_email(big.model_copy(update={"locale": "fr"}), PDF, make_cfg(25)))
    en = parts(build_receipt_email(big.model_copy(update={"locale": "en"}), PDF, make_cfg(25)))
    assert "1\u00a0865,57\u00a0€" in fr["text"] and "1\u00a0865,57\u00a0€" in unescape(fr["html"])
    assert "€1,865.57" in en["text"] and "€1,865.57" in unescape(en["html"])


def test_html_has_inlined_styles() -> None:
    html = parts(build_receipt_email(receipt_snapshot(), PDF, make_cfg(25)))["html"]
    assert 'style="' in html
    assert "<style" not in html
    assert "#2f5d50" in html  # brand colour reached the inline styles


def test_company_buyer_without_contact_gets_neutral_greeting() -> None:
    snap = receipt_snapshot(
        name="Atelier Durand SARL", company="Atelier Durand SARL", is_business=True
    )
    msg = build_receipt_email(snap, PDF, make_cfg(25))
    body = parts(msg)
    assert msg["Subject"] == "Votre facture FA-2026-000042 — La Théière"
    assert body["text"].startswith("Bonjour,")
    assert "Bonjour ," not in body["text"] and "Bonjour ," not in body["html"]
    assert "Bonjour,</p>" in body["html"]
    en = build_receipt_email(
        receipt_snapshot(locale="en", name="ACME Ltd", company="ACME Ltd", is_business=True),
        PDF,
        make_cfg(25),
    )
    assert en["Subject"] == "Your invoice FA-2026-000042 — La Théière"
    assert parts(en)["text"].startswith("Hello,")


def test_company_buyer_with_contact_uses_contact_first_name() -> None:
    snap = receipt_snapshot(name="paul MARTIN", company="Atelier Durand SARL", is_business=True)
    msg = build_receipt_email(snap, PDF, make_cfg(25))
    assert msg["Subject"].startswith("Paul, votre facture")
    assert parts(msg)["text"].startswith("Bonjour Paul,")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Marie Dupont", "Marie"),
        ("  jean-pierre   martin ", "Jean-Pierre"),
        ("Mme Dupont", "Mme Dupont"),
        ("", ""),
        ("SAS Les Jardins", ""),
    ],
)
def test_greeting_name(name: str, expected: str) -> None:
    assert greeting_name(receipt_snapshot(name=name)) == expected


def test_links_only_when_given() -> None:
    plain = parts(build_receipt_email(receipt_snapshot(), PDF, make_cfg(25)))
    assert "http" not in plain["text"]
    assert "score=" not in plain["html"]

    msg = build_receipt_email(
        receipt_snapshot(),
        PDF,
        make_cfg(25),
        invoices_url="https://boutique-x.fr/mes-factures?t=abc",
        survey=SurveyInvite("https://boutique-x.fr/avis?t=abc", "Ça va ?", ["Non", "Bof", "Oui"]),
        shop_contact="Claire au 06 12 34 56 78",
    )
    body = parts(msg)
    assert "https://boutique-x.fr/mes-factures?t=abc" in body["text"]
    assert 'href="https://boutique-x.fr/mes-factures?t=abc"' in body["html"]
    for score in (3, 2, 1):
        assert f"https://boutique-x.fr/avis?t=abc&score={score}" in body["text"]
        assert f'href="https://boutique-x.fr/avis?t=abc&amp;score={score}"' in body["html"]
    assert "Claire au 06 12 34 56 78" in body["text"]


def test_credit_note_wording() -> None:
    snap = receipt_snapshot(kind=DocumentKind.credit_note, number="AV-2026-000003")
    msg = build_receipt_email(snap, PDF, make_cfg(25))
    assert msg["Subject"] == "Marie, votre avoir AV-2026-000003 — La Théière"
    (attachment,) = msg.iter_attachments()
    assert attachment.get_filename() == "AV-2026-000003.pdf"


def test_shop_override_with_fallback(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "receipt.fr.subject.txt").write_text(
        "{{ first_name }}, merci ! Facture {{ number }}", encoding="utf-8"
    )
    msg = build_receipt_email(receipt_snapshot(), PDF, make_cfg(25), templates_dir=tmp_path)
    assert msg["Subject"] == "Marie, merci ! Facture FA-2026-000042"
    assert parts(msg)["text"].startswith("Bonjour Marie,")  # not overridden: ours


def test_render_templates_object_is_accepted(tmp_path: Path) -> None:
    from bridge.render.templates import Templates

    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "receipt.en.subject.txt").write_text("Thanks {{ first_name }}!")
    msg = build_receipt_email(receipt_snapshot(locale="en"), PDF, make_cfg(25), Templates(tmp_path))
    assert msg["Subject"] == "Thanks Marie!"


def test_our_email_templates_compile_under_the_render_environment() -> None:
    from bridge.render.templates import Templates

    checked = Templates().check()
    for locale in ("fr", "en"):
        for suffix in ("subject.txt", "txt", "html"):
            assert f"email/receipt.{locale}.{suffix}" in checked


def test_broken_override_template_is_permanent(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "receipt.fr.txt").write_text("Bonjour {{ first_name ")
    with pytest.raises(PermanentDeliveryError, match=r"receipt\.fr\.txt"):
        build_receipt_email(receipt_snapshot(), PDF, make_cfg(25), templates_dir=tmp_path)


def test_buyer_without_email_is_permanent() -> None:
    with pytest.raises(PermanentDeliveryError):
        build_receipt_email(receipt_snapshot(email_address=""), PDF, make_cfg(25))


# --------------------------------------------------------------------------- sending


def test_send_success(server: Server) -> None:
    cfg = make_cfg(server.port)
    msg = build_receipt_email(receipt_snapshot(), PDF, cfg)
    message_id = send_email(msg, cfg)

    assert len(server.handler.envelopes) == 1
    env = server.handler.envelopes[0]
    assert env.mail_from == "factures@boutique-x.fr"
    assert env.rcpt_tos == ["marie.dupont@example.org", "archive@boutique-x.fr"]
    received = env.message
    assert received["Bcc"] is None
    assert "archive@boutique-x.fr" not in env.message.as_string()
    assert received["Message-ID"] == message_id == msg["Message-ID"]
    assert "Marie" in received["Subject"] and "FA-2026-000042" in received["Subject"]
    assert received["Reply-To"].addresses[0].addr_spec == "contact@boutique-x.fr"
    body = parts(received)
    assert body["text"].startswith("Bonjour Marie,")
    assert 'style="' in body["html"]
    (attachment,) = body["attachments"]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "FA-2026-000042.pdf"
    assert attachment.get_content() == PDF


def test_send_without_bcc(server: Server) -> None:
    cfg = make_cfg(server.port, bcc="")
    send_email(build_receipt_email(receipt_snapshot(), PDF, cfg), cfg)
    assert server.handler.envelopes[0].rcpt_tos == ["marie.dupont@example.org"]


def test_4xx_data_twice_then_success() -> None:
    with Server(Recorder(data_failures=2)) as srv:
        cfg = make_cfg(srv.port)
        message_id = send_email(
            build_receipt_email(receipt_snapshot(), PDF, cfg), cfg, wait_initial=0.01
        )
        assert srv.handler.data_calls == 3
        assert len(srv.handler.envelopes) == 1
        assert srv.handler.envelopes[0].message["Message-ID"] == message_id


def test_4xx_rcpt_twice_then_success() -> None:
    with Server(Recorder(rcpt_failures=2)) as srv:
        cfg = make_cfg(srv.port, bcc="")
        send_email(build_receipt_email(receipt_snapshot(), PDF, cfg), cfg, wait_initial=0.01)
        assert srv.handler.rcpt_calls == ["marie.dupont@example.org"] * 3
        assert len(srv.handler.envelopes) == 1


def test_4xx_after_quick_attempts_is_transient() -> None:
    with Server(Recorder(data_failures=-1)) as srv:
        cfg = make_cfg(srv.port)
        msg = build_receipt_email(receipt_snapshot(), PDF, cfg)
        with pytest.raises(TransientDeliveryError) as info:
            send_email(msg, cfg, attempts=2, wait_initial=0.01)
        assert info.value.smtp_code == 451
        assert srv.handler.data_calls == 2


def test_5xx_recipient_is_permanent_at_once() -> None:
    handler = Recorder(rcpt_failures=-1, rcpt_reply="550 5.1.1 No such user here")
    with Server(handler) as srv:
        cfg = make_cfg(srv.port, bcc="")
        msg = build_receipt_email(receipt_snapshot(), PDF, cfg)
        with pytest.raises(PermanentDeliveryError) as info:
            send_email(msg, cfg, wait_initial=0.01)
        assert info.value.smtp_code == 550
        assert handler.rcpt_calls == ["marie.dupont@example.org"]  # exactly one attempt
        assert handler.data_calls == 0


def test_5xx_data_is_permanent_at_once() -> None:
    handler = Recorder(data_failures=-1, data_reply="554 5.7.1 Message rejected as spam")
    with Server(handler) as srv:
        cfg = make_cfg(srv.port)
        with pytest.raises(PermanentDeliveryError) as info:
            send_email(build_receipt_email(receipt_snapshot(), PDF, cfg), cfg, wait_initial=0.01)
        assert info.value.smtp_code == 554
        assert handler.data_calls == 1


def test_server_down_is_transient_then_up_succeeds() -> None:
    port = free_port()
    cfg = make_cfg(port, timeout=2.0)
    msg = build_receipt_email(receipt_snapshot(), PDF, cfg)
    with pytest.raises(TransientDeliveryError):
        send_email(msg, cfg, attempts=2, wait_initial=0.01)
    with Server(Recorder(), port=port) as srv:
        assert send_email(msg, cfg) == msg["Message-ID"]
        assert len(srv.handler.envelopes) == 1


AUTH_SERVER = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = auth_data.login == b"shop" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: server answers 535


@AUTH_SERVER
def test_login_success() -> None:
    kwargs = {"authenticator": _authenticator, "auth_required": True, "auth_require_tls": False}
    with Server(Recorder(), **kwargs) as srv:
        cfg = make_cfg(srv.port, username="shop", password=SecretStr(PASSWORD))
        send_email(build_receipt_email(receipt_snapshot(), PDF, cfg), cfg)
        assert len(srv.handler.envelopes) == 1


@AUTH_SERVER
def test_login_failure_is_permanent_and_never_leaks_password(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    kwargs = {"authenticator": _authenticator, "auth_required": True, "auth_require_tls": False}
    wrong = "S3cr3t-pa55"  # the configured (wrong) password: must appear nowhere
    caplog.set_level(logging.DEBUG)
    with Server(Recorder(), **kwargs) as srv, structlog.testing.capture_logs() as events:
        cfg = make_cfg(srv.port, username="someone-else", password=SecretStr(wrong))
        msg = build_receipt_email(receipt_snapshot(), PDF, cfg)
        with pytest.raises(PermanentDeliveryError) as info:
            send_email(msg, cfg, wait_initial=0.01)
        assert srv.handler.envelopes == []
    exc = info.value
    assert exc.smtp_code == 535
    out = capsys.readouterr()
    records = caplog.records  # ours, smtplib's, and the test server's (it masks AUTH lines)
    haystacks = [
        str(exc),
        repr(exc),
        "".join(traceback.format_exception(exc)),
        repr(events),
        "\n".join(r.getMessage() for r in records),
        out.out,
        out.err,
    ]
    encoded = base64.b64encode(wrong.encode()).decode()
    for text in haystacks:
        assert wrong not in text
        assert encoded not in text
    assert any(e["event"] == "email.failed" for e in events)
    failed = next(e for e in events if e["event"] == "email.failed")
    assert failed["host"] == "127.0.0.1" and failed["recipient_domain"] == "example.org"


def test_starttls_required_but_not_offered_is_permanent(server: Server) -> None:
    cfg = make_cfg(server.port, security="starttls")
    with pytest.raises(PermanentDeliveryError, match="STARTTLS"):
        send_email(build_receipt_email(receipt_snapshot(), PDF, cfg), cfg, wait_initial=0.01)
    assert server.handler.envelopes == []


def test_unconfigured_host_is_permanent() -> None:
    cfg = make_cfg(25, host="")
    with pytest.raises(PermanentDeliveryError):
        send_email(build_receipt_email(receipt_snapshot(), PDF, cfg), cfg)
