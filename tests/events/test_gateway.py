"""The SSE gateway through nginx and two gunicorn events workers, with real Redis.

Messages are published the way control publishes them (cache write + PUBLISH in one script).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
import redis as redis_sync

from devtools.stack import Stack
from tests.events.conftest import (
    STATE_EVENTS,
    CachedSession,
    EventStream,
    access_token,
    open_streams,
    stalled_client,
    streams_on_both_workers,
    worker_views,
)
from us_common.jwt import TokenCodec, TokenKind

pytestmark = pytest.mark.timeout(120)


# --- the stream --------------------------------------------------------------------------------


async def test_first_event_is_the_snapshot_with_headers(
    stack: Stack, cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    (stream,) = await open_streams(public_http, cached_session, cached_session.device_uuids[:1], streams)
    assert stream.response.status_code == 200
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    assert stream.response.headers["cache-control"] == "no-store"
    # nginx consumes X-Accel-Buffering; the events service sets it (checked directly below).
    first = await stream.next()
    assert first["event"] == "snapshot"
    assert first["id"] == str(cached_session.rev)
    data = first["data"]
    assert set(data) == {"rev", "type", "ts", "session"}
    assert data["rev"] == cached_session.rev and data["type"] == "snapshot"
    assert abs(data["ts"] - time.time() * 1000) < 5000
    assert data["session"]["revision"] == cached_session.rev
    assert data["session"]["user_uuid"] == cached_session.user_uuid
    assert data["session"]["track"]["title"] == "Dawn"

    async with (
        httpx.AsyncClient(base_url=stack.service_url("events"), timeout=10) as direct,
        direct.stream(
            "GET",
            "/events",
            params={"device_uuid": cached_session.device_uuids[1]},
            headers={"Authorization": f"Bearer {cached_session.token}"},
        ) as response,
    ):
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["cache-control"] == "no-store"


async def test_events_carry_type_rev_and_message_ts(
    cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    (stream,) = await open_streams(public_http, cached_session, cached_session.device_uuids[:1], streams)
    await stream.next(names={"snapshot"})
    expected = {
        "timeline": "timeline_update",
        "speaker": "speaker_change",
        "queue": "queue_change",
        "options": "options_change",
        "like": "like",
    }
    revs = [cached_session.store(kind) for kind in expected]
    events = await stream.state_events(len(expected))
    assert [e["event"] for e in events] == list(expected.values())
    assert [int(e["id"]) for e in events] == revs
    for event, kind, rev in zip(events, expected, revs, strict=True):
        assert event["data"]["type"] == kind
        assert event["data"]["rev"] == rev
        # The state is read when the message arrives: never older than it, maybe newer.
        assert event["data"]["session"]["revision"] >= rev
    assert events[-1]["data"]["session"]["revision"] == revs[-1]
    # ts is the message's own (commit) time, passed through: not later than receipt.
    assert all(e["data"]["ts"] <= time.time() * 1000 for e in events)


async def test_beacon_projects_position_and_carries_current_rev_without_id(
    cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    from us_common.timeline import PlayState

    cached_session.play_state = PlayState.PLAYING
    cached_session.position_ms = 1000
    cached_session.store("timeline")
    (stream,) = await open_streams(public_http, cached_session, cached_session.device_uuids[:1], streams)
    snapshot = await stream.next(names={"snapshot"})
    beacon = await stream.next(timeout=6, names={"timeline_beacon"})  # stack beacons every 3 s
    assert "id" not in beacon
    assert beacon["data"]["type"] == "beacon"
    assert beacon["data"]["rev"] == cached_session.rev
    session = beacon["data"]["session"]
    assert session["server_time_ms"] == beacon["data"]["ts"]
    elapsed = session["server_time_ms"] - snapshot["data"]["session"]["server_time_ms"]
    assert elapsed > 1000
    moved = session["position_ms"] - snapshot["data"]["session"]["position_ms"]
    assert abs(moved - elapsed) < 50


async def test_heartbeat_comments(
    cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    (stream,) = await open_streams(public_http, cached_session, cached_session.device_uuids[:1], streams)
    deadline = time.monotonic() + 8  # the stack sends heartbeats every 5 s
    while time.monotonic() < deadline:
        async with asyncio.timeout(deadline - time.monotonic()):
            event = await stream.events.get()
        if "comment" in event:
            return
    pytest.fail("no heartbeat comment")


# --- auth ----------------------------------------------------------------------------------------


async def test_auth_and_device_checks(
    stack: Stack, cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    device = cached_session.device_uuids[0]

    async def status(headers: dict[str, str], params: dict[str, str] | None = None) -> int:
        response = await public_http.get("/events", params=params or {"device_uuid": device}, headers=headers)
        assert response.headers["content-type"].startswith("application/json")
        assert "detail" in response.json()
        return response.status_code

    bearer = {"Authorization": f"Bearer {cached_session.token}"}
    assert await status({}) == 401
    assert await status({"Authorization": "Bearer nonsense"}) == 401
    assert await status({"Authorization": f"Basic {cached_session.token}"}) == 401
    # A token in the URL is not a credential.
    assert await status({}, {"device_uuid": device, "access_token": cached_session.token}) == 401
    expired = access_token(stack.env, cached_session.user_uuid, ttl_s=-30)
    assert await status({"Authorization": f"Bearer {expired}"}) == 401
    # Right key, wrong kind of token.
    service = TokenCodec(TokenKind.SERVICE, stack.env["US_ACCESS_TOKEN_KEY"], "universalscrobbler")
    assert (
        await status({"Authorization": f"Bearer {service.encode({'sub': cached_session.user_uuid}, 60)}"})
        == 401
    )
    # Malformed uuid: 422 (once authenticated); unknown device or another user's: 404.
    assert await status(bearer, {"device_uuid": "not-a-uuid"}) == 422
    assert await status(bearer, {"device_uuid": str(uuid.uuid4())}) == 404
    stranger = CachedSession(cached_session.redis, stack.env)
    stranger.store(None)
    try:
        assert await status({"Authorization": f"Bearer {stranger.token}"}) == 404
    finally:
        stranger.forget()

    # Browsers: the HttpOnly cookie control sets carries the same access token.
    stream = await EventStream.open(public_http, device, cookies={"us_access": cached_session.token})
    streams.append(stream)
    assert stream.response.status_code == 200
    assert (await stream.next())["event"] == "snapshot"


async def test_debug_endpoint_is_loopback_only(stack: Stack, public_http: httpx.AsyncClient) -> None:
    assert (await public_http.get("/debug/counts")).status_code == 404
    async with httpx.AsyncClient(base_url=stack.service_url("events"), timeout=5) as direct:
        assert (await direct.get("/debug/counts")).status_code == 200
        proxied = await direct.get("/debug/counts", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 404


# --- fan-out -------------------------------------------------------------------------------------


async def test_message_reaches_clients_on_every_worker_in_order(
    stack: Stack, cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    placement = await streams_on_both_workers(stack, public_http, cached_session, streams)
    assert len(placement) == 2
    revs = [cached_session.store("timeline") for _ in range(5)]
    for stream in streams:
        events = await stream.state_events(5)
        ids = [int(e["id"]) for e in events]
        assert ids == revs
        assert all(b > a for a, b in zip(ids, ids[1:], strict=False))
        assert all(e["event"] == "timeline_update" for e in events)


async def test_out_of_order_and_duplicate_messages_are_dropped(
    cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    (stream,) = await open_streams(public_http, cached_session, cached_session.device_uuids[:1], streams)
    await stream.next(names={"snapshot"})
    newest = cached_session.store("timeline", rev=cached_session.rev + 2)  # rev - 1 never comes
    assert int((await stream.next(names=STATE_EVENTS))["id"]) == newest
    cached_session.publish_only(newest)  # a duplicate
    cached_session.publish_only(newest - 1)  # older than what was forwarded: too late
    cached_session.publish_only(newest - 5)
    later = cached_session.store("queue")
    # The barrier: published after the stale ones, so any of them forwarded would come first.
    assert int((await stream.next(names=STATE_EVENTS))["id"]) == later


async def test_reordered_publishes_are_forwarded_in_order(
    cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    """Two publishers racing: rev n+2 announced before n+1 — the gateway waits a moment for it."""
    (stream,) = await open_streams(public_http, cached_session, cached_session.device_uuids[:1], streams)
    await stream.next(names={"snapshot"})
    first, second = cached_session.rev + 1, cached_session.rev + 2
    cached_session.store("queue", rev=second)
    cached_session.publish_only(first, "like")
    events = await stream.state_events(2)
    assert [(int(e["id"]), e["event"]) for e in events] == [(first, "like"), (second, "queue_change")]


async def test_burst_of_twenty_messages_gives_exactly_twenty_events(
    cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    clients = await open_streams(public_http, cached_session, cached_session.device_uuids[:2], streams)
    for stream in clients:
        await stream.next(names={"snapshot"})
    revs = [cached_session.store("timeline") for _ in range(20)]
    sentinel = cached_session.store("timeline")  # after the burst: nothing else may come first
    for stream in clients:
        events = await stream.state_events(21)
        assert [int(e["id"]) for e in events] == [*revs, sentinel]


async def test_many_users_arriving_and_leaving_at_once_all_connect_and_the_subscribers_hold(
    stack: Stack, redis_client: Any, public_http: httpx.AsyncClient
) -> None:
    """150 users open their streams at the same moment, then all leave together (a household
    server after a restart; a deploy's reconnect storm). Every stream opens: the connect's cache
    reads wait for a Redis connection rather than being refused (a Redis Cluster's per-node pools
    refuse when full). When they leave, the subscribers' unsubscribes go out in batches, and no
    subscriber connection drops (in a cluster a batch is one slot per SUNSUBSCRIBE: Redis refuses
    a CROSSSLOT one and the connection was lost with every other user's subscription on it)."""
    sessions = [
        CachedSession(redis_client, stack.env, sharded=isinstance(redis_client, redis_sync.RedisCluster))
        for _ in range(150)
    ]
    for session in sessions:
        session.store(None)
    try:
        before = await worker_views(stack)
        opened = await asyncio.gather(
            *(EventStream.open(public_http, s.device_uuids[0], s.token) for s in sessions), return_exceptions=True
        )
        streams = [stream for stream in opened if isinstance(stream, EventStream)]
        try:
            statuses = Counter(
                stream.response.status_code if isinstance(stream, EventStream) else type(stream).__name__
                for stream in opened
            )
            assert statuses == {200: len(sessions)}, statuses
            firsts = await asyncio.gather(*(stream.next(names={"snapshot"}) for stream in streams))
            assert [f["data"]["session"]["user_uuid"] for f in firsts] == [s.user_uuid for s in sessions]
        finally:
            await asyncio.gather(*(stream.close() for stream in streams), return_exceptions=True)
        # Barrier: Redis has answered every unsubscribe (redis-py counts a channel gone on its reply).
        deadline = time.monotonic() + 20
        while True:
            after = await worker_views(stack)
            if all(v["clients"] == 0 and v["redis_channels"] == 0 for v in after.values()):
                break
            assert time.monotonic() < deadline, after
            await asyncio.sleep(0.2)
        assert {pid: v["disconnects"] for pid, v in after.items()} == {
            pid: before[pid]["disconnects"] for pid in after
        }, "a subscriber connection was lost"
    finally:
        for session in sessions:
            session.forget()


# --- reconnects ------------------------------------------------------------------------------------


async def test_last_event_id_current_gets_no_duplicate_snapshot(
    cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    device = cached_session.device_uuids[0]
    first = await EventStream.open(public_http, device, cached_session.token)
    streams.append(first)
    snapshot = await first.next()
    assert snapshot["event"] == "snapshot"
    await first.close()

    again = await EventStream.open(public_http, device, cached_session.token, last_event_id=snapshot["id"])
    streams.append(again)
    rev = cached_session.store("speaker")
    event = await again.next(names=STATE_EVENTS)
    assert (event["event"], int(event["id"])) == ("speaker_change", rev)


async def test_last_event_id_behind_gets_the_snapshot(
    cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    device = cached_session.device_uuids[0]
    behind = str(cached_session.rev)
    for _ in range(3):
        cached_session.store("timeline")
    stream = await EventStream.open(public_http, device, cached_session.token, last_event_id=behind)
    streams.append(stream)
    event = await stream.next()
    assert event["event"] == "snapshot"
    assert int(event["id"]) == cached_session.rev == event["data"]["session"]["revision"]


async def test_lost_message_is_healed_by_the_beacon(
    cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    (stream,) = await open_streams(public_http, cached_session, cached_session.device_uuids[:1], streams)
    await stream.next(names={"snapshot"})
    lost = cached_session.store(None)  # committed and cached, but the PUBLISH never arrived
    started = time.monotonic()
    # Within one beacon period (3 s in the stack) plus the heal grace (1 s): the beacon says rev
    # `lost`, and the state itself follows as a snapshot.
    beacon = await stream.next(timeout=6, names={"timeline_beacon"})
    assert beacon["data"]["rev"] == lost
    healed = await stream.next(timeout=6, names=STATE_EVENTS)
    assert healed["event"] == "snapshot"
    assert int(healed["id"]) == lost == healed["data"]["session"]["revision"]
    assert time.monotonic() - started < 9
    # The next real message continues from there.
    rev = cached_session.store("timeline")
    assert int((await stream.next(names=STATE_EVENTS))["id"]) == rev


# --- slow clients and leaks --------------------------------------------------------------------------


async def test_stalled_client_does_not_slow_others_and_its_queue_is_bounded(
    stack: Stack, cached_session: CachedSession, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    cached_session.title = "x" * 4000  # big frames fill the socket buffers quickly
    cached_session.store(None)
    stalled_device, fast_device = cached_session.device_uuids[:2]
    stalled = stalled_client(stack, cached_session, stalled_device)
    try:
        (fast,) = await open_streams(public_http, cached_session, [fast_device], streams)
        await fast.next(names={"snapshot"})
        latencies: list[float] = []
        for _ in range(60):
            sent = time.monotonic()
            # Published from a thread so this loop keeps reading the fast stream meanwhile.
            revs = await asyncio.to_thread(lambda: [cached_session.store("timeline") for _ in range(50)])
            ids: list[int] = []
            while not ids or ids[-1] < revs[-1]:
                event = await fast.next(timeout=5, names=STATE_EVENTS)
                ids.append(int(event["id"]))
            latencies.append(time.monotonic() - sent)
            assert all(b > a for a, b in zip(ids, ids[1:], strict=False))
            stalled_view = await _client_view(stack, stalled_device)
            if stalled_view["dropped"] > 0:
                break
        assert stalled_view["dropped"] > 0, stalled_view
        assert stalled_view["queue"] <= 50
        assert max(latencies) < 2.0, latencies
        assert max(v["max_queue"] for v in (await worker_views(stack)).values()) <= 50
    finally:
        stalled.close()


async def _client_view(stack: Stack, device: str) -> dict[str, Any]:
    for view in (await worker_views(stack, "/debug/clients")).values():
        for client in view["clients"]:
            if client["device_uuid"] == device:
                return dict(client)
    raise AssertionError("client not found on any worker")


async def test_thousand_connect_disconnect_cycles_leave_nothing_behind(
    stack: Stack, cached_session: CachedSession, public_http: httpx.AsyncClient
) -> None:
    async def cycle(device: str) -> None:
        stream = await EventStream.open(public_http, device, cached_session.token)
        try:
            assert stream.response.status_code == 200
            await stream.next(names={"snapshot"})
        finally:
            await stream.close()

    devices = cached_session.add_devices(20)
    cached_session.store(None)
    await asyncio.gather(*(cycle(d) for d in devices))  # warm both workers up
    before = await _settled(stack, cached_session)

    for _ in range(50):
        await asyncio.gather(*(cycle(d) for d in devices))
    after = await _settled(stack, cached_session)

    assert after.keys() == before.keys()
    for pid, counts in after.items():
        assert counts["clients"] == counts["users"] == counts["subscriptions"] == 0, counts
        assert counts["hub_tasks"] == 0 and counts["control_fetches_in_flight"] == 0, counts
        assert counts["asyncio_tasks"] <= before[pid]["asyncio_tasks"], (before[pid], counts)


async def _settled(stack: Stack, session: CachedSession) -> dict[int, dict[str, Any]]:
    """Worker counts once this test's clients are gone (closing takes a moment)."""
    deadline = time.monotonic() + 10
    while True:
        views = await worker_views(stack)
        mine = [c for v in (await worker_views(stack, "/debug/clients")).values() for c in v["clients"]]
        if not [c for c in mine if c["user_uuid"] == session.user_uuid] and all(
            v["hub_tasks"] == 0 and v["clients"] == 0 for v in views.values()
        ):
            return views
        if time.monotonic() > deadline:
            return views
        await asyncio.sleep(0.2)
