"""``usctl listens export USER`` and ``usctl listens import USER FILE`` (ListenBrainz JSON lines).

Export writes one listen per line, oldest first, exactly as the sender submits it
(``{"listened_at": <start, epoch s>, "track_metadata": {...}}``): a file ListenBrainz's
``import`` takes, and what this command imports back.

Import backfills the user's history from a ListenBrainz export (JSON lines, the format of
ListenBrainz's archive ``listens/<year>/<month>.jsonl``, or the older single JSON array).
A listen is matched to a track the user can see by artist and title (case-insensitive; the
release name breaks ties); listens of tracks not in the library cannot be part of this server's
history and are counted as ``unmatched`` (``--unmatched FILE`` keeps those lines). A listen
the user already has (same track, same start second) or that appears twice is a ``duplicate``
and ignored, so importing the same file twice changes nothing. An export carries no played
time: an imported listen counts as played in full. Imported listens came from elsewhere and are
not sent to the user's scrobble targets unless ``--deliver`` asks for it (to backfill one).
All or nothing: one malformed line rejects the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from us_control.auth import repository as users
from us_control.cli import CliError, run_in_db
from us_control.models import Listen, Track
from us_control.scrobble import outbox
from us_control.scrobble import repository as repo
from us_control.scrobble.listen_payload import listen_json, listen_started_at_s, track_metadata

# ListenBrainz refuses listens before this (listenbrainz.listenstore.LISTEN_MINIMUM_TS).
LISTEN_MINIMUM_TS = 1033430400


def _open(path: str) -> IO[str]:
    return sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115


def read_export(source: IO[str]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, raw line, listen) of a JSON-lines or JSON-array export."""
    text = source.read()
    if text.lstrip().startswith("["):
        try:
            entries = json.loads(text)
        except ValueError as exc:
            raise CliError(f"not a JSON array of listens: {exc}") from None
        for number, entry in enumerate(entries if isinstance(entries, list) else [None], start=1):
            yield number, json.dumps(entry, ensure_ascii=False), _listen(number, entry)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CliError(f"line {number}: not JSON ({exc.msg})") from None
            yield number, line, _listen(number, entry)


def _listen(number: int, entry: Any) -> dict[str, Any]:
    """A listen of the export, checked like ListenBrainz checks a submission."""
    if not isinstance(entry, dict) or not isinstance(entry.get("track_metadata"), dict):
        raise CliError(f"line {number}: a listen needs track_metadata")
    listened_at = entry.get("listened_at")
    if isinstance(listened_at, str) and listened_at.isdigit():
        listened_at = int(listened_at)
    if not isinstance(listened_at, int) or isinstance(listened_at, bool) or listened_at < LISTEN_MINIMUM_TS:
        raise CliError(f"line {number}: listened_at must be epoch seconds after 2002-10-01")
    metadata = entry["track_metadata"]
    for key in ("artist_name", "track_name"):
        if not isinstance(metadata.get(key), str) or not metadata[key].strip():
            raise CliError(f"line {number}: track_metadata.{key} must be a non-empty string")
    return {"listened_at": listened_at, "track_metadata": metadata}


def _key(artist: str, title: str) -> tuple[str, str]:
    return artist.strip().casefold(), title.strip().casefold()


def _match(tracks: dict[tuple[str, str], list[Track]], metadata: dict[str, Any]) -> Track | None:
    candidates = tracks.get(_key(metadata["artist_name"], metadata["track_name"]), [])
    release = str(metadata.get("release_name") or "").strip().casefold()
    for track in candidates:
        if release and track.album_title.strip().casefold() == release:
            return track
    return candidates[0] if candidates else None


def cmd_listens_export(args: argparse.Namespace) -> int:
    async def work(db: AsyncSession) -> int:
        user = await users.get_by_username(db, args.username)
        if user is None:
            raise CliError(f"no user {args.username!r}")
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        with out:
            for listen, track in await repo.listens_with_tracks(db, user.user_uuid):
                line = listen_json(listen_started_at_s(listen), track_metadata(track))
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return 0

    return run_in_db(work)


def cmd_listens_import(args: argparse.Namespace) -> int:
    with _open(args.file) as source:
        entries = list(read_export(source))

    async def work(db: AsyncSession) -> int:
        user = await users.get_by_username(db, args.username)
        if user is None:
            raise CliError(f"no user {args.username!r}")
        tracks: dict[tuple[str, str], list[Track]] = {}
        for track in await repo.granted_tracks(db, user.user_uuid):
            tracks.setdefault(_key(track.artist, track.title), []).append(track)
        seen = await repo.listen_starts(db, user.user_uuid)
        imported = duplicates = 0
        unmatched: list[str] = []
        for _, raw, entry in entries:
            matched = _match(tracks, entry["track_metadata"])
            if matched is None:
                unmatched.append(raw)
                continue
            if (matched.track_uuid, entry["listened_at"]) in seen:
                duplicates += 1
                continue
            seen.add((matched.track_uuid, entry["listened_at"]))
            listen = Listen(
                user_uuid=user.user_uuid,
                track_uuid=matched.track_uuid,
                played_ms=matched.duration_ms,
                # Stored as "counted when it ended", so its start is the exported listened_at.
                listened_at=datetime.fromtimestamp(entry["listened_at"] + matched.duration_ms / 1000, UTC),
            )
            db.add(listen)
            if args.deliver:
                outbox.relay_listen(db, listen, matched)
            imported += 1
        await db.flush()
        if args.unmatched:
            with open(args.unmatched, "w", encoding="utf-8") as out:
                out.writelines(line + "\n" for line in unmatched)
        summary = {
            "read": len(entries),
            "imported": imported,
            "duplicates": duplicates,
            "unmatched": len(unmatched),
            "delivered_to_targets": bool(args.deliver),
        }
        sys.stdout.write(json.dumps(summary) + "\n")
        return 0

    return run_in_db(work)


def add_listens_commands(sub: Any) -> None:
    listens = sub.add_parser("listens", help="export or import a user's listens (ListenBrainz JSON lines)")
    actions = listens.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write the user's listens as ListenBrainz JSON lines")
    export.add_argument("username")
    export.add_argument("--output", "-o", default="-", help="a file (default: stdout)")
    export.set_defaults(handler=cmd_listens_export)
    imp = actions.add_parser("import", help="backfill the user's history from a ListenBrainz export")
    imp.add_argument("username")
    imp.add_argument("file", help="JSON lines (or a JSON array) of listens, or - for stdin")
    imp.add_argument("--deliver", action="store_true", help="also send them to the user's scrobble targets")
    imp.add_argument("--unmatched", metavar="FILE", help="write the listens of unknown tracks to FILE")
    imp.set_defaults(handler=cmd_listens_import)
