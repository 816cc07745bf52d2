"""Unit tests of the pure playback rules: no database, no clock, no network."""

from __future__ import annotations

import random
import uuid

import pytest

from us_common.timeline import PlayState, RepeatMode
from us_control.playback import rules
from us_control.playback.rules import Timeline

OFF, ONE, ALL = RepeatMode.OFF, RepeatMode.ONE, RepeatMode.ALL


def playing(position: int = 0, since: int = 1_000, duration: int | None = 60_000) -> Timeline:
    return Timeline(position, PlayState.PLAYING, since, duration)


def test_projection_moves_only_while_playing_and_is_clamped() -> None:
    assert playing(1000, since=0).at(2500) == 3500
    assert Timeline(1000, PlayState.PAUSED, 0, 60_000).at(99_999) == 1000
    assert playing(59_000, since=0).at(5_000) == 60_000
    assert playing(0, since=10_000).at(5_000) == 0  # a clock read before `since` never goes negative


def test_settling_changes_nothing_observable() -> None:
    tl = playing(1000, since=0)
    settled = tl.settled(4000)
    assert (settled.position_ms, settled.since_ms) == (5000, 4000)
    assert settled.at(9000) == tl.at(9000)


def test_pause_then_play_resumes_where_it_paused() -> None:
    paused = rules.pause(playing(1000, since=0), 2000)
    assert (paused.play_state, paused.position_ms) == (PlayState.PAUSED, 3000)
    resumed = rules.play(paused, 10_000)
    assert resumed.at(10_500) == 3500


def test_seek_clamps_and_keeps_state_and_wakes_a_stopped_track_paused() -> None:
    assert rules.seek(playing(), 1000, 999_999).position_ms == 60_000
    assert rules.seek(playing(), 1000, 5000).play_state == PlayState.PLAYING
    stopped = Timeline(0, PlayState.STOPPED, 0, 60_000)
    assert rules.seek(stopped, 10, 5000).play_state == PlayState.PAUSED


def test_play_at_the_end_starts_again() -> None:
    finished = Timeline(60_000, PlayState.PAUSED, 0, 60_000)
    assert rules.play(finished, 5).position_ms == 0
    assert rules.play(finished, 5, position_ms=1234).position_ms == 1234


def test_toggle_flips() -> None:
    assert rules.toggle(playing(), 10).play_state == PlayState.PAUSED
    assert rules.toggle(Timeline(0, PlayState.PAUSED, 0, 1000), 10).play_state == PlayState.PLAYING


@pytest.mark.parametrize(
    ("repeat", "current", "expected"),
    [(OFF, 0, 1), (OFF, 2, None), (ONE, 2, None), (ALL, 2, 0), (OFF, None, 0)],
)
def test_next_position(repeat: RepeatMode, current: int | None, expected: int | None) -> None:
    assert rules.next_position(3, current, repeat) == expected


@pytest.mark.parametrize(
    ("repeat", "current", "expected"),
    [(OFF, 0, None), (ONE, 0, None), (ALL, 0, 2), (OFF, 2, 1), (ALL, 1, 0)],
)
def test_prev_position(repeat: RepeatMode, current: int, expected: int | None) -> None:
    assert rules.prev_position(3, current, repeat) == expected


@pytest.mark.parametrize(
    ("repeat", "current", "expected"),
    [(OFF, 2, None), (ONE, 2, 2), (ALL, 2, 0), (OFF, 0, 1), (ONE, 0, 0)],
)
def test_ended_position(repeat: RepeatMode, current: int, expected: int | None) -> None:
    assert rules.ended_position(3, current, repeat) == expected


def test_actions_grey_out_next_at_the_end_unless_repeat_all() -> None:
    def at_end(repeat: RepeatMode) -> bool:
        return rules.allowed_actions(has_track=True, playing=True, length=3, current=2, repeat=repeat).next

    assert (at_end(OFF), at_end(ONE), at_end(ALL)) == (False, False, True)
    empty = rules.allowed_actions(has_track=False, playing=False, length=0, current=None, repeat=OFF)
    assert not any(empty.model_dump().values())


