"""Loopback-only counters for tests and operators: clients, users, subscriptions, tasks.

nginx routes nothing here; a request that came through a proxy (it carries X-Forwarded-For or
X-Real-IP) or from another host is answered as if the route did not exist.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request

from us_common.errors import NotFound
from us_events.deps import HubDep

router = APIRouter(prefix="/debug", include_in_schema=False)

_LOOPBACK = {"127.0.0.1", "::1"}


def _require_loopback(request: Request) -> None:
    proxied = "x-forwarded-for" in request.headers or "x-real-ip" in request.headers
    if proxied or request.client is None or request.client.host not in _LOOPBACK:
        raise NotFound()


@router.get("/counts")
async def counts(request: Request, hub: HubDep) -> dict[str, Any]:
    _require_loopback(request)
    return hub.counts()


@router.get("/clients")
async def clients(request: Request, hub: HubDep) -> dict[str, Any]:
    _require_loopback(request)
    return {"pid": os.getpid(), "clients": hub.clients()}
