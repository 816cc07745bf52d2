"""``usctl listens export|import``: ListenBrainz JSON lines out, history backfilled in, repeats ignored."""

from __future__ import annotations

import json
from pathlib import Path

from devtools.stack import Stack
from tests.scrobble.conftest import StartSeconds, countable, counted_listens, history_lines, import_listens
from tests.support import UserClient


def test_import_backfills_export_writes_it_back_and_a_second_import_changes_nothing(
    stack: Stack, user: UserClient, start_seconds: StartSeconds, tmp_path: Path
) -> None:
    source = user
    tracks = countable(source)
    seconds = start_seconds.history(4)
    history = history_lines(tracks, seconds)
    unknown = {"listened_at": seconds[0], "track_metadata": {"artist_name": "Nobody", "track_name": "Nothing"}}
    unmatched = tmp_path / "unmatched.jsonl"
    summary = import_listens(stack, source, [*history, history[1], unknown], "--unmatched", str(unmatched))
    assert summary == {"read": 6, "imported": 4, "duplicates": 1, "unmatched": 1, "delivered_to_targets": False}
    assert [json.loads(line) for line in unmatched.read_text().splitlines()] == [unknown]
    assert [item["started_s"] for item in counted_listens(source)] == seconds

    exported = [json.loads(line) for line in stack.usctl("listens", "export", source.username).stdout.splitlines()]
    assert [line["listened_at"] for line in exported] == seconds  # oldest first, the start second
    for line, track in zip(exported, [tracks[i % len(tracks)] for i in range(4)], strict=True):
        metadata = line["track_metadata"]
        assert (metadata["artist_name"], metadata["track_name"], metadata["release_name"]) == (
            track["artist"], track["title"], track["album"],
        )  # fmt: skip
        assert metadata["additional_info"]["duration"] == round(track["duration_ms"] / 1000)
        assert metadata["additional_info"]["tracknumber"] == track["track_number"]
        assert metadata["additional_info"]["submission_client"] == "UniversalScrobbler Playback"

    # The export, imported again (as the older ListenBrainz format, one JSON array): all repeats.
    result = stack.usctl("listens", "import", source.username, "-", stdin=json.dumps(exported))
    assert json.loads(result.stdout) == {
        "read": 4, "imported": 0, "duplicates": 4, "unmatched": 0, "delivered_to_targets": False,
    }  # fmt: skip
    assert [item["started_s"] for item in counted_listens(source)] == seconds


def test_a_malformed_line_rejects_the_whole_file(stack: Stack, user: UserClient, start_seconds: StartSeconds) -> None:
    good = history_lines(countable(user), start_seconds.history(1))[0]
    lines = [json.dumps(good), json.dumps({"listened_at": 5, "track_metadata": {"artist_name": "a", "track_name": "b"}})]
    result = stack.usctl("listens", "import", user.username, "-", stdin="\n".join(lines), check=False)
    assert result.returncode == 2
    assert "line 2: listened_at" in result.stderr
    assert user.get_ok("/listens")["total"] == 0
