"""Loops every control worker runs. Each is safe with many workers and hosts: work is claimed
with row locks (``FOR UPDATE SKIP LOCKED``), never with in-process state."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI

Loop = Callable[[FastAPI], Coroutine[Any, Any, None]]


def background_loops() -> list[Loop]:
    return []
