"""The public session snapshot (DESIGN.md, Session) built from the row and its parts."""

from __future__ import annotations

from us_common.timeline import LastFailure, PlayState, RepeatMode, SessionSnapshot
from us_control.library.repository import to_public
from us_control.models import Track
from us_control.playback import rules
from us_control.playback.repository import SessionParts
from us_control.playback.state import SessionRow


def build_snapshot(
    state: SessionRow,
    parts: SessionParts,
    track: Track | None,
    now_ms: int | None = None,
    timeline: rules.Timeline | None = None,
    speaker_online: bool = False,
) -> SessionSnapshot:
    """The snapshot with ``position_ms`` projected to ``now_ms`` (the shared clock); ``timeline``
    replaces the row's own (a view that is shown, not stored)."""
    now = parts.now_ms if now_ms is None else now_ms
    if timeline is None:
        timeline = rules.Timeline(
            state.position_ms,
            PlayState(state.play_state),
            state.last_update_ms,
            track.duration_ms if track else None,
        )
    play_state = timeline.play_state
    order_position = parts.item_shuffle_idx if state.shuffle else parts.item_idx
    return SessionSnapshot(
        session_uuid=state.session_uuid,
        user_uuid=state.user_uuid,
        revision=state.revision,
        active_device_uuid=state.active_device_uuid,
        track_uuid=state.track_uuid,
        position_ms=timeline.at(now),
        play_state=play_state,
        shuffle=state.shuffle,
        repeat_mode=RepeatMode(state.repeat_mode),
        volume_percent=state.volume_percent,
        actions=rules.allowed_actions(
            has_track=track is not None,
            playing=play_state == PlayState.PLAYING,
            length=parts.queue_length,
            current=order_position,
            repeat=RepeatMode(state.repeat_mode),
        ),
        queue_position=parts.item_idx,
        queue_length=parts.queue_length,
        updated_at=state.updated_at,
        server_time_ms=now,
        track=to_public(track, parts.liked) if track else None,
        speaker_online=speaker_online,
        last_failure=LastFailure.model_validate(state.last_failure) if state.last_failure else None,
    )