def test_prev_restarts_after_three_seconds() -> None:
    assert rules.prev_restarts(3001) and not rules.prev_restarts(3000)


def test_shuffle_keeps_the_current_item_first_and_every_item_once() -> None:
    items = [uuid.uuid4() for _ in range(20)]
    order = rules.shuffle_order(items, items[7], random.Random(1))
    assert order[0] == items[7]
    assert sorted(order) == sorted(items)
    assert order != [items[7], *items[:7], *items[8:]]  # it did shuffle (seeded)


def test_insert_shuffled_next_goes_right_after_current_and_end_goes_after_it() -> None:
    order = [uuid.uuid4() for _ in range(6)]
    new = [uuid.uuid4(), uuid.uuid4()]
    nxt = rules.insert_shuffled(order, new, 2, random.Random(3), play_next=True)
    assert nxt[3:5] == new and nxt[:3] == order[:3]
    later = rules.insert_shuffled(order, new, 2, random.Random(3), play_next=False)
    assert later[:3] == order[:3]
    assert sorted(later) == sorted(order + new)
    assert later.index(new[0]) < later.index(new[1])
    assert [x for x in later if x not in new] == order


@pytest.mark.parametrize(
    ("duration_s", "threshold_s"),
    [(29, None), (30, 15), (40, 20), (480, 240), (600, 240), (3600, 240)],
)
def test_listen_threshold(duration_s: int, threshold_s: int | None) -> None:
    expected = None if threshold_s is None else threshold_s * 1000
    assert rules.listen_threshold_ms(duration_s * 1000) == expected


def test_listened_time_counts_real_play_time_not_seeks() -> None:
    tl = playing(0, since=0, duration=40_000)
    assert rules.accrue_listened(0, tl, 5_000) == 5_000
    jumped = rules.seek(tl, 1_000, 30_000)  # a seek to 75% after one second
    listened = rules.accrue_listened(1_000, jumped, 2_000)
    assert listened == 2_000 and not rules.counts_as_listen(listened, 40_000)
    # Time past the end of the track does not count either.
    assert rules.accrue_listened(0, playing(39_000, since=0, duration=40_000), 60_000) == 1_000


def test_vanished_speaker_pauses_at_its_last_heartbeat() -> None:
    tl = playing(10_000, since=0)
    paused = rules.vanished_speaker_pause(tl, speaker_last_seen_ms=4_000, now_ms=50_000)
    assert (paused.play_state, paused.position_ms) == (PlayState.PAUSED, 14_000)
    # A heartbeat older than the last change: pause where that change left it.
    assert rules.vanished_speaker_pause(playing(10_000, since=8_000), 2_000, 9_000).position_ms == 10_000


def test_stale_reset_keeps_stopped_stopped() -> None:
    assert rules.stale_reset(playing(5000), 10).play_state == PlayState.PAUSED
    assert rules.stale_reset(Timeline(5, PlayState.STOPPED, 0, 10), 10).play_state == PlayState.STOPPED
    assert rules.stale_reset(playing(5000), 10).position_ms == 0


def test_presence_online_within_the_window_and_until_a_leave_grace_ends() -> None:
    presence = rules.Presence(window_ms=30_000, leave_grace_ms=5_000)
    assert presence.online(100_000, None, 130_000)
    assert presence.last_heard_ms(100_000, None, 130_001) == 100_000
    # Leaving: still online (a reload) until the grace ends, then gone since it left.
    assert presence.online(100_000, 100_000, 104_999)
    assert presence.last_heard_ms(100_000, 100_000, 105_000) == 100_000
    assert presence.last_heard_ms(None, None, 7) == 7  # no such device: gone now
