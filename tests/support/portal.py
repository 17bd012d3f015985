"""The customer's side seen from outside: a bridge whose documents are issued by the real
pipeline and mailed to a real SMTP server on loopback, and visitors of its public app.

A `Bridge` is one configured service (`Services` + its FastAPI app) over its own SQLite
database; `replica` opens another service on the same database (another replica behind the
load balancer, or the same one with its configuration changed). A `visitor` is a TestClient
on the public URL (https, so the CSRF cookie, `Secure` there, is sent back) with a client
address of its own: the per-address rate limit of one test never counts another's requests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lxml.html
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bridge.config import load_settings
from bridge.demo import sample_orders
from bridge.devsmtp import CaptureSMTPServer
from bridge.model import Order
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store import InvoiceRecord, JobRecord, Store
from bridge.store.jobs import JOB_STATES
from bridge.web.app import create_app
from bridge.worker import work
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.config import SERVER, toml_text, write_config
from tests.support.shops import woo_shop

PUBLIC_URL: str = SERVER["public_url"]
LINK_SECRET: str = SERVER["link_secret"]

_ORDER_IDS = itertools.count(7001)  # the WooCommerce sandbox wants numeric order ids
_ADDRESSES = itertools.count(1)  # one client address per visitor, per test process
_EMAILS = itertools.count(1)

_URL = re.compile(r"https?://[^\s<>\"']+")


def assert_private(response: Any) -> None:
    """The headers every answer to a customer carries (bridge/portal/rendering.py)."""
    headers = response.headers
    assert headers["Cache-Control"] == "no-store"
    assert "noindex" in headers["X-Robots-Tag"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "form-action 'self'" in policy


def sample(prefix: str = "01") -> Order:
    """A bundled sample order (`01`: French card order; `02`: French B2B bank transfer)."""
    (order,) = [o for path, o in sample_orders() if path.name.startswith(prefix)]
    return order


def new_email(name: str = "client") -> str:
    return f"{name}.{next(_EMAILS):04d}@example.fr"


def order_for(email: str, *, shop: str, prefix: str = "01", **changes: Any) -> Order:
    """A copy of a sample order with a number of its own, placed by `email` in `shop`."""
    base = sample(prefix)
    order_id = str(next(_ORDER_IDS))
    return base.model_copy(
        update={
            "shop": shop,
            "order_id": order_id,
            "reference": f"#{order_id}",
            "customer": base.customer.model_copy(update={"email": email}),
            "payment": base.payment.model_copy(update={"transaction_ref": f"ch_{order_id}"}),
            **changes,
        }
    )


@dataclass
class Bridge:
    """A running bridge: its services, app, SMTP server, and (for a WooCommerce shop) the
    sandbox its orders are written back to."""

    folder: Path
    config: Path
    svc: Services
    smtp: CaptureSMTPServer
    shop: str
    woo: WooSandbox | None = None
    server: Mapping[str, Any] | None = None
    surveys: Sequence[Mapping[str, Any]] = ()
    tables: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    arrays: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    replicas: list[Services] = field(default_factory=list)
    _app: FastAPI | None = None

    @classmethod
    def start(
        cls,
        folder: Path,
        smtp: CaptureSMTPServer,
        *,
        woo: WooSandbox | None = None,
        server: Mapping[str, Any] | None = SERVER,
        surveys: Sequence[Mapping[str, Any]] = (),
        arrays: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        **tables: Mapping[str, Any] | None,
    ) -> Bridge:
        """`woo`: the customers' shop is a WooCommerce shop "boutique" (the request form
        serves configured shops only); otherwise the manual shop "demo" of the samples.
        `arrays`: arrays of tables such as `{"sms": [{...}], "helpdesks": [{...}]}`."""
        shop = "boutique" if woo is not None else "demo"
        arrays = dict(arrays or {})
        config = _write(folder / "quittance.toml", smtp, woo, server, surveys, tables, arrays)
        svc = Services.from_settings(load_settings(config, environ={}))
        return cls(folder, config, svc, smtp, shop, woo, server, surveys, tables, arrays)

    @property
    def store(self) -> Store:
        return self.svc.store

    @property
    def app(self) -> FastAPI:
        if self._app is None:
            self._app = create_app(self.svc)
        return self._app

    def replica(
        self,
        name: str,
        surveys: Sequence[Mapping[str, Any]] | None = None,
        **tables: Mapping[str, Any] | None,
    ) -> Services:
        """Another service on the same database and archive, `tables` over this one's
        configuration (`portal={...}`), `surveys` instead of its own; closed with the
        bridge."""
        changed = {**self.tables}
        for table, values in tables.items():
            changed[table] = None if values is None else {**(changed.get(table) or {}), **values}
        path = self.folder / f"{name}.toml"
        own = self.surveys if surveys is None else surveys
        _write(path, self.smtp, self.woo, self.server, own, changed, self.arrays)
        services = Services.from_settings(load_settings(path, environ={}))
        self.replicas.append(services)
        return services

    def issue(self, order: Order) -> InvoiceRecord:
        """Submit the order and run the pipeline until nothing is left: issued, rendered,
        emailed (and written back to the sandbox shop)."""
        if self.woo is not None:
            self.woo.add_order(
                {
                    "id": int(order.order_id),
                    "status": "processing",
                    "line_items": [],
                    "meta_data": [],
                },
                notify=False,
            )
        submit_order(self.svc, order)
        work(self.svc, once=True)
        invoice = self.store.get_invoice_for_order(order.shop, order.order_id)
        assert invoice is not None, f"order {order.order_id} was not invoiced"
        return invoice

    def issue_for(self, email: str, prefix: str = "01", **changes: Any) -> InvoiceRecord:
        return self.issue(order_for(email, shop=self.shop, prefix=prefix, **changes))

    def receipt(self, number: str) -> EmailMessage:
        """The last email sent about document `number` (its subject names it)."""
        found = [
            m for m in (r.message() for r in self.smtp.received) if number in str(m["Subject"])
        ]
        assert found, f"no email about {number}"
        return found[-1]

    def mails_to(self, email: str) -> list[EmailMessage]:
        return [r.message() for r in self.smtp.received if r.rcpt_tos == [email]]

    def document_link_on_order(self, order_id: str) -> str:
        """The PDF link the bridge wrote onto the shop's order (the sandbox keeps notes)."""
        assert self.woo is not None
        notes = self.woo.notes[int(order_id)]
        (url,) = [u for u in _URL.findall(notes[-1]["note"]) if "/invoices/" in u]
        return url

    def visitor(self, app: FastAPI | None = None) -> TestClient:
        return visitor(app or self.app)

    def jobs(self, kind: str) -> list[JobRecord]:
        return jobs_of(self.store, kind)

    def close(self) -> None:
        for services in self.replicas:
            services.close()
        self.svc.close()


