"""The HTTP face of Quittance: platform webhooks, invoice download links, health, metrics.

A webhook is verified on its raw bytes BEFORE anything is parsed or stored (bad signature →
401, nothing kept), then stored verbatim with its "ingest" job in one transaction and answered
at once: the slow part (re-reading the order, issuing) happens in the workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from bridge.failures import StepError
from bridge.links import token_is_valid
from bridge.services import Services
from bridge.store import WebhookIn
from bridge.web import metrics
from bridge.web.inbox_writer import InboxWriter
from connectors.base import WebhookRejected

log = structlog.get_logger()


class Draining:
    """Set on SIGTERM: new webhooks get 503 so the platform retries them elsewhere/later."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def start(self) -> None:
        self._event.set()

    @property
    def active(self) -> bool:
        return self._event.is_set()


def create_app(
    services: Services,
    *,
    draining: Draining | None = None,
    readiness: Callable[[], list[str]] | None = None,
) -> FastAPI:
    """`services` is shared by the request threads (the store's engine is thread-safe)."""
    app = FastAPI(
        title="Quittance",
        description="Webhook receiver and invoice links of the Quittance bridge.",
        version="1",
    )
    draining = draining or Draining()
    settings = services.settings
    inbox = InboxWriter(services.store)
    app.state.inbox = inbox

    @app.post(
        "/webhooks/{platform}/{shop}",
        responses={
            200: {"description": "stored (or a duplicate, or a ping)"},
            400: {"description": "malformed body"},
            401: {"description": "bad or missing signature"},
            404: {"description": "no such shop for this platform"},
            503: {"description": "shutting down, retry later"},
        },
    )
    async def receive_webhook(platform: str, shop: str, request: Request) -> JSONResponse:
        if draining.active:
            return JSONResponse({"error": "shutting down, retry later"}, status_code=503)
        config = settings.shop(shop)
        if config is None or config.platform != platform:
            metrics.WEBHOOKS.labels(platform=platform[:20], outcome="unknown_shop").inc()
            return JSONResponse({"error": f"no {platform} shop named {shop!r}"}, 404)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            event = services.connector(shop).verify_webhook(headers, body)
        except WebhookRejected as exc:
            metrics.WEBHOOKS.labels(platform=platform, outcome=f"rejected_{exc.status}").inc()
            log.warning("webhook rejected", shop=shop, status=exc.status, reason=exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        if event.ping:
            metrics.WEBHOOKS.labels(platform=platform, outcome="ping").inc()
            return JSONResponse({"ok": True, "ping": True})
        event_id = await inbox.record(
            WebhookIn(
                shop=shop,
                platform=platform,
                event_key=event.event_key,
                topic=event.topic,
                order_ref=event.order_ref,
                headers=_kept_headers(headers),
                body=body.decode("utf-8", "replace"),
            )
        )
        outcome = "stored" if event_id is not None else "duplicate"
        metrics.WEBHOOKS.labels(platform=platform, outcome=outcome).inc()
        return JSONResponse({"ok": True, "duplicate": event_id is None})

    # `path`: invoice numbers may contain "/" (allowed by BR-FR-01), encoded as %2F in links.
    @app.get("/invoices/{filename:path}", responses={403: {}, 404: {}})
    def download_invoice(filename: str, t: str = "") -> Response:
        if not filename.endswith(".pdf"):
            raise HTTPException(status_code=404, detail="no such invoice")
        number = filename.removesuffix(".pdf")
        secret = settings.server.link_secret
        if secret is None or not t or not token_is_valid(secret.get_secret_value(), number, t):
            raise HTTPException(status_code=403, detail="invalid or missing link token")
        invoice = services.store.get_invoice(number)
        if invoice is None:
            raise HTTPException(status_code=404, detail="no such invoice")
        from bridge.pipeline import ensure_pdf

        try:
            data = ensure_pdf(services, invoice)
        except StepError as exc:  # e.g. a template override that drops a mention: retry later
            log.warning("invoice download not ready", invoice=number, err=str(exc))
            raise HTTPException(status_code=503, detail="invoice not available yet") from None
        filename = number.replace("/", "_") + ".pdf"
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {}})
    def readyz() -> JSONResponse:
        problems = readiness() if readiness else default_readiness(services)
        if draining.active:
            problems = [*problems, "shutting down"]
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        body, content_type = metrics.render(services)
        return Response(body, media_type=content_type)

    return app


# Headers worth keeping with the raw body (to replay or audit); never auth material.
_KEEP = ("x-wc-webhook", "x-shopify", "content-type", "user-agent")


def _kept_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in headers.items()
        if k.startswith(_KEEP) and "signature" not in k and "hmac" not in k
    }


def default_readiness(services: Services) -> list[str]:
    problems: list[str] = []
    try:
        services.store.job_counts()
    except Exception as exc:
        problems.append(f"database: {type(exc).__name__}")
    try:
        services.archive.check_writable()
    except Exception as exc:
        problems.append(f"archive: {type(exc).__name__}: {exc}")
    return problems
