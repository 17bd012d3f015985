"""A document's signed link (written onto the shop's order) downloads exactly the archived
PDF."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from bridge.config import load_settings
from bridge.demo import sample_orders, write_demo_config
from bridge.devsmtp import CaptureSMTPServer
from bridge.pipeline import invoice_link, submit_order
from bridge.services import Services
from bridge.web.app import create_app
from bridge.worker import work


def test_email_link_downloads_the_archived_pdf_and_only_with_its_token(tmp_path: Path) -> None:
    with CaptureSMTPServer() as smtp:
        config = write_demo_config(tmp_path, smtp.port, http_port=8123)
        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            submit_order(svc, sample_orders()[0][1])
            work(svc, once=True)
            invoice = svc.store.get_invoice_for_order("demo", "1001")
            assert invoice is not None and invoice.pdf_sha256
            parts = urlsplit(invoice_link(svc, invoice))
            client = TestClient(create_app(svc))
            ok = client.get(f"{parts.path}?{parts.query}")
            assert ok.status_code == 200
            assert ok.headers["content-type"] == "application/pdf"
            assert ok.content == svc.archive.read(invoice.pdf_sha256)
            assert client.get(parts.path + "?t=" + "0" * 32).status_code == 403
            assert client.get(parts.path).status_code == 403
        finally:
            svc.close()


def test_numbers_with_a_slash_have_working_links(tmp_path: Path) -> None:
    with CaptureSMTPServer() as smtp:
        config = write_demo_config(tmp_path, smtp.port, http_port=8123)
        text = config.read_text(encoding="utf-8").replace(
            'format = "FA-{year}-{seq:06d}"', 'format = "FA/{year}/{seq:06d}"'
        )
        config.write_text(text, encoding="utf-8")
        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            submit_order(svc, sample_orders()[0][1])
            work(svc, once=True)
            invoice = svc.store.get_invoice_for_order("demo", "1001")
            assert invoice is not None and "/" in invoice.number
            parts = urlsplit(invoice_link(svc, invoice))
            response = TestClient(create_app(svc)).get(f"{parts.path}?{parts.query}")
            assert response.status_code == 200
            assert response.content == svc.archive.read(invoice.pdf_sha256 or "")
        finally:
            svc.close()
