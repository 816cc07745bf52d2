"""``GET /healthz`` (the process answers) and ``GET /readyz`` (its dependencies answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[bool]]


def health_router(checks: Callable[[], Mapping[str, ReadinessCheck]], timeout_s: float = 1.5) -> APIRouter:
    """``checks`` is called per request so it can read the app's current state."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                ok = await asyncio.wait_for(check(), timeout_s)
            except Exception:  # noqa: BLE001 - any failure means "not ready"
                ok = False
            results[name] = "ok" if ok else "down"
        ready = all(v == "ok" for v in results.values())
        body = {"status": "ready" if ready else "not ready", "checks": results}
        if not ready:
            return JSONResponse({"detail": body}, status_code=503)
        return JSONResponse(body)

    return router
