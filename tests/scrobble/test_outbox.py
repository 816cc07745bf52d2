"""The outbox: written with the listen, in its transaction, for the targets that exist at that moment."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from devtools.maloja import ThrowawayMaloja
from devtools.stack import Stack
from tests.scrobble.conftest import Player, StartSeconds, add_target, countable, target_of, wait_for
from tests.support import UserClient, sql
from us_control.scrobble import repository as repo


def _entries(stack: Stack, user: UserClient) -> list[tuple[str, str]]:
    rows = sql(
        stack,
        "SELECT o.target_uuid::text AS t, o.listen_uuid::text AS l FROM scrobble_outbox o "
        "JOIN scrobble_target t USING (target_uuid) WHERE t.user_uuid = $1",
        uuid.UUID(user.user_uuid),
    )
    return sorted((r["t"], r["l"]) for r in rows)


def test_each_listen_goes_to_the_targets_that_existed_when_it_was_counted(
    stack: Stack, user: UserClient, maloja: ThrowawayMaloja, start_seconds: StartSeconds
) -> None:
    first = add_target(user, maloja.listenbrainz_url, maloja.api_key)
    player = Player(stack, user, start_seconds)
    one, two = countable(user)[:2]
    player.listen(one)
    # A second target appears (a row of its own, paused so that nobody calls it) ...
    later = uuid.uuid4()
    sql(stack, "INSERT INTO scrobble_target (target_uuid, user_uuid, kind, base_url, token_sealed, "
               "token_generation, paused, condition, failures, delivered) "
               "VALUES ($1, $2, 'listenbrainz', 'http://127.0.0.1:9/x', '\\x00', 1, true, 'ok', 0, 0)",
        later, uuid.UUID(user.user_uuid))  # fmt: skip
    player.listen(two)
    # ... and gets only the listen counted after it existed; the first target gets both.
    wait_for(lambda: target_of(user, first["target_uuid"])["delivered"] == 2, what="delivery")
    assert target_of(user, str(later))["pending"] == 1
    listens = {i["track"]["title"]: i["listen_uuid"] for i in user.get_ok("/listens")["items"]}
    assert _entries(stack, user) == [(str(later), listens[two["title"]])]


def test_a_look_at_the_session_counts_nothing_and_the_command_that_counts_writes_both(
    stack: Stack, user: UserClient, maloja: ThrowawayMaloja, start_seconds: StartSeconds
) -> None:
    target = add_target(user, maloja.listenbrainz_url, maloja.api_key)
    assert user.http.patch(f"/scrobble/targets/{target['target_uuid']}", json={"paused": True}).status_code == 200
    player = Player(stack, user, start_seconds)
    track = countable(user)[0]
    user.command_ok("play", {"track_uuid": track["track_uuid"], "device_uuid": player.device})
    sql(stack, "UPDATE session_state SET last_update_ms = last_update_ms - $2 WHERE user_uuid = $1",
        uuid.UUID(user.user_uuid), track["duration_ms"] - 5_000)  # fmt: skip
    # GET settles the session in memory (the view shows it played) and rolls back: no listen yet.
    assert user.session["position_ms"] >= track["duration_ms"] // 2
    assert user.get_ok("/listens")["total"] == 0 and _entries(stack, user) == []
    user.command_ok("pause")
    listens = user.get_ok("/listens")["items"]
    assert len(listens) == 1
    assert _entries(stack, user) == [(target["target_uuid"], listens[0]["listen_uuid"])]


async def test_one_sender_at_a_time_holds_a_target(stack: Stack) -> None:
    """The sender's lock, as two workers (or hosts) on their own connections see it."""
    engine = create_async_engine(stack.env["US_DATABASE_URL"])
    target = uuid.uuid4()
    try:
        async with AsyncSession(engine) as first, AsyncSession(engine) as second:
            assert await repo.try_lock_target(first, target)
            assert not await repo.try_lock_target(second, target)
            assert await repo.try_lock_target(second, uuid.uuid4())  # other targets stay free
            await first.rollback()  # the holder's transaction ends (commit, rollback, dead connection)
            assert await repo.try_lock_target(second, target)
    finally:
        await engine.dispose()
