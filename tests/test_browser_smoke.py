"""The browser tests' infrastructure, end to end: the OS's Chromium, driven by Playwright, fills
and submits a form served by a real uvicorn on loopback, and the server receives the POST.

It tests no Quittance page on purpose: when it fails, the fault is in the machinery
(tests/support/browser.py, Chromium, Playwright), not in the portal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from tests.support.app import AppServer
from tests.support.browser import VIEWPORTS, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page

FORM = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Essai</title>
<style>
  body { font-family: sans-serif; margin: 1rem auto; max-width: 40rem; padding: 0 1rem; }
  label, input, button { display: block; box-sizing: border-box; width: 100%; margin-top: .5rem; }
</style></head>
<body><h1>Coordonnées</h1>
<form method="post" action="/envoi">
  <label for="nom">Nom</label><input id="nom" name="nom" required>
  <label for="courriel">Courriel</label><input id="courriel" name="courriel" type="email">
  <button type="submit">Envoyer</button>
</form></body></html>"""


def form_app(received: list[dict[str, str]]) -> FastAPI:
    """A page with a form, and the route it posts to, which keeps what it is sent."""
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def form() -> str:
        return FORM

    @app.post("/envoi", response_class=HTMLResponse)
    async def envoi(request: Request) -> str:
        fields = await request.form()
        received.append(
            {"content-type": request.headers.get("content-type", "")}
            | {key: str(value) for key, value in fields.items()}
        )
        return '<!doctype html><p id="merci">Merci</p>'

    return app


@pytest.mark.browser
def test_chromium_fills_and_posts_a_form_to_a_real_server(page: Page) -> None:
    received: list[dict[str, str]] = []
    with AppServer(form_app(received)) as server:
        page.goto(f"{server.url}/")
        page.fill("#nom", "Camille Durand")
        page.fill("#courriel", "camille@example.org")
        for width in VIEWPORTS:  # phone, then desktop
            path = screenshot(page, "smoke-form", width)
            assert path.read_bytes().startswith(b"\x89PNG")
        page.click("button[type=submit]")
        page.locator("#merci").wait_for()

    assert page.url == f"{server.url}/envoi"
    # The browser's own form encoding, not a request this test built.
    assert received == [
        {
            "content-type": "application/x-www-form-urlencoded",
            "nom": "Camille Durand",
            "courriel": "camille@example.org",
        }
    ]
