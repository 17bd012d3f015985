"""(being written)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from bridge.dashboard.app import Dashboard


def routes(dash: Dashboard) -> APIRouter:
    return APIRouter()
