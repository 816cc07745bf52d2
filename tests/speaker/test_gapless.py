"""Gapless: across the boundary of two album tracks, mpv's PCM output has no gap — and a third
track whose file vanished after the scan is reported ``failed`` (C1) by the box.

Measured from the samples themselves: mpv writes its output to a WAV file (``--ao=pcm``), paced
to real time by ffmpeg's ``arealtime`` filter so the box and the session run on the clock they run
on with a sound card. Track 1 is a 440 Hz tone and track 2 a 660 Hz tone, both sounding up to
their first and last samples, so any gap at the boundary is a run of silence in the output; and
a box that queued the next track too late would let mpv close its output between the files (the
file would then hold only the second track).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import soundfile

from devtools.flacgen import write_flac
from devtools.stack import Stack
from tests.speaker.conftest import BoxFactory
from tests.speaker.support import wait_until
from tests.support import UserClient

RATE = 44100


def _zero_crossing_hz(samples: np.ndarray) -> float:
    signs = np.signbit(samples)
    return float(np.count_nonzero(signs[1:] != signs[:-1])) / 2 / (len(samples) / RATE)


def longest_silence_ms(samples: np.ndarray, threshold: float = 0.05) -> float:
    quiet = np.abs(samples) < threshold
    longest = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        longest = max(longest, run)
    return longest / RATE * 1000


def test_album_boundary_has_no_gap(stack: Stack, user: UserClient, make_box: BoxFactory, tmp_path: Path, music_root: Path) -> None:
    began = time.monotonic()
    name = f"Gapless {uuid.uuid4().hex[:8]}"
    folder = music_root / name
    for n, hz in ((1, 440.0), (2, 660.0), (3, 880.0)):
        write_flac(folder / f"0{n}.flac", duration_s=5.0, title=f"Part {n}", artist="Gapless", album=name, track_number=n, frequency_hz=hz)
    stack.usctl("library", "scan", str(folder), "--name", name)
    (folder / "03.flac").unlink()  # the catalog still lists it: nginx answers 404
    stack.usctl("library", "grant", user.username, name)
    album = next(a for a in user.get_ok("/albums", params={"limit": 200})["items"] if a["title"] == name)

    scanned = time.monotonic()
    out = tmp_path / "out.wav"
    box, mpv = make_box(user, audio_output="pcm", mpv_args=[f"--ao-pcm-file={out}", "--af=lavfi=[arealtime]"])
    wait_until(lambda: any(d["device_uuid"] == box.device_uuid and d["online"] for d in user.get_ok("/devices")["items"]), 20, "box online")
    ready = time.monotonic()
    user.post_ok("/queue/enqueue", {"album_uuid": album["album_uuid"]})
    user.post_ok(f"/sessions/{user.user_uuid}/speaker", {"device_uuid": box.device_uuid})
    queue = user.get_ok("/queue")["items"]
    user.command_ok("play", {"item_uuid": queue[0]["item_uuid"], "position_ms": 2500})
    # The box reports the end of part 1 itself; the server then names part 2.
    wait_until(lambda: user.session["track_uuid"] == queue[1]["track_uuid"], 20, "the session at part 2")
    mpv.wait_for(lambda: (mpv.position_ms() or 0) > 1000, 10, "part 2 playing")
    # Part 3 cannot be fetched: the box retries with fresh tokens, then reports it failed and the
    # server moves past it (the end of the queue).
    user.command_ok("seek", {"position_ms": 4000})
    wait_until(lambda: (user.session.get("last_failure") or {}).get("track_uuid") == queue[2]["track_uuid"], 30, "part 3 failed")
    failure = user.session["last_failure"]
    assert failure["reason"].startswith("mpv:")
    assert user.get_ok("/queue")["items"][2]["status"] == "failed"
    wait_until(lambda: user.session["play_state"] != "playing", 10, "the queue over")
    played = time.monotonic()
    box.stop()  # mpv quits and finishes the WAV header
    print(f"gapless phases: library {scanned - began:.1f} s, box {ready - scanned:.1f} s, play {played - ready:.1f} s, stop {time.monotonic() - played:.1f} s")  # noqa: T201

    samples, rate = soundfile.read(str(out))
    assert rate == RATE
    mono = samples[:, 0]
    gap_ms = longest_silence_ms(mono)
    first = mono[: RATE // 2]
    last = mono[np.flatnonzero(np.abs(mono) > 0.05)[-1] - RATE // 2 :][: RATE // 2]
    print(f"gapless: {len(mono) / RATE:.2f} s of output, longest silence {gap_ms:.2f} ms")  # noqa: T201
    assert abs(_zero_crossing_hz(first) - 440) < 15, "the output starts with part 1"
    assert abs(_zero_crossing_hz(last) - 660) < 15, "the output ends with part 2"
    assert gap_ms <= 20
