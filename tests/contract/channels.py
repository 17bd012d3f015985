"""One small harness per customer channel: what the channel behaviour suite needs to drive it.

A harness knows its service's local stand-in (a real SMTP server for email; the Twilio,
Zendesk and Intercom sandboxes for the others), the configuration that turns the channel on
for the shop, what the customer must already have there (an open ticket, a conversation), how
many times a document reached the service, and how to make the service fail for a while or
refuse our credentials. The suite (`test_channel_contract.py`) never names a channel.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import update

from bridge.config import load_settings
from bridge.delivery.sandboxes.intercom import IntercomSandbox
from bridge.delivery.sandboxes.twilio import TwilioSandbox
from bridge.delivery.sandboxes.zendesk import ZendeskSandbox
from bridge.devsmtp import free_port
from bridge.model import Order
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store import InvoiceRecord
from bridge.store.schema import jobs
from bridge.worker import work
from connectors.sandbox_server import Reply, Request, SandboxServer
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.config import SERVER, smtp_table, toml_text, write_config
from tests.support.portal import order_for
from tests.support.shops import woo_shop
from tests.support.smtp import ScriptedHandler

SHOP = "boutique"
MOBILE = "+33 6 12 34 56 78"
_EMAILS = itertools.count(1)


class Channel(Protocol):
    kind: str  # its step and its delivery rows' channel
    secret: str  # a credential of ours that must never show
    refusal_hint: str  # what the reason of a refused credential names
    finds_earlier_sends: bool  # the service can be asked what an earlier attempt left
    gives_ids: bool  # the service names what it took (a message id, a comment id)
    tells_refusals: bool  # a refused credential is told apart from an outage

    def start(self, stack: ExitStack) -> None: ...

    def config(self) -> dict[str, Any]:
        """{"tables": {...}, "arrays": {...}} turning the channel on for SHOP."""
        ...

    def expect(self, email: str) -> None:
        """What the customer has at the service before their order (a ticket, a chat)."""
        ...

    def handed(self, number: str) -> int:
        """How many times document `number` reached the service."""
        ...

    def fail_for_a_while(self) -> None:
        """The next hand-over meets a failure a later attempt gets through (503, SMTP 421)."""
        ...

    def refuse_credentials(self) -> None: ...


class EmailChannel:
    kind = "email"
    gives_ids = True
    tells_refusals = True
    secret = "smtp-Passw0rd-Zq81xT"
    refusal_hint = "authentication failed"
    finds_earlier_sends = False  # SMTP cannot be asked whether a message arrived

    def __init__(self) -> None:
        self.handler = ScriptedHandler()
        self.accepted = self.secret

    def _authenticate(self, *args: Any) -> AuthResult:
        auth_data = args[4]
        ok = (auth_data.login, auth_data.password) == (b"shop", self.accepted.encode())
        return AuthResult(success=ok, handled=False)

    def start(self, stack: ExitStack) -> None:
        self.port = free_port()
        controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, authenticator=self._authenticate,
            auth_required=True, auth_require_tls=False,
        )  # fmt: skip
        controller.start()
        stack.callback(controller.stop)

    def config(self) -> dict[str, Any]:
        email = smtp_table(self.port, username="shop", password=self.secret)
        return {"tables": {"email": email}, "arrays": {}}

    def expect(self, email: str) -> None:
        pass

    def handed(self, number: str) -> int:
        return sum(number in str(m["Subject"]) for m in self.handler.received)

    def fail_for_a_while(self) -> None:
        self.handler.data_replies = ["421 4.3.2 System not accepting network messages"]

    def refuse_credentials(self) -> None:
        self.accepted = "another-password"


class SmsChannel:
    kind = "sms"
    gives_ids = True
    tells_refusals = True
    secret = "twilio-auth-token-9f2c41"
    refusal_hint = "auth_token"
    finds_earlier_sends = True

    def start(self, stack: ExitStack) -> None:
        self.twilio = stack.enter_context(TwilioSandbox(auth_token=self.secret))

    def config(self) -> dict[str, Any]:
        table = {
            "shop": SHOP, "api_url": self.twilio.url, "account_sid": self.twilio.account_sid,
            "auth_token": self.secret, "sender": "LaTheiere", "timeout_seconds": 5,
        }  # fmt: skip
        return {"tables": {}, "arrays": {"sms": [table]}}

    def expect(self, email: str) -> None:
        pass

    def handed(self, number: str) -> int:
        return sum(number in m.body for m in self.twilio.messages)

    def fail_for_a_while(self) -> None:
        self.twilio.fail_next(1, 503)

    def refuse_credentials(self) -> None:
        self.twilio.auth_token = "another-token"


class ZendeskChannel:
    kind = "zendesk"
    gives_ids = True
    tells_refusals = True
    secret = "zendesk-api-token-7d1e5a"
    refusal_hint = "token"
    finds_earlier_sends = True

    def start(self, stack: ExitStack) -> None:
        self.zendesk = stack.enter_context(
            ZendeskSandbox(email="agent@boutique.example.fr", token=self.secret)
        )

    def config(self) -> dict[str, Any]:
        table = {
            "shop": SHOP, "kind": "zendesk", "url": self.zendesk.url,
            "email": "agent@boutique.example.fr", "token": self.secret, "timeout_seconds": 5,
        }  # fmt: skip
        return {"tables": {}, "arrays": {"helpdesks": [table]}}

    def expect(self, email: str) -> None:
        self.zendesk.add_ticket(email, subject="Où en est ma commande ?")

    def handed(self, number: str) -> int:
        return sum(
            number in comment["body"]
            for ticket in list(self.zendesk.tickets)
            for comment in self.zendesk.comments(ticket)
        )

    def fail_for_a_while(self) -> None:
        self.zendesk.fail_next(1, 503)

    def refuse_credentials(self) -> None:
        self.zendesk.api_token = "another-token"


class IntercomChannel:
    kind = "intercom"
    gives_ids = True
    tells_refusals = True
    secret = "intercom-access-token-3b8f0c"
    refusal_hint = "token"
    finds_earlier_sends = True
    admin = "814860"

    def start(self, stack: ExitStack) -> None:
        self.intercom = stack.enter_context(IntercomSandbox(token=self.secret))
        self.intercom.add_admin(self.admin)

    def config(self) -> dict[str, Any]:
        table = {
            "shop": SHOP, "kind": "intercom", "url": self.intercom.url, "token": self.secret,
            "admin_id": self.admin, "timeout_seconds": 5,
        }  # fmt: skip
        return {"tables": {}, "arrays": {"helpdesks": [table]}}

    def expect(self, email: str) -> None:
        self.intercom.add_conversation(email)

    def handed(self, number: str) -> int:
        return sum(
            number in (part.get("body") or "")
            for conversation in list(self.intercom.conversations)
            for part in self.intercom.parts(conversation)
        )

    def fail_for_a_while(self) -> None:
        self.intercom.fail_next(1, 503)

    def refuse_credentials(self) -> None:
        self.intercom.token = "another-token"


class Gateway(SandboxServer):
    """An SMS gateway's HTTP endpoint as apprise's json:// plugin reaches it; a refused key
    is a 401, which apprise reports as False like any other failure."""

    methods = ("POST",)

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.posts: list[bytes] = []

    def route(self, request: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"gw:{self.key}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return 401, {"error": "unauthorized"}, {}
        with self.lock:
            self.posts.append(request.body)
        return 200, {"ok": True}, {}


class AppriseSmsChannel:
    """Texts through apprise: no message id, refusals indistinguishable from outages, nothing
    to ask about an earlier attempt (docs/CHANNELS.md)."""

    kind = "sms"
    secret = "gateway-key-4e7a19"
    refusal_hint = ""
    finds_earlier_sends = False
    gives_ids = False
    tells_refusals = False

    def start(self, stack: ExitStack) -> None:
        self.gateway = stack.enter_context(Gateway(self.secret))

    def config(self) -> dict[str, Any]:
        host = self.gateway.url.removeprefix("http://")
        url = f"json://gw:{self.secret}@{host}/sms/{{to}}"
        table = {"shop": SHOP, "gateway": "apprise", "apprise_url": url, "timeout_seconds": 5}
        return {"tables": {}, "arrays": {"sms": [table]}}

    def expect(self, email: str) -> None:
        pass

    def handed(self, number: str) -> int:
        return sum(number in body.decode("utf-8", "replace") for body in self.gateway.posts)

    def fail_for_a_while(self) -> None:
        self.gateway.fail_next(1, 503)

    def refuse_credentials(self) -> None:
        self.gateway.key = "another-key"


CHANNELS: dict[str, type[Channel]] = {
    "email": EmailChannel,
    "sms": SmsChannel,
    "sms-apprise": AppriseSmsChannel,
    "zendesk": ZendeskChannel,
    "intercom": IntercomChannel,
}
# One harness per step: a shop cannot have two [[sms]] tables.
DEFAULTS = ("email", "sms", "zendesk", "intercom")


def alongside(name: str) -> tuple[str, ...]:
    """Every step's default harness, with `name` in place of its own step's."""
    kind = CHANNELS[name].kind
    return tuple(name if CHANNELS[d].kind == kind else d for d in DEFAULTS)


@dataclass
class Shop:
    """A bridge for SHOP (a WooCommerce sandbox) with every channel's service running and
    the channels `on` turned on."""

    svc: Services
    woo: WooSandbox
    channels: Mapping[str, Channel]
    config: Path

    def order(self) -> Order:
        """A new paid order of a customer who has a mobile, an address, and whatever each
        channel needs at its service."""
        email = f"client.{next(_EMAILS):04d}@example.fr"
        for channel in self.channels.values():
            channel.expect(email)
        order = order_for(email, shop=SHOP)
        customer = order.customer.model_copy(update={"phone": MOBILE})
        return order.model_copy(update={"customer": customer})

    def issue(self, order: Order | None = None) -> InvoiceRecord:
        """Submit the order and run every job: issued, rendered, handed over."""
        order = order or self.order()
        self.woo.add_order(
            {"id": int(order.order_id), "status": "processing", "line_items": [],
             "meta_data": []},
            notify=False,
        )  # fmt: skip
        submit_order(self.svc, order)
        self.work()
        invoice = self.svc.store.get_invoice_for_order(order.shop, order.order_id)
        assert invoice is not None, f"order {order.order_id} was not invoiced"
        return invoice

    def work(self) -> int:
        return work(self.svc, once=True, worker_id="channel-suite")

    def retry_now(self) -> int:
        """Every job waiting for its retry is due now (instead of in a minute), then run."""
        with self.svc.store.engine.begin() as conn:
            conn.execute(
                update(jobs).where(jobs.c.state == "retry").values(run_at=self.svc.store.clock())
            )
        return self.work()


@contextmanager
def running_shop(
    folder: Path,
    on: tuple[str, ...],
    changes: Mapping[str, Mapping[str, Any]] | None = None,
    tables: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[Shop]:
    """Every channel's service started; the channels named in `on` configured, their array
    table's keys changed by `changes` ({"sms": {"daily_cap": 1}}), plain tables by
    `tables` ({"email": {"host": ""}})."""
    with ExitStack() as stack:
        woo = stack.enter_context(WooSandbox())
        channels = {name: cls() for name, cls in CHANNELS.items()}
        for channel in channels.values():
            channel.start(stack)
        plain: dict[str, Any] = {}
        arrays: dict[str, list[dict[str, Any]]] = {}
        for name in on:
            config = channels[name].config()
            plain.update(config["tables"])
            changed = (changes or {}).get(name, {})
            for name, rows in config["arrays"].items():
                arrays.setdefault(name, []).extend({**row, **changed} for row in rows)
        for name, values in (tables or {}).items():
            plain[name] = {**plain.get(name, {}), **values}
        path = write_config(
            folder / "quittance.toml", shops=[woo_shop(SHOP, woo)], server=SERVER, **plain
        )
        if arrays:  # arrays of tables go after every plain table of the file
            with path.open("a", encoding="utf-8") as out:
                out.write(toml_text(arrays))
        svc = Services.from_settings(load_settings(path, environ={}))
        stack.callback(svc.close)
        yield Shop(svc, woo, channels, path)
