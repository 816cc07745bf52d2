"""A token the receiver stops taking: the target says so, its listens wait, a new token delivers them."""

from __future__ import annotations

from devtools.maloja import ThrowawayMaloja
from devtools.stack import Stack
from tests.scrobble.conftest import (
    Player,
    StartSeconds,
    add_target,
    countable,
    sent_requests,
    target_of,
    wait_for,
)
from tests.support import UserClient


def test_a_refused_token_marks_the_target_and_a_new_token_delivers_what_waited(
    stack: Stack, user: UserClient, maloja: ThrowawayMaloja, start_seconds: StartSeconds
) -> None:
    target = add_target(user, maloja.listenbrainz_url, maloja.api_key)
    uuid_ = target["target_uuid"]
    new_key = maloja.replace_api_key()  # the user made a new key in Maloja; ours is now wrong
    player = Player(stack, user, start_seconds)
    seconds = sorted(player.listen(track) for track in countable(user)[:3])

    refused = wait_for(
        lambda: (t := target_of(user, uuid_))["state"] == "token_refused" and t, what="token_refused"
    )
    assert (refused["pending"], refused["delivered"], refused["refused"]) == (3, 0, 0)
    assert "refused the token" in refused["last_error"]
    assert refused["next_attempt_at"] is not None  # re-tried rarely (hourly), not dropped
    # One request was refused (a playing_now or the listens); nothing was taken.
    assert {r["outcome"] for r in sent_requests(stack, uuid_)} == {"token_refused"}
    assert not [s for s in maloja.scrobbles() if int(s["time"]) in set(seconds)]

    fixed = user.http.patch(f"/scrobble/targets/{uuid_}", json={"token": new_key})
    assert fixed.status_code == 200 and fixed.json()["state"] == "ok"
    done = wait_for(lambda: (t := target_of(user, uuid_))["delivered"] == 3 and t, what="delivery")
    assert (done["state"], done["pending"], done["last_error"]) == ("ok", 0, None)
    assert sorted(int(s["time"]) for s in maloja.scrobbles() if int(s["time"]) in set(seconds)) == seconds
