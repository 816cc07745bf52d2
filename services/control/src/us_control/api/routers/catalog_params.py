"""What every catalog router shares: the ``q`` parameter and the 404 description."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

# 200 characters are plenty for a search; longer is a 422 (DESIGN.md "Shapes").
MAX_Q_CHARS = 200
SearchQuery = Annotated[
    str,
    Query(
        max_length=MAX_Q_CHARS,
        description="words matched case- and accent-insensitively, each as a word prefix, in any order",
    ),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "not found, or not in a library granted to this user"}
}
