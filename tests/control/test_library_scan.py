"""``usctl library scan|grant|list`` as a real process against the run's Postgres, checked
through the API (nginx → gunicorn) and, for stored paths, with a read-only query.

Each test that scans builds its own folder under the music root and names its own library, so
the shared "Library" (scanned by the ``stack`` fixture) is never disturbed.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
from mutagen.flac import FLAC
from sqlalchemy.engine import make_url

from devtools.flacgen import tiny_png
from devtools.stack import Stack
from tests.conftest import new_username
from tests.control.catalog_support import all_tracks, db_rows, flac, music_root, new_folder, scan, user_of
from tests.support import TEST_LIBRARY, UserClient
from us_control.library.scan_repository import SCAN_LOCK_KEY


def counts(summary: dict[str, Any]) -> dict[str, int]:
    keys = ("scanned", "added", "updated", "unchanged", "unavailable", "skipped")
    return {key: summary[key] for key in keys}


def skipped_lines(stderr: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "scan_skipped"]


# --- the shared generated library ------------------------------------------------------------


def test_scan_of_generated_library_yields_its_albums_tracks_tags_and_durations(
    stack: Stack, user: UserClient
) -> None:
    tracks = all_tracks(user)
    assert len(tracks) == len(TEST_LIBRARY)
    for expected in TEST_LIBRARY:
        track = tracks[expected.title]
        assert track["artist"] == expected.artist
        assert track["album"] == expected.album
        assert track["album_artist"] == expected.artist
        assert (track["track_number"], track["disc_number"]) == (expected.track_number, expected.disc_number)
        assert track["duration_ms"] == round(expected.duration_s * 1000)
        assert track["available"] is True
    albums = {a["title"]: a for a in user.get_ok("/albums")["items"]}
    assert {title: (a["artist"], a["year"], a["track_count"]) for title, a in albums.items()} == {
        "First Light": ("Alpha", 2020, 4),
        "Short Forms": ("Beta", 2020, 2),
        "Ünïcode Ålbum": ("Gamma", 2020, 1),
    }
    # CD2 lives in its own folder and sorts first by name on disk; the album still plays disc 1 first.
    first_light = user.get_ok(f"/albums/{albums['First Light']['album_uuid']}")
    assert [t["title"] for t in first_light["tracks"]] == ["Dawn", "Noon", "Evening", "Dusk"]
    stored = db_rows(
        stack,
        "SELECT rel_path, sample_rate, has_cover FROM track t JOIN library l USING (library_uuid) "
        "WHERE l.name = 'Library'",
    )
    by_path = {row["rel_path"]: row for row in stored}
    assert set(by_path) == {f"Library/{t.rel_path}" for t in TEST_LIBRARY}
    assert by_path["Library/Gamma/Ünïcode Ålbum/01 Señal.flac"]["sample_rate"] == 44100
    assert by_path["Library/Beta/Short Forms/02 Long Walk.flac"]["sample_rate"] == 8000
    assert by_path["Library/Alpha/First Light/CD2/01 Dusk.flac"]["has_cover"] is True
    assert by_path["Library/Beta/Short Forms/01 Blip.flac"]["has_cover"] is False


def test_albums_are_keyed_by_album_artist_and_title_with_fallbacks_for_missing_tags(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    folder, name = new_folder(stack)
    flac(folder / "Comp" / "01 One.flac", "One", artist="X", album="Hits", album_artist="Various Artists")
    flac(folder / "Comp" / "02 Two.flac", "Two", artist="Y", album="Hits", album_artist="Various Artists")
    flac(folder / "Z" / "01 Three.flac", "Three", artist="Z", album="Hits", year=1999)
    flac(folder / "Set" / "01 Four.flac", "Four", album="Set", track_number=1, disc_number=1)
    flac(folder / "Set" / "CD2" / "01 Five.flac", "Five", album="Set", track_number=1)  # no disc tag
    untagged = flac(folder / "Loose" / "07 Bare Song.flac", "ignored")
    bare = FLAC(str(untagged))
    bare.delete()
    bare.save()
    assert counts(scan(stack, folder, name)) == {
        "scanned": 6,
        "added": 6,
        "updated": 0,
        "unchanged": 0,
        "unavailable": 0,
        "skipped": 0,
    }
    owner = user_of(make_user, stack, name)
    albums = {(a["artist"], a["title"]): a for a in owner.get_ok("/albums")["items"]}
    assert set(albums) == {
        ("Various Artists", "Hits"),
        ("Z", "Hits"),
        ("Artist", "Set"),
        ("Unknown Artist", "Unknown Album"),
    }
    assert albums[("Various Artists", "Hits")]["track_count"] == 2
    assert albums[("Z", "Hits")]["year"] == 1999
    assert albums[("Various Artists", "Hits")]["year"] is None
    tracks = all_tracks(owner)
    assert (tracks["Five"]["disc_number"], tracks["Five"]["track_number"]) == (2, 1)
    assert tracks["Bare Song"] | {"track_uuid": None, "album_uuid": None} == {
        "track_uuid": None,
        "album_uuid": None,
        "title": "Bare Song",
        "artist": "Unknown Artist",
        "album": "Unknown Album",
        "album_artist": "Unknown Artist",
        "track_number": 7,
        "disc_number": None,
        "duration_ms": 1000,
        "available": True,
        "liked": False,
        "cover_url": None,
    }
    album_set = owner.get_ok(f"/albums/{albums[('Artist', 'Set')]['album_uuid']}")
    assert [t["title"] for t in album_set["tracks"]] == ["Four", "Five"]


def test_rel_paths_are_relative_to_the_music_root_and_keep_unicode_names(stack: Stack) -> None:
    folder, name = new_folder(stack)
    flac(folder / "Ålbum ñ" / "01 Ça va.flac", "Ça va")
    scan(stack, folder, name)
    rows = db_rows(
        stack,
        "SELECT t.rel_path, l.rel_root FROM track t JOIN library l USING (library_uuid) WHERE l.name = $1",
        name,
    )
    assert [(r["rel_root"], r["rel_path"]) for r in rows] == [
        (folder.name, f"{folder.name}/Ålbum ñ/01 Ça va.flac")
    ]
    assert (music_root(stack) / rows[0]["rel_path"]).is_file()


# --- incremental rescans ---------------------------------------------------------------------


def test_rescan_after_touching_one_file_rereads_only_that_file(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    folder, name = new_folder(stack)
    paths = [flac(folder / f"0{n} Song {n}.flac", f"Song {n}", track_number=n) for n in (1, 2, 3)]
    assert counts(scan(stack, folder, name))["added"] == 3
    assert counts(scan(stack, folder, name)) == {
        "scanned": 3,
        "added": 0,
        "updated": 0,
        "unchanged": 3,
        "unavailable": 0,
        "skipped": 0,
    }
    owner = user_of(make_user, stack, name)
    before = all_tracks(owner)

    flac(paths[1], "Song 2 (remastered)", track_number=2, frequency_hz=330.0)
    assert counts(scan(stack, folder, name)) == {
        "scanned": 3,
        "added": 0,
        "updated": 1,
        "unchanged": 2,
        "unavailable": 0,
        "skipped": 0,
    }
    after = all_tracks(owner)
    assert set(after) == {"Song 1", "Song 2 (remastered)", "Song 3"}
    assert after["Song 2 (remastered)"]["track_uuid"] == before["Song 2"]["track_uuid"]

    # Unchanged (size, mtime) means unopened: garbage with the same size and mtime goes unnoticed.
    stat = paths[2].stat()
    paths[2].write_bytes(b"\x00" * stat.st_size)
    os.utime(paths[2], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert counts(scan(stack, folder, name))["unchanged"] == 3
    assert all_tracks(owner)["Song 3"]["available"] is True


def test_removed_file_becomes_unavailable_keeps_its_uuid_and_comes_back(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    folder, name = new_folder(stack)
    keep = flac(folder / "01 Keep.flac", "Keep", track_number=1)
    gone = flac(folder / "02 Gone.flac", "Gone", track_number=2)
    scan(stack, folder, name)
    owner = user_of(make_user, stack, name)
    gone_uuid = all_tracks(owner)["Gone"]["track_uuid"]
    data = gone.read_bytes()
    gone.unlink()

    summary = counts(scan(stack, folder, name))
    assert summary == {"scanned": 1, "added": 0, "updated": 0, "unchanged": 1, "unavailable": 1, "skipped": 0}
    track = owner.get_ok(f"/tracks/{gone_uuid}")
    assert track["available"] is False and track["title"] == "Gone"
    album = owner.get_ok(f"/albums/{track['album_uuid']}")
    assert [(t["title"], t["available"]) for t in album["tracks"]] == [("Keep", True), ("Gone", False)]
    assert keep.exists()

    gone.write_bytes(data)
    summary = counts(scan(stack, folder, name))
    assert (summary["updated"], summary["unavailable"]) == (1, 0)
    assert owner.get_ok(f"/tracks/{gone_uuid}")["available"] is True


def test_a_library_whose_folder_vanished_rescans_to_all_unavailable(stack: Stack) -> None:
    folder, name = new_folder(stack)
    flac(folder / "a.flac", "A")
    flac(folder / "b.flac", "B")
    scan(stack, folder, name)
    shutil.rmtree(folder)
    assert counts(scan(stack, folder, name)) == {
        "scanned": 0,
        "added": 0,
        "updated": 0,
        "unchanged": 0,
        "unavailable": 2,
        "skipped": 0,
    }
    rows = db_rows(
        stack, "SELECT t.available FROM track t JOIN library l USING (library_uuid) WHERE l.name = $1", name
    )
    assert [r["available"] for r in rows] == [False, False]


def test_corrupt_flac_is_skipped_with_a_logged_reason_and_the_scan_continues(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    folder, name = new_folder(stack)
    flac(folder / "a Good.flac", "Good A")
    (folder / "b Broken.flac").write_bytes(b"this is not audio" * 64)
    later = flac(folder / "c Good.flac", "Good C")
    (folder / "notes.txt").write_text("not music, not counted")
    result = stack.usctl("library", "scan", str(folder), "--name", name, "--json", check=False)
    assert result.returncode == 0, result.stderr
    assert counts(json.loads(result.stdout)) == {
        "scanned": 3,
        "added": 2,
        "updated": 0,
        "unchanged": 0,
        "unavailable": 0,
        "skipped": 1,
    }
    [skip] = skipped_lines(result.stderr)
    assert skip["rel_path"] == f"{folder.name}/b Broken.flac"
    assert "not a FLAC file" in skip["reason"]
    assert str(music_root(stack)) not in result.stderr

    # A known file that turns unreadable is skipped and its track becomes unavailable.
    later.write_bytes(b"fLaC" + b"\xff" * 64)
    again = stack.usctl("library", "scan", str(folder), "--name", name, "--json", check=False)
    assert again.returncode == 0, again.stderr
    summary = counts(json.loads(again.stdout))
    assert (summary["skipped"], summary["unavailable"], summary["unchanged"]) == (2, 1, 1)
    assert {s["rel_path"] for s in skipped_lines(again.stderr)} == {
        f"{folder.name}/b Broken.flac",
        f"{folder.name}/c Good.flac",
    }
    owner = user_of(make_user, stack, name)
    assert {t["title"]: t["available"] for t in all_tracks(owner).values()} == {
        "Good A": True,
        "Good C": False,
    }


def test_symlinks_leaving_the_music_root_are_skipped(
    stack: Stack, make_user: Callable[..., UserClient], tmp_path: Path
) -> None:
    folder, name = new_folder(stack)
    outside = flac(tmp_path / "outside.flac", "Outside")
    (tmp_path / "outdir").mkdir()
    flac(tmp_path / "outdir" / "deep.flac", "Deep Outside")
    inside_elsewhere = flac(music_root(stack) / f"other-{uuid.uuid4().hex[:8]}" / "in.flac", "Inside Root")
    (folder / "escape.flac").symlink_to(outside)
    (folder / "escape-dir").symlink_to(tmp_path / "outdir")
    (folder / "inside.flac").symlink_to(inside_elsewhere)
    (folder / "loop").symlink_to(folder)
    result = stack.usctl("library", "scan", str(folder), "--name", name, "--json", check=False)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["skipped"]) == (1, 3)
    reasons = {s["rel_path"].rsplit("/", 1)[1]: s["reason"] for s in skipped_lines(result.stderr)}
    assert reasons["escape.flac"] == "symlink leads outside the music root"
    assert reasons["escape-dir"] == "symlink leads outside the music root"
    assert "loop" in reasons["loop"]
    owner = user_of(make_user, stack, name)
    assert set(all_tracks(owner)) == {"Inside Root"}


def test_a_big_scan_reads_on_every_core_and_skips_huge_or_truncated_files(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    folder, name = new_folder(stack)
    template = flac(folder / "000.flac", "Song 0", album="Many", track_number=1)
    data = template.read_bytes()
    for n in range(1, 300):
        copy = folder / f"{n:03d}.flac"
        copy.write_bytes(data)
        tags = FLAC(str(copy))
        tags["title"], tags["tracknumber"] = f"Song {n}", str(n + 1)
        tags.save()
    huge = flac(folder / "huge.flac", "Huge")
    tags = FLAC(str(huge))
    tags["comment"] = "x" * (5 * 1024 * 1024)
    tags.save()
    (folder / "truncated.flac").write_bytes(data[:60])
    result = stack.usctl("library", "scan", str(folder), "--name", name, "--json", check=False)
    assert result.returncode == 0, result.stderr
    assert counts(json.loads(result.stdout)) == {
        "scanned": 302,
        "added": 300,
        "updated": 0,
        "unchanged": 0,
        "unavailable": 0,
        "skipped": 2,
    }
    reasons = {s["rel_path"].rsplit("/", 1)[1]: s["reason"] for s in skipped_lines(result.stderr)}
    assert reasons["huge.flac"] == "tags larger than 4 MiB"
    assert "corrupt FLAC" in reasons["truncated.flac"]
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    reading = next(line for line in logs if line.get("event") == "scan_reading")
    cores = len(os.sched_getaffinity(0))
    assert (reading["files"], reading["processes"]) == (302, cores if cores > 1 else 0)
    owner = user_of(make_user, stack, name)
    page = owner.get_ok("/tracks", params={"limit": 3, "offset": 297})
    assert [t["title"] for t in page["items"]] == ["Song 297", "Song 298", "Song 299"]
    assert page["total"] == 300


# --- refusals --------------------------------------------------------------------------------


def test_path_outside_the_music_root_is_refused(stack: Stack, tmp_path: Path) -> None:
    flac(tmp_path / "x.flac", "X")
    before = stack.usctl("library", "list", "--json").stdout
    for path in (tmp_path, music_root(stack) / ".." / tmp_path.name, Path("/")):
        result = stack.usctl(
            "library", "scan", str(path), "--name", f"no-{uuid.uuid4().hex[:6]}", check=False
        )
        assert result.returncode == 2, result
        assert "outside the music root" in result.stderr
        assert result.stdout == ""
    missing = stack.usctl("library", "scan", str(music_root(stack) / "no-such-folder"), check=False)
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
    assert stack.usctl("library", "list", "--json").stdout == before


def test_default_path_is_the_music_root_and_overlapping_libraries_are_refused(stack: Stack) -> None:
    # Without PATH the scan targets the music root, which holds the shared "Library" already.
    whole = stack.usctl("library", "scan", check=False)
    assert whole.returncode == 2
    assert stack.env["US_MUSIC_ROOT"] in whole.stderr and "overlaps library" in whole.stderr
    inner = stack.usctl("library", "scan", str(music_root(stack) / "Library" / "Alpha"), check=False)
    assert inner.returncode == 2 and "overlaps library 'Library'" in inner.stderr


def test_rescan_with_a_new_name_renames_and_a_taken_name_is_refused(stack: Stack) -> None:
    folder, name = new_folder(stack)
    flac(folder / "a.flac", "A")
    first = scan(stack, folder, name)
    assert scan(stack, folder)["name"] == name  # a rescan without --name keeps the name
    renamed = scan(stack, folder, name + " renamed")
    assert (renamed["library_uuid"], renamed["renamed_from"]) == (first["library_uuid"], name)
    other, _ = new_folder(stack)
    taken = stack.usctl("library", "scan", str(other), "--name", "Library", check=False)
    assert taken.returncode == 2 and "already exists" in taken.stderr


def test_a_second_scan_while_one_runs_is_refused(stack: Stack) -> None:
    folder, name = new_folder(stack)
    flac(folder / "a.flac", "A")
    dsn = make_url(stack.env["US_DATABASE_URL"]).set(drivername="postgresql").render_as_string(False)

    async def scan_while_locked() -> subprocess.CompletedProcess[str]:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                # The same transaction-scoped lock a running scan holds.
                assert await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", SCAN_LOCK_KEY)
                return await asyncio.to_thread(
                    stack.usctl, "library", "scan", str(folder), "--name", name, check=False
                )
        finally:
            await conn.close()

    refused = asyncio.run(scan_while_locked())
    assert refused.returncode == 2 and "another library scan is running" in refused.stderr
    assert scan(stack, folder, name)["added"] == 1


# --- grants and listing ----------------------------------------------------------------------


def test_grant_by_name_and_by_uuid(stack: Stack, make_user: Callable[..., UserClient]) -> None:
    folder, name = new_folder(stack)
    flac(folder / "01 Granted.flac", "Granted Song")
    library_uuid = scan(stack, folder, name)["library_uuid"]
    by_name, by_uuid, nobody = make_user(grant=False), make_user(grant=False), make_user(grant=False)
    granted = stack.usctl("library", "grant", by_name.username, name)
    assert granted.stdout.startswith("granted:")
    stack.usctl("library", "grant", by_uuid.username, library_uuid)
    for owner in (by_name, by_uuid):
        assert set(all_tracks(owner)) == {"Granted Song"}
    assert nobody.get_ok("/tracks")["total"] == 0
    again = stack.usctl("library", "grant", by_name.username, library_uuid)
    assert again.returncode == 0 and again.stdout.startswith("already granted")
    listed = {lib["name"]: lib for lib in json.loads(stack.usctl("library", "list", "--json").stdout)}
    assert listed[name]["users"] == sorted([by_name.username, by_uuid.username])


def test_grant_of_unknown_library_or_user_is_a_clear_error(stack: Stack, user: UserClient) -> None:
    unknown_library = stack.usctl("library", "grant", user.username, "No Such Library", check=False)
    assert unknown_library.returncode == 2 and "no library named 'No Such Library'" in unknown_library.stderr
    unknown_uuid = stack.usctl("library", "grant", user.username, str(uuid.uuid4()), check=False)
    assert unknown_uuid.returncode == 2 and "no library" in unknown_uuid.stderr
    unknown_user = stack.usctl("library", "grant", new_username("ghost"), "Library", check=False)
    assert unknown_user.returncode == 2 and "no user named" in unknown_user.stderr


def test_library_list_json_reports_folders_counts_and_users(stack: Stack, user: UserClient) -> None:
    listed = {lib["name"]: lib for lib in json.loads(stack.usctl("library", "list", "--json").stdout)}
    library = listed["Library"]
    assert library["rel_root"] == "Library"
    assert (library["track_count"], library["unavailable_count"], library["album_count"]) == (7, 0, 3)
    assert user.username in library["users"]
    assert library["last_scan_at"] is not None
    text = stack.usctl("library", "list").stdout
    assert library["library_uuid"] in text and "tracks=7" in text


# --- progress --------------------------------------------------------------------------------


def test_progress_is_drawn_on_a_terminal_only(stack: Stack) -> None:
    folder, name = new_folder(stack)
    flac(folder / "a.flac", "A")
    piped = stack.usctl("library", "scan", str(folder), "--name", name, check=False)
    assert piped.returncode == 0 and "\r" not in piped.stderr
    assert piped.stdout.strip().endswith("scanned=1 added=1 updated=0 unchanged=0 unavailable=0 skipped=0")

    main, replica = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("US_")} | stack.env
    usctl = str(Path(sys.executable).with_name("usctl"))
    proc = subprocess.run(
        [usctl, "library", "scan", str(folder), "--name", name],
        env=env,
        stdout=subprocess.PIPE,
        stderr=replica,
        text=True,
        check=False,
    )
    os.close(replica)
    terminal = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO once the terminal's other end is closed and drained
            break
        if not chunk:
            break
        terminal += chunk
    os.close(main)
    assert proc.returncode == 0
    assert b"\r\x1b[Kscanning " + name.encode() + b": scanned=1" in terminal
    assert b"] 1/1 " in terminal and b" files/s, " in terminal  # the bar, the rate, the time left
    assert "unchanged=1" in proc.stdout


def test_cover_follows_embedded_pictures_on_rescan(stack: Stack, make_user: Callable[..., UserClient]) -> None:
    folder, name = new_folder(stack)
    song = flac(folder / "a.flac", "Covered Later")
    scan(stack, folder, name)
    owner = user_of(make_user, stack, name)
    assert all_tracks(owner)["Covered Later"]["cover_url"] is None
    flac(song, "Covered Later", cover=tiny_png((1, 2, 3)))
    assert scan(stack, folder, name)["updated"] == 1
    url = all_tracks(owner)["Covered Later"]["cover_url"]
    cover = owner.get(url)
    assert cover.status_code == 200 and cover.headers["content-type"] == "image/jpeg"
    flac(song, "Covered Later")
    scan(stack, folder, name)
    assert all_tracks(owner)["Covered Later"]["cover_url"] is None
