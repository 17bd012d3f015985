"""The HTTP face of Quittance: platform webhooks, invoice download links, health, metrics.

A webhook is verified on its raw bytes BEFORE anything is parsed or stored (bad signature →
401, nothing kept), then stored verbatim with its "ingest" job in one transaction and answered
at once: the slow part (re-reading the order, issuing) happens in the workers.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from bridge.archive import MB, Archive, free_bytes, low_space, nearest_existing
from bridge.failures import StepError
from bridge.links import token_is_valid
from bridge.logs import error_line
from bridge.services import Services
from bridge.store import WebhookIn
from bridge.store.health import DatabaseNotWritable, first_line
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
    registry = metrics.registry_for(services)

    @app.post(
        "/webhooks/{platform}/{shop}",
        responses={
            200: {"description": "stored (or a duplicate, or a ping)"},
            400: {"description": "malformed body"},
            401: {"description": "bad or missing signature"},
            404: {"description": "no such shop for this platform"},
            503: {"description": "shutting down or the database is away: retry later"},
        },
    )
    async def receive_webhook(platform: str, shop: str, request: Request) -> JSONResponse:
        if draining.active:
            return JSONResponse({"error": "shutting down, retry later"}, status_code=503)
        config = settings.shop(shop)
        if config is None or config.platform != platform:
            label = metrics.platform_label(platform)  # the URL's word is no label value
            metrics.WEBHOOKS.labels(platform=label, outcome="unknown_shop").inc()
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
        try:
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
        except Exception as exc:
            # Not stored (the database is restarting): say "later" so the platform retries,
            # in one log line rather than the server's traceback; polling is the safety net.
            log.warning("webhook not stored", shop=shop, error=error_line(exc))
            return JSONResponse(
                {"error": "cannot store the event right now, retry later"},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        if event_id is None:  # a stored event is counted from the database (metrics.py)
            metrics.WEBHOOKS.labels(platform=platform, outcome="duplicate").inc()
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
        body, content_type = metrics.render(registry)
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
    """What keeps this process from taking webhooks now, one line per problem (none: ready).

    Only what intake itself needs: a database that takes a write, an archive that takes bytes
    and keeps `[storage] archive_min_free_mb` free. SMTP and the shops are left out on
    purpose: during an SMTP outage webhooks must still be stored (their jobs wait and retry),
    so the load balancer must keep this process in rotation; those have their own alerts."""
    storage = services.settings.storage
    problems: list[str] = []
    try:
        services.store.check_writable()
    except DatabaseNotWritable as exc:
        problems.append(f"database: {exc}")
    except Exception as exc:
        problems.append(f"database: {type(exc).__name__}: {first_line(exc)}")
    problems += archive_problems(services.archive, storage.archive_min_free_mb)
    # A rolled-back probe writes nothing, so a full disk under the SQLite file shows only here.
    database_file = services.store.database_file()
    folder = database_file.parent if database_file is not None else None
    if folder is not None and not _same_disk(folder, services.archive.root):
        low = space_problem(folder, storage.archive_min_free_mb)
        if low:
            problems.append(f"database: {low} (the SQLite file's disk)")
    return problems


def archive_problems(archive: Archive, min_free_mb: int) -> list[str]:
    """The archive's lines of /readyz: free space under the threshold, a write refused."""
    problems: list[str] = []
    low = space_problem(archive.root, min_free_mb)
    if low:
        problems.append(f"archive: {low}")
    try:
        archive.check_writable()
    except OSError as exc:
        if not (low and exc.errno == errno.ENOSPC):  # the line above already says it
            problems.append(f"archive: cannot write to {archive.root} ({_os_reason(exc)})")
    return problems


def space_problem(path: Path, min_free_mb: int) -> str | None:
    """None, or what is wrong with the free space on `path`'s disk (0 MB: not checked)."""
    if min_free_mb <= 0:
        return None
    try:
        free_mb = free_bytes(path) // MB
    except OSError as exc:
        return f"cannot measure the free space on {path} ({_os_reason(exc)})"
    low = low_space(free_mb, min_free_mb)
    return f"{free_mb} MB free on {path}, {low}" if low else None


def _same_disk(a: Path, b: Path) -> bool:
    try:
        return nearest_existing(a).stat().st_dev == nearest_existing(b).stat().st_dev
    except OSError:
        return False


# What to do about an OSError the probe met, by errno: the line must say how to fix it.
_OS_FIXES = {
    errno.ENOSPC: "disk full: free some space or grow the disk",
    errno.EDQUOT: "quota exceeded: raise this user's quota or free some space",
    errno.EROFS: "read-only file system: remount it read-write",
    errno.EACCES: "permission denied: let this user write there",
    errno.EPERM: "permission denied: let this user write there",
    errno.ENOTDIR: "a part of the path is a file, not a folder: fix [storage] archive_dir",
    errno.ENOENT: "the path cannot be created: fix [storage] archive_dir",
    errno.EIO: "I/O error: check the disk",
}


def _os_reason(exc: OSError) -> str:
    fix = _OS_FIXES.get(exc.errno or 0)
    if fix:
        return fix
    said = exc.strerror or (os.strerror(exc.errno) if exc.errno else first_line(exc))
    return f"{said}: check the disk and [storage] archive_dir"