def _write(
    path: Path,
    smtp: CaptureSMTPServer,
    woo: WooSandbox | None,
    server: Mapping[str, Any] | None,
    surveys: Sequence[Mapping[str, Any]],
    tables: Mapping[str, Mapping[str, Any] | None],
    arrays: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Path:
    shops = [woo_shop("boutique", woo)] if woo is not None else []
    write_config(path, smtp_port=smtp.port, shops=shops, **{"server": server, **tables})
    every = {**(arrays or {}), **({"surveys": surveys} if surveys else {})}
    if every:  # arrays of tables: after every plain table of the file
        with path.open("a", encoding="utf-8") as out:
            out.write(toml_text({k: [dict(t) for t in v] for k, v in every.items() if v}))
    return path


def visitor(app: FastAPI) -> TestClient:
    """A browser-like client of the public app, with a client address of its own."""
    n = next(_ADDRESSES)
    address = f"10.{n // 62500 % 250}.{n // 250 % 250}.{n % 250 + 1}"
    return TestClient(app, base_url=PUBLIC_URL, client=(address, 50000), follow_redirects=False)


def jobs_of(store: Store, kind: str) -> list[JobRecord]:
    return [job for job in store.list_jobs(JOB_STATES) if job.kind == kind]


def text_of(message: EmailMessage) -> str:
    """The plain-text part, with its lines ended by "\\n" (SMTP sends "\\r\\n")."""
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def links_in(text: str) -> list[str]:
    return _URL.findall(text)


def portal_links(message: EmailMessage) -> list[str]:
    return [u for u in links_in(text_of(message)) if u.startswith(f"{PUBLIC_URL}/portal/")]


def portal_link(message: EmailMessage) -> str:
    (url,) = portal_links(message)
    return url


def path_of(url: str) -> str:
    """What a visitor of the public URL requests for `url`: its path and query."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def page(html: str) -> Any:
    return lxml.html.fromstring(html)


def hidden(html: str, name: str) -> str:
    """The value of the form's hidden field `name`."""
    (value,) = page(html).xpath(f"//form//input[@type='hidden'][@name='{name}']/@value")
    return str(value)


def moved(**delta: float) -> time_machine.travel:
    """The clock moved forward from now (`days=91`), standing still there."""
    return time_machine.travel(datetime.now(UTC) + timedelta(**delta), tick=False)


def visible_text(html: str) -> str:
    """The page's text, spaces (no-break ones included) collapsed."""
    return " ".join(page(html).text_content().replace("\u00a0", " ").split())
