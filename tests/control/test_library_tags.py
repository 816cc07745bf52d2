"""Tag rules of the catalog (``us_control.library.tags``): fallbacks, numbers, years, covers."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.flacgen import tiny_png, write_flac
from us_control.library.tags import (
    UNKNOWN_ALBUM,
    UNKNOWN_ARTIST,
    UnreadableFile,
    clean_text,
    facts_from_tags,
    parse_number,
    parse_year,
    read_cover,
    read_flac,
    title_from_stem,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("3", 3), ("03/12", 3), (" 7 ", 7), ("0", None), ("x", None), ("", None), (None, None), ("99999", None)],
)
def test_parse_number_reads_leading_integer_within_bounds(raw: str | None, expected: int | None) -> None:
    assert parse_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2020", 2020), ("2020-05-01", 2020), ("May 2019", 2019), ("20200", None), ("", None), ("n/a", None)],
)
def test_parse_year_takes_first_four_digit_group(raw: str, expected: int | None) -> None:
    assert parse_year(raw) == expected


def test_title_from_stem_strips_track_number_prefix_but_not_years() -> None:
    assert title_from_stem("01 Dawn") == ("Dawn", 1)
    assert title_from_stem("07. Noon") == ("Noon", 7)
    assert title_from_stem("3 - Dusk") == ("Dusk", 3)
    assert title_from_stem("1979 Song") == ("1979 Song", None)
    assert title_from_stem("Untitled") == ("Untitled", None)


def test_missing_tags_fall_back_to_filename_and_unknown_artist() -> None:
    facts = facts_from_tags(
        {}, file_stem="04 Quiet Room", folder_name="x", duration_s=1.5, sample_rate=48000, has_cover=False
    )
    assert facts.title == "Quiet Room"
    assert facts.track_number == 4
    assert facts.artist == UNKNOWN_ARTIST
    assert facts.album_artist == UNKNOWN_ARTIST
    assert facts.album_title == UNKNOWN_ALBUM
    assert facts.disc_number is None and facts.year is None
    assert (facts.duration_ms, facts.sample_rate) == (1500, 48000)


def test_album_artist_and_artist_fall_back_to_each_other() -> None:
    only_album_artist = facts_from_tags(
        {"albumartist": ["Band"]},
        file_stem="a",
        folder_name="x",
        duration_s=1,
        sample_rate=1,
        has_cover=False,
    )
    assert (only_album_artist.artist, only_album_artist.album_artist) == ("Band", "Band")
    only_artist = facts_from_tags(
        {"artist": ["Solo"]}, file_stem="a", folder_name="x", duration_s=1, sample_rate=1, has_cover=False
    )
    assert (only_artist.artist, only_artist.album_artist) == ("Solo", "Solo")


def test_disc_number_from_cd_folder_only_when_the_tag_is_missing() -> None:
    untagged = facts_from_tags(
        {}, file_stem="a", folder_name="CD2", duration_s=1, sample_rate=1, has_cover=False
    )
    assert untagged.disc_number == 2
    tagged = facts_from_tags(
        {"discnumber": ["3/3"]},
        file_stem="a",
        folder_name="Disc 1",
        duration_s=1,
        sample_rate=1,
        has_cover=False,
    )
    assert tagged.disc_number == 3


def test_multiple_artists_join_and_text_is_nfc_without_control_characters() -> None:
    facts = facts_from_tags(
        {"artist": ["A", "B", "A"], "title": ["Se\u0301n\u0303al\x00 "]},
        file_stem="x",
        folder_name="x",
        duration_s=1,
        sample_rate=1,
        has_cover=False,
    )
    assert facts.artist == "A; B"
    assert facts.title == "Séñal"
    assert clean_text("   ") is None


def test_read_flac_reads_tags_duration_and_cover(tmp_path: Path) -> None:
    path = write_flac(
        tmp_path / "CD2" / "01 Dusk.flac",
        duration_s=2.0,
        title="Dusk",
        artist="Alpha",
        album="First Light",
        track_number=1,
        disc_number=2,
        year=2020,
        cover=tiny_png(),
        sample_rate=8000,
    )
    facts = read_flac(path, "CD2/01 Dusk.flac")
    assert (facts.title, facts.artist, facts.album_title, facts.album_artist) == (
        "Dusk",
        "Alpha",
        "First Light",
        "Alpha",
    )
    assert (facts.track_number, facts.disc_number, facts.year) == (1, 2, 2020)
    assert (facts.duration_ms, facts.sample_rate, facts.has_cover) == (2000, 8000, True)
    cover = read_cover(path, "CD2/01 Dusk.flac")
    assert cover is not None and cover.data == tiny_png() and cover.mime == "image/png"


def test_corrupt_file_is_unreadable_with_a_reason_that_never_names_the_absolute_path(tmp_path: Path) -> None:
    garbage = tmp_path / "bad.flac"
    garbage.write_bytes(b"not a flac at all" * 100)
    with pytest.raises(UnreadableFile) as no_header:
        read_flac(garbage, "lib/bad.flac")
    assert "not a FLAC file" in no_header.value.reason
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(b"fLaC" + b"\x00\x00\xff\xff" + b"\x01" * 40)
    with pytest.raises(UnreadableFile) as corrupt:
        read_flac(truncated, "lib/truncated.flac")
    for reason in (no_header.value.reason, corrupt.value.reason):
        assert str(tmp_path) not in reason
