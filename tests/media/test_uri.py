"""The verifier's pure parts: strict URI parsing, catalog path rules, claims (no stack needed)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from us_common.jwt import TokenCodec, TokenError, TokenKind
from us_media.paths import RefusedPath, check_rel_path, resolve_in_root
from us_media.uri import BadMediaPath, BadMediaQuery, parse_media_uri
from us_media.verifier import BadClaims, _subject_of_expired, media_claims

TRACK = "0b7c6f1e-2d3a-4c5b-8e9f-a1b2c3d4e5f6"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
KEY = "k" * 8 + "0123456789abcdef0123456789abcdef"


def test_the_canonical_uri_parses() -> None:
    parsed = parse_media_uri(f"/media/tracks/{TRACK}?token={TOKEN}")
    assert (parsed.track_uuid, parsed.token) == (TRACK, TOKEN)


@pytest.mark.parametrize(
    "path",
    [
        f"/media/tracks/{TRACK}/",
        f"/media/tracks/{TRACK}/x",
        f"/media/tracks/{TRACK}%2f",
        f"/media/tracks/{TRACK.upper()}",
        f"/media/tracks/%2e%2e/{TRACK}",
        f"/media/tracks/../{TRACK}",
        f"/media//tracks/{TRACK}",
        f"/media/tracks//{TRACK}",
        f"//media/tracks/{TRACK}",
        f"/media/tracks/{TRACK[:-1]}",
        f"/media/tracks/{TRACK}0",
        "/media/tracks/",
        "/media/tracks/..%2f..%2fetc%2fpasswd",
        "",
        f"http://evil/media/tracks/{TRACK}",
    ],
)
def test_a_path_that_is_not_exactly_a_track_is_refused(path: str) -> None:
    with pytest.raises(BadMediaPath):
        parse_media_uri(f"{path}?token={TOKEN}")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?",
        "?token=",
        "?token",
        f"?tok={TOKEN}",
        f"?token={TOKEN}&x=1",
        f"?x=1&token={TOKEN}",
        f"?token={TOKEN}&token={TOKEN}",
        f"?token={TOKEN}%2e",
        "?token=a.b",
        f"?token={TOKEN}#frag",
    ],
)
def test_a_query_that_is_not_exactly_one_token_is_refused(query: str) -> None:
    with pytest.raises(BadMediaQuery):
        parse_media_uri(f"/media/tracks/{TRACK}{query}")


@pytest.mark.parametrize(
    "rel_path",
    [
        "",
        "/etc/passwd",
        "a/../b",
        "..",
        "a/..",
        "a//b",
        "a/./b",
        "./a",
        "a/",
        "a\nb",
        "a\x00b",
        "a\x7fb",
        "...flac",
    ],
)
def test_unsafe_catalog_paths_are_refused(rel_path: str) -> None:
    with pytest.raises(RefusedPath):
        check_rel_path(rel_path)


def test_resolve_in_root_follows_symlinks_and_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "Album").mkdir(parents=True)
    (root / "Album" / "01 Señal.flac").write_bytes(b"fLaC")
    (root / "inside.flac").symlink_to(root / "Album" / "01 Señal.flac")
    (root / "outside.flac").symlink_to("/etc/passwd")
    (root / "etc").symlink_to("/etc")
    assert resolve_in_root(root, "Album/01 Señal.flac") == str(root / "Album" / "01 Señal.flac")
    assert resolve_in_root(root, "inside.flac") == str(root / "Album" / "01 Señal.flac")
    assert resolve_in_root(root, "missing.flac") == str(root / "missing.flac")  # nginx's 404
    for refused, reason in (
        ("outside.flac", "outside_root"),
        ("etc/passwd", "outside_root"),
        ("Album", "not_a_file"),
    ):
        with pytest.raises(RefusedPath) as info:
            resolve_in_root(root, refused)
        assert info.value.reason == reason


def test_a_root_prefix_is_not_inside(tmp_path: Path) -> None:
    root = tmp_path / "music"
    root.mkdir()
    sibling = tmp_path / "music-other"
    sibling.mkdir()
    (sibling / "x.flac").write_bytes(b"fLaC")
    (root / "x.flac").symlink_to(sibling / "x.flac")
    with pytest.raises(RefusedPath):
        resolve_in_root(root, "x.flac")


def test_claims_must_be_uuids_and_an_integer_epoch() -> None:
    good = {
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "dev": str(uuid.uuid4()),
        "trk": TRACK,
        "epoch": 3,
    }
    assert media_claims(good).epoch == 3
    for broken in ({"epoch": "3"}, {"epoch": True}, {"sub": "x"}, {"trk": None}, {"dev": 5}):
        with pytest.raises(BadClaims):
            media_claims({**good, **broken})


def test_only_a_validly_signed_expired_token_names_its_user() -> None:
    """Counting expired tokens per user trusts the payload only because the signature was checked
    first (PyJWT verifies the signature before ``exp``); a forged expired token is "bad_signature"."""
    user = str(uuid.uuid4())
    codec = TokenCodec(TokenKind.MEDIA, KEY, "us")
    expired = codec.encode({"sub": user}, ttl_s=10, now=time.time() - 100)
    with pytest.raises(TokenError) as info:
        codec.decode(expired)
    assert info.value.reason == "expired"
    assert _subject_of_expired(expired) == user
    forged = TokenCodec(TokenKind.MEDIA, KEY[::-1], "us").encode(
        {"sub": user}, ttl_s=10, now=time.time() - 100
    )
    with pytest.raises(TokenError) as info:
        codec.decode(forged)
    assert info.value.reason == "bad_signature"
