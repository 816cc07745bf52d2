"""Catalog rows that would lead outside the music root serve nothing (second stack, own root)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from devtools.stack import Stack
from tests.media.conftest import EVIL_REL, Speaker, start_speaker, tracks_by_title
from tests.support import UserClient, sql

OUTSIDE = Path("/etc/passwd")


def add_catalog_row(stack: Stack, like_track: str, rel_path: str) -> str:
    """A track row with ``rel_path`` (the scanner would never store it), copied from another."""
    track_uuid = str(uuid.uuid4())
    sql(
        stack,
        "INSERT INTO track (track_uuid, library_uuid, album_uuid, rel_path, size_bytes, mtime_ns,"
        " duration_ms, sample_rate, title, artist, album_title, album_artist, track_number,"
        " disc_number, has_cover, available)"
        " SELECT $1, library_uuid, album_uuid, $2, size_bytes, mtime_ns, duration_ms, sample_rate,"
        " 'Planted ' || $4, artist, album_title, album_artist, 99, disc_number, false, true"
        " FROM track WHERE track_uuid = $3",
        uuid.UUID(track_uuid),
        rel_path,
        uuid.UUID(like_track),
        track_uuid,
    )
    return track_uuid


def get(stack: Stack, url: str, **kw: object) -> httpx.Response:
    return httpx.get(f"{stack.public_url}{url}", timeout=15, **kw)  # type: ignore[arg-type]


def test_a_file_replaced_by_a_symlink_out_of_the_root_is_not_served(
    aux_stack: Stack, aux_music_root: Path, make_aux_user: Callable[[], UserClient]
) -> None:
    speaker = start_speaker(make_aux_user())
    evil = tracks_by_title(speaker.user)["Replaced"]["track_uuid"]
    path = aux_music_root / "Library" / EVIL_REL
    if not path.is_symlink():
        assert get(aux_stack, speaker.url(evil), headers={"Range": "bytes=0-3"}).content == b"fLaC"
        path.unlink()
        path.symlink_to(OUTSIDE)
    # The catalog still lists it as available: minting works, serving must not.
    response = get(aux_stack, speaker.url(evil))
    assert response.status_code in (403, 404)
    assert b"root:" not in response.content
    # The self-streaming service refuses the same way.
    direct = httpx.get(aux_stack.service_url("media") + speaker.url(evil), timeout=15)
    assert direct.status_code in (403, 404) and b"root:" not in direct.content


def test_a_catalog_row_through_a_symlinked_folder_is_not_served(
    aux_stack: Stack, aux_music_root: Path, make_aux_user: Callable[[], UserClient]
) -> None:
    speaker = start_speaker(make_aux_user())
    link = aux_music_root / "Library" / "Linked"
    if not link.is_symlink():
        link.symlink_to("/etc")
    planted = add_catalog_row(aux_stack, speaker.track["track_uuid"], "Library/Linked/passwd")
    response = get(aux_stack, speaker.url(planted))
    assert response.status_code in (403, 404)
    assert b"root:" not in response.content


def test_catalog_rows_that_climb_or_are_absolute_are_not_served(
    aux_stack: Stack, make_aux_user: Callable[[], UserClient]
) -> None:
    user = make_aux_user()
    speaker: Speaker = start_speaker(user)
    for rel_path in ("Library/../../../../../../etc/passwd", "/etc/passwd", "Library/./../x"):
        planted = add_catalog_row(aux_stack, speaker.track["track_uuid"], rel_path)
        response = get(aux_stack, speaker.url(planted))
        assert response.status_code in (403, 404), rel_path
        assert b"root:" not in response.content


def test_a_track_whose_file_is_gone_is_nginxs_404(
    aux_stack: Stack, make_aux_user: Callable[[], UserClient]
) -> None:
    speaker = start_speaker(make_aux_user())
    planted = add_catalog_row(aux_stack, speaker.track["track_uuid"], f"Library/gone-{uuid.uuid4().hex}.flac")
    response = get(aux_stack, speaker.url(planted))
    assert response.status_code == 404
    assert response.headers.get("cache-control") == "no-store"
