"""A paused target keeps what it is owed; unpaused, it gets it."""

from __future__ import annotations

from collections.abc import Callable

from devtools.maloja import ThrowawayMaloja
from devtools.stack import Stack
from tests.scrobble.conftest import Player, StartSeconds, add_target, countable, target_of, wait_for
from tests.support import UserClient


def test_a_paused_target_waits_while_another_one_delivers(
    stack: Stack, make_user: Callable[..., UserClient], maloja: ThrowawayMaloja, start_seconds: StartSeconds
) -> None:
    owner, other = make_user(), make_user()
    paused = add_target(owner, maloja.listenbrainz_url, maloja.api_key)
    assert owner.http.patch(f"/scrobble/targets/{paused['target_uuid']}", json={"paused": True}).status_code == 200
    player = Player(stack, owner, start_seconds)
    seconds = sorted(player.listen(track) for track in countable(owner)[:2])
    # The sentinel: another user's target, owed a listen counted after ours, gets it.
    sentinel = add_target(other, maloja.listenbrainz_url, maloja.api_key)
    Player(stack, other, start_seconds).listen(countable(other)[0])
    wait_for(lambda: target_of(other, sentinel["target_uuid"])["delivered"] == 1, what="the sentinel")

    waiting = target_of(owner, paused["target_uuid"])
    assert (waiting["state"], waiting["pending"], waiting["delivered"]) == ("paused", 2, 0)
    assert not [s for s in maloja.scrobbles() if int(s["time"]) in set(seconds)]

    assert owner.http.patch(f"/scrobble/targets/{paused['target_uuid']}", json={"paused": False}).status_code == 200
    done = wait_for(lambda: (t := target_of(owner, paused["target_uuid"]))["delivered"] == 2 and t, what="delivery")
    assert (done["state"], done["pending"]) == ("ok", 0)
    assert sorted(int(s["time"]) for s in maloja.scrobbles() if int(s["time"]) in set(seconds)) == seconds
