"""The HTTP faces of Quittance: the public one (platform webhooks, the customer's pages and
links of bridge/portal, health) and the operator's (metrics, readiness with its reasons), on
their own listen address.

A webhook is verified on its raw bytes BEFORE anything is parsed or stored (bad signature →
401, nothing kept), then stored verbatim with its "ingest" job in one transaction and answered
at once: the slow part (re-reading the order, issuing) happens in the workers.

The public face tells a stranger nothing: an unknown shop, a shop of another platform and a
bad signature get the same 401 and the same body after the same work (an HMAC over the body),
so shop names cannot be enumerated; /readyz says ready or not without the reasons (they name
paths); API docs and metrics are off there unless configured. Body size and time limits wrap
every route (bridge/web/limits.py; docs/PUBLIC_PORT.md).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bridge.archive import MB, Archive, free_bytes, low_space, nearest_existing
from bridge.logs import error_line
from bridge.portal.rendering import PrivateCustomerPaths
from bridge.portal.routes import customer_routes
from bridge.services import Services
from bridge.store import WebhookIn
from bridge.store.health import DatabaseNotWritable, first_line
from bridge.web import metrics
from bridge.web.inbox_writer import InboxWriter
from bridge.web.limits import BodyLimits
from connectors.base import Connector, WebhookRejected

log = structlog.get_logger()

# The one answer to a webhook that is not verifiably a configured shop's: the reason (which
# header, which domain the shop expects) is in the log line, never in the answer.
REFUSED = {"error": "invalid or missing signature"}


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
    """The public face. `services` is shared by the request threads (the store's engine is
    thread-safe)."""
    settings = services.settings
    app = _fastapi(
        "Webhook receiver and invoice links of the Quittance bridge.", docs=settings.server.docs
    )
    app.add_middleware(
        BodyLimits,
        max_body_bytes=settings.server.max_body_bytes,
        body_timeout=settings.server.body_timeout_seconds,
    )
    draining = draining or Draining()
    inbox = InboxWriter(services.store)
    app.state.inbox = inbox
    decoys = _Decoys(services)

    @app.post(
        "/webhooks/{platform}/{shop}",
        responses={
            200: {"description": "stored (or a duplicate, or a ping)"},
            400: {"description": "malformed body"},
            401: {"description": "bad or missing signature, or no such shop: one answer"},
            408: {"description": "the body did not arrive in time"},
            413: {"description": "the body is over [server] max_body_bytes"},
            503: {"description": "shutting down or the database is away: retry later"},
        },
    )
    async def receive_webhook(platform: str, shop: str, request: Request) -> JSONResponse:
        if draining.active:
            return JSONResponse({"error": "shutting down, retry later"}, status_code=503)
        config = settings.shop(shop)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if config is None or config.platform != platform:
            return decoys.answer(platform, headers, body)
        try:
            event = services.connector(shop).verify_webhook(headers, body)
        except WebhookRejected as exc:
            metrics.WEBHOOKS.labels(platform=platform, outcome=f"rejected_{exc.status}").inc()
            log.warning("webhook rejected", shop=shop, status=exc.status, reason=exc.reason)
            return _rejected(exc)
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

    app.add_middleware(PrivateCustomerPaths)
    app.include_router(customer_routes(services))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # For load balancers: ready or not, without the reasons (the operator's /readyz has them).
    @app.get("/readyz", responses={503: {}})
    def readyz() -> JSONResponse:
        if _problems(services, draining, readiness):
            return JSONResponse({"status": "not ready"}, status_code=503)
        return JSONResponse({"status": "ready"})

    token = settings.server.metrics_token
    if token is not None:
        _public_metrics(app, services, token.get_secret_value())
    return app


def create_ops_app(
    services: Services,
    *,
    draining: Draining | None = None,
    readiness: Callable[[], list[str]] | None = None,
) -> FastAPI:
    """The operator's face, on `[server] metrics_host:metrics_port`: /metrics, /healthz and a
    /readyz that names what is wrong."""
    app = _fastapi("Metrics and readiness of the Quittance bridge.", docs=False)
    draining = draining or Draining()
    registry = metrics.registry_for(services)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {}})
    def readyz() -> JSONResponse:
        problems = _problems(services, draining, readiness)
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        body, content_type = metrics.render(registry)
        return Response(body, media_type=content_type)

    return app


def _fastapi(description: str, *, docs: bool) -> FastAPI:
    # The schema lists every route and parameter: a map for an attacker, off by default.
    urls = {} if docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    return FastAPI(title="Quittance", description=description, version="1", **urls)


def _problems(
    services: Services, draining: Draining, readiness: Callable[[], list[str]] | None
) -> list[str]:
    problems = readiness() if readiness else default_readiness(services)
    return [*problems, "shutting down"] if draining.active else problems


def _public_metrics(app: FastAPI, services: Services, token: str) -> None:
    """/metrics on the public port, for a scraper that cannot reach the metrics listener."""
    registry = metrics.registry_for(services)
    expected = f"Bearer {token}".encode()

    @app.get("/metrics", responses={401: {}})
    def metrics_endpoint(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, expected):  # constant time: no guessing by timing
            return JSONResponse(
                {"error": "missing or wrong bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        body, content_type = metrics.render(registry)
        return Response(body, media_type=content_type)


def _rejected(exc: WebhookRejected) -> JSONResponse:
    # A 401 says no more than an unknown shop's; a 400 (malformed body) follows a valid
    # signature, so only the shop itself ever reads its reason.
    if exc.status == 401:
        return JSONResponse(REFUSED, status_code=401)
    return JSONResponse({"error": exc.reason}, status_code=exc.status)


class _Decoys:
    """The answer to a webhook for no configured shop of that platform, indistinguishable
    from a configured shop's refusal.

    When a shop of the URL's platform is configured, its connector verifies the body (same
    work, and WooCommerce's unsigned creation ping gets its 200 as on a real shop); whatever
    it finds, nothing is stored. Otherwise an HMAC over the body with a throwaway key stands
    in for the verification. Label values: the platform only if it is a known one."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._key = secrets.token_bytes(32)

    def answer(self, platform: str, headers: dict[str, str], body: bytes) -> JSONResponse:
        label = metrics.platform_label(platform)  # the URL's word is no label value
        metrics.WEBHOOKS.labels(platform=label, outcome="unknown_shop").inc()
        connector = self._stand_in(platform)
        if connector is None:
            hmac.compare_digest(hmac.new(self._key, body, hashlib.sha256).digest(), self._key)
            return JSONResponse(REFUSED, status_code=401)
        try:
            event = connector.verify_webhook(headers, body)
        except WebhookRejected:
            return JSONResponse(REFUSED, status_code=401)
        if event.ping:
            return JSONResponse({"ok": True, "ping": True})
        return JSONResponse(REFUSED, status_code=401)

    def _stand_in(self, platform: str) -> Connector | None:
        shops = self._services.settings.shops
        shop = next((s for s in shops if s.platform == platform and s.enabled), None)
        return None if shop is None else self._services.connector(shop.name)


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
