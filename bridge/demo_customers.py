"""The demo's customers after the emails: one opens the portal from the receipt and answers
the survey, another is unhappy (the owner is told). Everything goes through the running
service's public pages, as a browser would: links read from the captured emails, the survey's
form fetched first (its CSRF cookie and field), then submitted."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import Any

import requests

# The surveys the demo turns on: a 5-point scale on WooCommerce, 3 points on Shopify.
DEMO_SURVEYS = """
[[surveys]]
shop = "woo"
scale = 5

[[surveys]]
shop = "shopify"
scale = 3
"""

_PORTAL = re.compile(r"https?://\S+/portal/[\w.-]+")
_SURVEY = re.compile(r"https?://\S+/survey/[\w.-]+\?score=(\d)")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def customers_answer(say: Callable[[str], None], messages: Sequence[EmailMessage]) -> None:
    """Hugo (two orders on WooCommerce) opens his portal and answers 5/5; Emily (Shopify)
    answers 1/3 with a comment."""
    hugo = _latest_to(messages, "hugo@example.fr", with_survey=True)
    if hugo is not None:
        portal = _PORTAL.search(_text(hugo))
        if portal:
            page = requests.get(portal.group(0), timeout=10)
            rows = page.text.count('class="download"')
            say(f"Hugo opens his portal from the email → {page.status_code}: {rows} documents")
        outcome = _answer(_text(hugo), 5, "Livraison rapide, merci !")
        say(f"Hugo clicks 5/5 in the email (nothing recorded yet), then confirms → {outcome}")
    emily = _latest_to(messages, "emily@example.ie", with_survey=True)
    if emily is not None:
        outcome = _answer(_text(emily), 1, "The parcel took three weeks.")
        say(
            f"Emily answers 1/3 with a comment → {outcome}: a job tells the owner (through "
            "\\[alerts] urls, none in the demo)"
        )


def _answer(text: str, score: int, comment: str) -> str:
    links = {int(m.group(1)): m.group(0) for m in _SURVEY.finditer(text)}
    if score not in links:
        return "no survey link"
    with requests.Session() as browser:
        form = browser.get(links[score], timeout=10)
        csrf = _CSRF.search(form.text)
        if csrf is None:
            return f"survey page {form.status_code}"
        action = links[score].split("?", 1)[0]
        data: dict[str, Any] = {"score": score, "comment": comment, "csrf": csrf.group(1)}
        done = browser.post(action, data=data, timeout=10)
    return "recorded" if done.ok else f"refused ({done.status_code})"


def _latest_to(
    messages: Sequence[EmailMessage], address: str, *, with_survey: bool
) -> EmailMessage | None:
    found = [m for m in messages if address in str(m["To"])]
    if with_survey:
        found = [m for m in found if _SURVEY.search(_text(m))]
    return found[-1] if found else None


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    return body.get_content() if body is not None else ""  # type: ignore[union-attr]
