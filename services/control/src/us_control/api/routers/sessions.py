"""Routes of /sessions (filled in by its issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["sessions"])
