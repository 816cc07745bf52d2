"""What the server will play after the current item when it ends — so the box can preload it.

The server's rule (control's ``playback/rules.py``): repeat ``one`` plays the item again;
otherwise the next item in play order (``play_order``: queue order, or the shuffle permutation),
wrapping to the first with repeat ``all``, skipping items whose track is unavailable; nothing after
the last item with repeat ``off``. A wrong guess costs only the gap: when the server's answer to
``ended`` names another track, the box loads that one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

QueuePage = Callable[[int, int], Awaitable[dict[str, Any]]]
_PAGE = 200


def following(items: list[dict[str, Any]], current_idx: int, repeat_mode: str) -> dict[str, Any] | None:
    """The track that follows the item at ``current_idx`` (``items``: the whole queue)."""
    by_order = sorted(items, key=lambda item: int(item["play_order"]))
    position = next((n for n, item in enumerate(by_order) if item["idx"] == current_idx), None)
    if position is None:
        return None
    if repeat_mode == "one":
        track: dict[str, Any] = by_order[position]["track"]
        return track
    for step in range(1, len(by_order) + 1):
        candidate = position + step
        if candidate >= len(by_order):
            if repeat_mode != "all":
                return None
            candidate %= len(by_order)
        if candidate == position:
            return None
        track = by_order[candidate]["track"]
        if track.get("available", True):
            return track
    return None


async def next_track(snapshot: dict[str, Any], queue_page: QueuePage) -> dict[str, Any] | None:
    """Fetch as little of the queue as the rule needs: without shuffle the two items from the
    current one on (then onwards past unavailable ones); with shuffle, the whole queue."""
    current = snapshot.get("queue_position")
    length = int(snapshot.get("queue_length") or 0)
    if current is None or length == 0:
        return None
    repeat = str(snapshot.get("repeat_mode", "off"))
    if repeat == "one":
        track: dict[str, Any] | None = snapshot.get("track")
        return track
    if not snapshot.get("shuffle"):
        offset = int(current)
        while offset < length:
            page = (await queue_page(offset, 2 if offset == current else _PAGE))["items"]
            if not page:
                break
            for item in page:
                if item["idx"] > current and item["track"].get("available", True):
                    found: dict[str, Any] = item["track"]
                    return found
            offset = int(page[-1]["idx"]) + 1
        if repeat != "all":
            return None
    items: list[dict[str, Any]] = []
    while len(items) < length:
        page = (await queue_page(len(items), _PAGE))["items"]
        if not page:
            break
        items.extend(page)
    return following(items, int(current), repeat)
