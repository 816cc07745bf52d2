"""A backlog (imported history, ``--deliver``) drains in batches within ListenBrainz's limits."""

from __future__ import annotations

from devtools.maloja import ThrowawayMaloja
from devtools.stack import Stack
from tests.scrobble.conftest import (
    StartSeconds,
    add_target,
    countable,
    history_lines,
    import_listens,
    sent_requests,
    target_of,
    wait_for,
)
from tests.support import UserClient

BATCH = 100  # US_SCROBBLE_BATCH_SIZE's default; ListenBrainz allows up to 1,000 per request
LB_MAX_LISTENS_PER_REQUEST = 1000


def test_a_thousand_backlogged_listens_drain_in_batches_within_the_limits(
    stack: Stack, user: UserClient, maloja: ThrowawayMaloja, start_seconds: StartSeconds
) -> None:
    target = add_target(user, maloja.listenbrainz_url, maloja.api_key)
    path = f"/scrobble/targets/{target['target_uuid']}"
    assert user.http.patch(path, json={"paused": True}).status_code == 200
    tracks = countable(user)
    seconds = start_seconds.history(1000)
    lines = history_lines(tracks, seconds)
    summary = import_listens(stack, user, lines, "--deliver")
    assert summary == {"read": 1000, "imported": 1000, "duplicates": 0, "unmatched": 0, "delivered_to_targets": True}
    backlog = target_of(user, target["target_uuid"])
    assert (backlog["state"], backlog["pending"], backlog["delivered"]) == ("paused", 1000, 0)

    assert user.http.patch(path, json={"paused": False}).status_code == 200
    done = wait_for(
        lambda: (t := target_of(user, target["target_uuid"]))["pending"] == 0 and t,
        timeout_s=180,
        what="the backlog to drain",
    )
    assert (done["state"], done["delivered"], done["refused"], done["last_error"]) == ("ok", 1000, 0, None)

    requests = sent_requests(stack, target["target_uuid"])
    assert [r["listens"] for r in requests] == [BATCH] * 10  # oldest first, full batches
    assert all(r["listen_type"] == "import" and r["outcome"] == "taken" and not r["resend"] for r in requests)
    assert max(r["listens"] for r in requests) <= LB_MAX_LISTENS_PER_REQUEST

    by_second = {int(s["time"]): s for s in maloja.scrobbles() if int(s["time"]) in set(seconds)}
    assert sorted(by_second) == seconds  # every one arrived, each once (Maloja keys by second)
    for line in lines:
        scrobble = by_second[line["listened_at"]]
        assert scrobble["track"]["title"] == line["track_metadata"]["track_name"]
        assert scrobble["track"]["artists"] == [line["track_metadata"]["artist_name"]]
        assert scrobble["track"]["album"]["albumtitle"] == line["track_metadata"]["release_name"]
