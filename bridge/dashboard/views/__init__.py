"""One module per page; each gives `routes(dash) -> APIRouter`. Listed in menu order."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter

from bridge.dashboard.views import (
    audit,
    deliveries,
    documents,
    exports,
    failures,
    integrity,
    overview,
    satisfaction,
)

if TYPE_CHECKING:
    from bridge.dashboard.context import Dashboard

ROUTERS: list[Callable[[Dashboard], APIRouter]] = [
    overview.routes,
    documents.routes,
    failures.routes,
    deliveries.routes,
    integrity.routes,
    satisfaction.routes,
    exports.routes,
    audit.routes,
]
