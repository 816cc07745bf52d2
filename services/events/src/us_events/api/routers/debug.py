"""Loopback-only counters for tests and operators: clients, users, subscriptions, tasks.

nginx routes nothing here; a request that came through a proxy (it carries X-Forwarded-For or
X-Real-IP) or from another host is answered as if the route did not exist.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request

from us_common.metrics import require_loopback
from us_events import introspection
from us_events.deps import HubDep

router = APIRouter(prefix="/debug", include_in_schema=False)

@router.get("/counts")
async def counts(request: Request, hub: HubDep) -> dict[str, Any]:
    require_loopback(request)
    return introspection.counts(hub)


@router.get("/clients")
async def clients(request: Request, hub: HubDep) -> dict[str, Any]:
    require_loopback(request)
    return {"pid": os.getpid(), "clients": introspection.clients(hub)}
