"""``usctl library ...`` (filled in by the catalog issue)."""

from __future__ import annotations

from typing import Any


def add_library_commands(sub: Any) -> None:
    return None
