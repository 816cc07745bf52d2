"""What the server counts is what the receiver gets: a played album, through Maloja's own API."""

from __future__ import annotations

from devtools.maloja import ThrowawayMaloja
from devtools.stack import Stack
from tests.scrobble.conftest import (
    Player,
    StartSeconds,
    add_target,
    counted_listens,
    sent_requests,
    target_of,
    wait_for,
)
from tests.support import UserClient


def test_a_played_album_arrives_as_exactly_the_listens_counted(
    stack: Stack, user: UserClient, maloja: ThrowawayMaloja, start_seconds: StartSeconds
) -> None:
    target = add_target(user, maloja.listenbrainz_url, maloja.api_key)
    album = next(a for a in user.get_ok("/albums")["items"] if a["title"] == "First Light")
    tracks = [i["track"] for i in user.post_ok("/queue/enqueue", {"album_uuid": album["album_uuid"]})["items"]]
    assert [t["title"] for t in tracks] == ["Dawn", "Noon", "Evening", "Dusk"]  # disc 1, then disc 2
    player = Player(stack, user, start_seconds)
    # Each track plays past its listen threshold and ends; the speaker reports it (`ended`).
    played = {player.listen(track, then="ended"): track for track in tracks}  # start second -> track
    starts = sorted(played)  # (the tests' compressed clock does not keep the album's order)

    counted = counted_listens(user)
    assert [(c["started_s"], c["track"]["title"]) for c in counted] == [(s, played[s]["title"]) for s in starts]
    done = wait_for(lambda: (t := target_of(user, target["target_uuid"]))["delivered"] == 4 and t, what="delivery")
    assert (done["state"], done["pending"], done["refused"], done["last_error"]) == ("ok", 0, 0, None)
    assert done["last_delivered_at"] is not None

    scrobbles = [s for s in maloja.scrobbles() if int(s["time"]) in set(starts)]
    assert [int(s["time"]) for s in scrobbles] == starts  # each once, at the second it started
    for scrobble in scrobbles:
        track = played[int(scrobble["time"])]
        assert scrobble["track"]["title"] == track["title"]
        assert scrobble["track"]["artists"] == [track["artist"]]
        assert scrobble["track"]["album"] == {"albumtitle": "First Light", "artists": ["Alpha"]}
        assert scrobble["track"]["length"] == round(track["duration_ms"] / 1000)
        assert scrobble["origin"] == "client:us-tests"

    requests = sent_requests(stack, target["target_uuid"])
    listens = [r for r in requests if r["listen_type"] != "playing_now"]
    assert sum(r["listens"] for r in listens) == 4 and all(r["outcome"] == "taken" for r in requests)
    assert {r["listen_type"] for r in listens} <= {"single", "import"}
    assert any(r["listen_type"] == "playing_now" for r in requests)  # a track started on the speaker
