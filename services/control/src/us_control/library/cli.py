"""``usctl library scan|grant|list``: index folders of the music root, let users see them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from us_common.logging import configure_logging
from us_control.auth import repository as users
from us_control.cli import CliError, run_in_db
from us_control.library import repository as repo
from us_control.library.scanner import ScanProgress, ScanRefused, scan_library
from us_control.models import Library
from us_control.settings import get_settings


def out(line: str) -> None:
    sys.stdout.write(line + "\n")


def cmd_library_scan(args: argparse.Namespace) -> int:
    settings = get_settings()
    # JSON log lines (skipped files and why) go to stderr; stdout keeps the summary.
    configure_logging("usctl", settings.log_level)
    music_root = settings.music_root
    folder = Path(args.path) if args.path else music_root

    async def work(db: AsyncSession) -> int:
        try:
            summary = await scan_library(db, music_root, folder, args.name, ScanProgress(sys.stderr))
        except ScanRefused as exc:
            raise CliError(str(exc)) from None
        if args.json:
            out(json.dumps(summary.as_json()))
        else:
            if summary.renamed_from is not None:
                out(f"renamed library {summary.renamed_from!r} to {summary.name!r}")
            out(summary.line())
        return 0

    return run_in_db(work)


async def find_library(db: AsyncSession, name_or_uuid: str) -> Library:
    """A library by uuid or by name; ``CliError`` when neither matches."""
    try:
        by_uuid = await repo.get_library(db, UUID(name_or_uuid))
    except ValueError:
        by_uuid = None
    library = by_uuid or await repo.get_library_by_name(db, name_or_uuid)
    if library is None:
        raise CliError(f"no library named {name_or_uuid!r} or with that uuid (see `usctl library list`)")
    return library


def cmd_library_grant(args: argparse.Namespace) -> int:
    async def work(db: AsyncSession) -> int:
        user = await users.get_by_username(db, args.username)
        if user is None:
            raise CliError(f"no user named {args.username!r}")
        library = await find_library(db, args.library)
        added = await repo.grant(db, user.user_uuid, library.library_uuid)
        verb = "granted" if added else "already granted"
        out(f"{verb}: {user.username} may use library {library.name!r} ({library.library_uuid})")
        return 0

    return run_in_db(work)


def cmd_library_list(args: argparse.Namespace) -> int:
    async def work(db: AsyncSession) -> int:
        libraries = await repo.list_libraries(db)
        stats = await repo.library_stats(db)
        usernames = await repo.library_usernames(db)
        rows: list[dict[str, Any]] = []
        for library in libraries:
            counts = stats.get(library.library_uuid, repo.LibraryStats(0, 0, 0))
            rows.append(
                {
                    "library_uuid": str(library.library_uuid),
                    "name": library.name,
                    "rel_root": library.rel_root,
                    "track_count": counts.track_count,
                    "unavailable_count": counts.unavailable_count,
                    "album_count": counts.album_count,
                    "last_scan_at": library.last_scan_at.isoformat() if library.last_scan_at else None,
                    "users": usernames.get(library.library_uuid, []),
                }
            )
        if args.json:
            out(json.dumps(rows))
        else:
            for row in rows:
                out(
                    f"{row['library_uuid']}  {row['name']}  folder={row['rel_root'] or '.'}  "
                    f"tracks={row['track_count']} unavailable={row['unavailable_count']}  "
                    f"users={','.join(row['users']) or '-'}"
                )
        return 0

    return run_in_db(work)


def add_library_commands(sub: Any) -> None:
    library = sub.add_parser("library", help="the catalog: scan folders, grant users").add_subparsers(
        dest="action", required=True
    )
    scan = library.add_parser("scan", help="index the FLAC files of a folder under the music root")
    scan.add_argument("path", nargs="?", help="a folder under the music root (default: the music root)")
    scan.add_argument("--name", help="the library's name (default: the folder's name)")
    scan.add_argument("--json", action="store_true", help="print the summary as JSON")
    scan.set_defaults(handler=cmd_library_scan)

    grant = library.add_parser("grant", help="let a user see a library")
    grant.add_argument("username")
    grant.add_argument("library", help="the library's name or uuid")
    grant.set_defaults(handler=cmd_library_grant)

    lst = library.add_parser("list", help="list libraries")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_library_list)
