"""Which track the box preloads: the server's rule for what follows an item (no stack needed)."""

from __future__ import annotations

from typing import Any

import pytest

from us_speaker.upnext import following, next_track


def queue(*orders: int, unavailable: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"idx": idx, "play_order": order, "track": {"track_uuid": f"t{idx}", "available": idx not in unavailable}}
        for idx, order in enumerate(orders)
    ]


@pytest.mark.parametrize(
    ("items", "current", "repeat", "expected"),
    [
        (queue(0, 1, 2), 0, "off", "t1"),
        (queue(0, 1, 2), 2, "off", None),
        (queue(0, 1, 2), 2, "all", "t0"),
        (queue(0, 1, 2), 1, "one", "t1"),
        (queue(2, 0, 1), 1, "off", "t2"),  # shuffled: play order 0 → 1 is idx 1 → idx 2
        (queue(0, 1, 2, unavailable=(1,)), 0, "off", "t2"),
        (queue(0, 1, unavailable=(0,)), 1, "all", None),  # nothing playable but itself
    ],
)
def test_following(items: list[dict[str, Any]], current: int, repeat: str, expected: str | None) -> None:
    track = following(items, current, repeat)
    assert (track["track_uuid"] if track else None) == expected


async def test_without_shuffle_only_two_items_are_fetched() -> None:
    items = queue(*range(500))
    asked: list[tuple[int, int]] = []

    async def page(offset: int, limit: int) -> dict[str, Any]:
        asked.append((offset, limit))
        return {"items": items[offset : offset + limit]}

    snapshot = {"queue_position": 41, "queue_length": 500, "shuffle": False, "repeat_mode": "off"}
    track = await next_track(snapshot, page)
    assert track is not None and track["track_uuid"] == "t42"
    assert asked == [(41, 2)]
