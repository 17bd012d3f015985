"""The demo's channels beyond email: a local Twilio, Zendesk and Intercom (the sandboxes the
tests use, speaking each service's real API), turned on in the demo's configuration.

WooCommerce customers who gave a mobile get a text; Hugo and Marie have an open Zendesk
ticket, where each of their documents lands as an internal note; Emily, on Shopify, has an
open Intercom conversation, where hers does. `quittance deliveries` then lists email, SMS,
helpdesk and attach-back rows side by side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.delivery.sandboxes.intercom import IntercomSandbox
from bridge.delivery.sandboxes.twilio import TwilioSandbox
from bridge.delivery.sandboxes.zendesk import ZendeskSandbox

DEMO_ADMIN = "991267696"
ZENDESK_AGENT = "support@latheiere.example.fr"
# The demo's credentials: local sandboxes only, never a real account.
TWILIO_TOKEN = "demo-twilio-token"
ZENDESK_TOKEN = "demo-zendesk-token"
INTERCOM_TOKEN = "demo-intercom-token"


class DemoChannels:
    """The three sandboxes, seeded with the demo customers' tickets and conversation."""

    def __init__(self) -> None:
        self.twilio = TwilioSandbox(auth_token=TWILIO_TOKEN)
        self.zendesk = ZendeskSandbox(email=ZENDESK_AGENT, token=ZENDESK_TOKEN)
        self.intercom = IntercomSandbox(token=INTERCOM_TOKEN)

    def start(self) -> DemoChannels:
        for sandbox in (self.twilio, self.zendesk, self.intercom):
            sandbox.start()
        self.intercom.add_admin(DEMO_ADMIN, name="Support La Théière")
        self.zendesk.add_ticket("hugo@example.fr", subject="Une tasse ébréchée dans mon colis")
        self.zendesk.add_ticket("marie.dupont@example.fr", subject="Facture pour ma commande ?")
        self.intercom.add_conversation(
            "emily@example.ie", body="<p>Hi, when will my apron ship?</p>"
        )
        return self

    def stop(self) -> None:
        for sandbox in (self.twilio, self.zendesk, self.intercom):
            sandbox.stop()

    def config(self) -> str:
        """The `[[sms]]` and `[[helpdesks]]` tables of the demo's configuration."""
        return f"""
[[sms]]
shop = "woo"
api_url = "{self.twilio.url}"
account_sid = "{self.twilio.account_sid}"
auth_token = "{TWILIO_TOKEN}"
sender = "LaTheiere"

[[helpdesks]]
shop = "woo"
kind = "zendesk"
url = "{self.zendesk.url}"
email = "{ZENDESK_AGENT}"
token = "{ZENDESK_TOKEN}"

[[helpdesks]]
shop = "shopify"
kind = "intercom"
url = "{self.intercom.url}"
token = "{INTERCOM_TOKEN}"
admin_id = "{DEMO_ADMIN}"
"""

    def tell(self, say: Callable[[str], None]) -> None:
        """What reached each service, as the demo's narration."""
        texts = self.twilio.messages
        say(
            f"SMS: {len(texts)} texts through the local Twilio, e.g. “{texts[0].body}”"
            if texts
            else "SMS: no text sent"
        )
        notes = sum(
            len(_ours(self.zendesk.comments(ticket))) for ticket in list(self.zendesk.tickets)
        )
        say(
            f"Zendesk: {_count(notes, 'document')} added as internal notes to Hugo's and "
            "Marie's tickets"
        )
        parts = sum(
            1
            for conversation in list(self.intercom.conversations)
            for part in self.intercom.parts(conversation)
            if part.get("part_type") == "note"
        )
        say(f"Intercom: {_count(parts, 'note')} with the PDF on Emily's open conversation")


def _ours(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in comments if c.get("attachments") and not c.get("public", True)]


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
