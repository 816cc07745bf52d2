"""``usctl library scan|grant|revoke|list``: index folders of the music root, let users see them."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from us_common.logging import configure_logging
from us_control.auth import repository as users
from us_control.cli import CliError, run_in_db
from us_control.db import create_db_engine
from us_control.library import repository as repo
from us_control.library.scan_repository import SCAN_COMMAND_TIMEOUT_S
from us_control.library.scanner import ScanProgress, ScanRefused, ScanRequest, scan_library
from us_control.models import Library
from us_control.settings import get_settings


def out(line: str) -> None:
    sys.stdout.write(line + "\n")


def cmd_library_scan(args: argparse.Namespace) -> int:
    settings = get_settings()
    # JSON log lines (skipped files and why) go to stderr; stdout keeps the summary.
    configure_logging("usctl", settings.log_level)
    music_root = settings.music_root
    scope = tuple(args.only) if args.only else None
    request = ScanRequest(Path(args.path) if args.path else music_root, args.name, args.trigger, scope)
    if args.trigger != "command":
        os.nice(10)  # the watcher's scans yield the CPU to requests (the readers inherit it)

    async def work() -> int:
        # The scan commits as it goes (batches, progress), so it gets an engine, not a session.
        engine = create_db_engine(settings, application_name="usctl", command_timeout_s=SCAN_COMMAND_TIMEOUT_S)
        try:
            summary = await scan_library(
                engine, music_root, settings.cover_cache_dir, request, ScanProgress(sys.stderr)
            )
        except ScanRefused as exc:
            raise CliError(str(exc)) from None
        finally:
            await engine.dispose()
        if args.json:
            out(json.dumps(summary.as_json()))
        else:
            if summary.renamed_from is not None:
                out(f"renamed library {summary.renamed_from!r} to {summary.name!r}")
            out(summary.line())
        return 0

    return asyncio.run(work())


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
        if args.revoke:
            removed = await repo.revoke(db, user.user_uuid, library.library_uuid)
            verb = "revoked" if removed else "not granted"
            out(f"{verb}: {user.username} may not use library {library.name!r} ({library.library_uuid})")
            return 0
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
    scan.add_argument(
        "--only",
        action="append",
        metavar="FOLDER",
        help="rescan only this folder of the library (a path relative to the music root; repeatable)",
    )
    scan.add_argument(
        "--trigger",
        choices=["command", "watcher", "periodic"],
        default="command",
        help=argparse.SUPPRESS,  # who started the scan: the library watcher passes its own
    )
    scan.set_defaults(handler=cmd_library_scan)

    grant = library.add_parser("grant", help="let a user see a library")
    grant.add_argument("username")
    grant.add_argument("library", help="the library's name or uuid")
    grant.set_defaults(handler=cmd_library_grant, revoke=False)

    revoke = library.add_parser(
        "revoke", help="stop a user seeing a library (its tracks, albums, covers and likes)"
    )
    revoke.add_argument("username")
    revoke.add_argument("library", help="the library's name or uuid")
    revoke.set_defaults(handler=cmd_library_grant, revoke=True)

    lst = library.add_parser("list", help="list libraries")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_library_list)
