"""Scrobbling when things break: the receiver down for a while, control killed in the middle of a send.

Both run on the fault rig's stack against a Maloja of their own (the first stops it, the second
freezes it), and check through Maloja's API that every listen the server counted arrives once.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator

import pytest

from devtools.maloja import ThrowawayMaloja, running_maloja
from tests.conftest import logged_in_users
from tests.faults.conftest import FaultRig
from tests.scrobble.conftest import (
    Player,
    StartSeconds,
    add_target,
    countable,
    sent_requests,
    target_of,
    wait_for,
)
from tests.support import UserClient, sql

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def own_maloja() -> Iterator[ThrowawayMaloja]:
    with running_maloja() as server:  # this module stops and freezes it
        yield server


@pytest.fixture
def rig_user(rig: FaultRig) -> Iterator[Callable[..., UserClient]]:
    rig.stack.wait_ready(30)
    with logged_in_users(rig.stack, rig.users) as factory:
        yield factory


@pytest.fixture(scope="module")
def seconds() -> StartSeconds:
    return StartSeconds()


def _arrived(maloja: ThrowawayMaloja, starts: list[int]) -> list[int]:
    return sorted(int(s["time"]) for s in maloja.scrobbles() if int(s["time"]) in set(starts))


def test_a_receiver_down_for_several_listens_gets_each_once_when_it_is_back(
    rig: FaultRig, rig_user: Callable[..., UserClient], own_maloja: ThrowawayMaloja, seconds: StartSeconds
) -> None:
    user = rig_user()
    target = add_target(user, own_maloja.listenbrainz_url, own_maloja.api_key)
    player = Player(rig.stack, user, seconds)
    own_maloja.stop()
    try:
        starts = sorted(player.listen(track) for track in countable(user)[:4])
        failing = wait_for(
            lambda: (t := target_of(user, target["target_uuid"]))["state"] == "failing" and t, what="failing"
        )
        assert failing["pending"] == 4 and "cannot connect" in failing["last_error"]
    finally:
        own_maloja.start()
    done = wait_for(
        lambda: (t := target_of(user, target["target_uuid"]))["delivered"] == 4 and t, timeout_s=60, what="delivery"
    )
    assert (done["state"], done["pending"], done["last_error"]) == ("ok", 0, None)
    assert _arrived(own_maloja, starts) == starts
    outcomes = [r["outcome"] for r in sent_requests(rig.stack, target["target_uuid"])]
    assert "not_sent" in outcomes and outcomes[-1] == "taken"


def _kill_control(rig: FaultRig) -> None:
    """SIGKILL the control master and its workers at once (nothing gets to clean up)."""
    master = rig.stack.master_pid("control")
    assert master is not None
    os.killpg(master, signal.SIGKILL)
    proc = rig.stack.procs.pop("control", None)
    if proc is not None:
        proc.wait(10)
    rig.stack.pid_file("control").unlink(missing_ok=True)


def test_control_killed_between_send_and_record_loses_nothing_and_doubles_nothing(
    rig: FaultRig, rig_user: Callable[..., UserClient], own_maloja: ThrowawayMaloja, seconds: StartSeconds
) -> None:
    """The receiver is frozen (SIGSTOP) so a request to it stays in flight; control is SIGKILLed
    with the listens marked "maybe sent"; the receiver then thaws and stores that request. After
    the restart the sender resends those listens one by one: Maloja answers "already there" for
    each (its key is the second the listen started, for the same track) and holds each once."""
    user = rig_user()
    target = add_target(user, own_maloja.listenbrainz_url, own_maloja.api_key)
    target_uuid = uuid.UUID(target["target_uuid"])
    player = Player(rig.stack, user, seconds)
    # Counted while paused, so that one request carries all three.
    assert user.http.patch(f"/scrobble/targets/{target_uuid}", json={"paused": True}).status_code == 200
    starts = sorted(player.listen(track) for track in countable(user)[:3])
    duplicates_before = own_maloja.log_text().count("already exist")
    own_maloja.pause()
    try:
        assert user.http.patch(f"/scrobble/targets/{target_uuid}", json={"paused": False}).status_code == 200
        wait_for(
            lambda: sql(rig.stack, "SELECT count(*) AS n FROM scrobble_outbox WHERE target_uuid = $1 "
                        "AND maybe_sent AND state = 'pending'", target_uuid)[0]["n"] == 3,
            what="the send to be in flight",
        )  # fmt: skip
        _kill_control(rig)
    finally:
        own_maloja.resume()
    # The frozen Maloja now reads the request the dead sender wrote, and stores it.
    wait_for(lambda: _arrived(own_maloja, starts) == starts, what="Maloja to store the cut request")
    assert target_of_row(rig, target_uuid)["delivered"] == 0  # recorded nowhere on our side

    rig.stack.start_service("control")
    rig.stack.wait_ready(60, services=("control",))
    done = wait_for(lambda: (t := target_of(user, str(target_uuid)))["delivered"] == 3 and t, what="redelivery")
    assert (done["state"], done["pending"], done["refused"]) == ("ok", 0, 0)
    assert _arrived(own_maloja, starts) == starts  # nothing lost, nothing doubled
    resent = [r for r in sent_requests(rig.stack, str(target_uuid)) if r["listen_type"] != "playing_now"]
    assert [(r["listens"], r["resend"], r["outcome"]) for r in resent] == [(1, True, "taken")] * 3
    # What we rely on, seen from Maloja's side: it took each resend as a repeat of what it had.
    assert own_maloja.log_text().count("already exist") - duplicates_before == 3


def target_of_row(rig: FaultRig, target_uuid: uuid.UUID) -> dict[str, int]:
    """The target's row, read from Postgres (control is down)."""
    row = sql(rig.stack, "SELECT delivered FROM scrobble_target WHERE target_uuid = $1", target_uuid)[0]
    return {"delivered": int(row["delivered"])}
