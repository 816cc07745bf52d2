"""``usctl``: the admin command line (migrations, users, library, listens, info).

Each subcommand opens its own engine and commits its own work; it prints results, never secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from us_control.auth import repository as users
from us_control.auth.passwords import hash_password
from us_control.db import create_db_engine, session_factory
from us_control.settings import get_settings

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")


class CliError(Exception):
    """A clear message for the operator; exit status 2."""


def run_in_db(work: Callable[[AsyncSession], Awaitable[int]]) -> int:
    async def runner() -> int:
        engine = create_db_engine(get_settings(), application_name="usctl")
        try:
            async with session_factory(engine)() as db:
                code = await work(db)
                await db.commit()
                return code
        finally:
            await engine.dispose()

    return asyncio.run(runner())


# --- db --------------------------------------------------------------------------------------


def cmd_db(args: argparse.Namespace) -> int:
    from us_control import migrate  # alembic is slow to import; only this command needs it

    url = get_settings().database_url
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
    elif args.action == "downgrade":
        migrate.downgrade(url, args.revision or "-1")
    return 0


# --- users -----------------------------------------------------------------------------------


def read_password_stdin() -> str:
    password = sys.stdin.read()
    password = password.removesuffix("\n")
    if not password:
        raise CliError("empty password on stdin")
    if len(password) > 1024:
        raise CliError("password longer than 1024 characters")
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    username: str = args.username
    if not USERNAME_RE.match(username):
        raise CliError("username must match [a-z0-9][a-z0-9_.-]{2,31}")
    if not args.password_stdin:
        raise CliError("pass the password on stdin with --password-stdin")
    password_hash = hash_password(read_password_stdin())

    async def work(db: AsyncSession) -> int:
        if await users.get_by_username(db, username):
            raise CliError(f"user {username!r} already exists")
        user = await users.add_user(db, username, password_hash)
        print(json.dumps({"user_uuid": str(user.user_uuid), "username": user.username}))
        return 0

    return run_in_db(work)


def cmd_user_passwd(args: argparse.Namespace) -> int:
    """Set a user's password (tokens issued before stay valid until they expire)."""
    username: str = args.username
    if not args.password_stdin:
        raise CliError("pass the password on stdin with --password-stdin")
    password_hash = hash_password(read_password_stdin())

    async def work(db: AsyncSession) -> int:
        user = await users.get_by_username(db, username)
        if user is None:
            raise CliError(f"no user {username!r}")
        user.password_hash = password_hash
        print(json.dumps({"user_uuid": str(user.user_uuid), "username": user.username}))
        return 0

    return run_in_db(work)


def cmd_user_import(args: argparse.Namespace) -> int:
    """Bulk provisioning: JSON lines ``{"username", "password", "libraries": [...]}``.

    All-or-nothing: a bad line (name, duplicate, unknown library) rejects the whole file.
    Prints one JSON line per created user.
    """
    from us_control.library.cli import find_library
    from us_control.library.repository import grant

    source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    with source:
        entries = [json.loads(line) for line in source if line.strip()]
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not USERNAME_RE.match(str(entry.get("username", ""))):
            raise CliError(f"line {number}: username must match [a-z0-9][a-z0-9_.-]{{2,31}}")
        if not entry.get("password") or len(str(entry["password"])) > 1024:
            raise CliError(f"line {number}: password must be 1-1024 characters")
    hashes = [hash_password(str(entry["password"])) for entry in entries]

    async def work(db: AsyncSession) -> int:
        created = []
        for entry, password_hash in zip(entries, hashes, strict=True):
            if await users.get_by_username(db, entry["username"]):
                raise CliError(f"user {entry['username']!r} already exists")
            user = await users.add_user(db, entry["username"], password_hash)
            for name in entry.get("libraries", []):
                await grant(db, user.user_uuid, (await find_library(db, str(name))).library_uuid)
            created.append({"user_uuid": str(user.user_uuid), "username": user.username})
        for row in created:
            print(json.dumps(row))
        return 0

    return run_in_db(work)


def cmd_user_list(args: argparse.Namespace) -> int:
    async def work(db: AsyncSession) -> int:
        rows = await users.list_users(db)
        if args.json:
            print(json.dumps([{"user_uuid": str(u.user_uuid), "username": u.username} for u in rows]))
        else:
            for u in rows:
                print(f"{u.user_uuid}  {u.username}")
        return 0

    return run_in_db(work)


# --- info ------------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    info = get_settings().public_info()
    if args.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0


# --- parser ----------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace], int]
_EXTENSIONS: list[Callable[[Any], None]] = []


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="usctl", description="UniversalScrobbler Playback admin")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade"])
    db.add_argument("revision", nargs="?")
    db.set_defaults(handler=cmd_db)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=cmd_user_add)
    passwd = user.add_parser("passwd", help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd.set_defaults(handler=cmd_user_passwd)
    imp = user.add_parser("import", help="create users from JSON lines (all-or-nothing)")
    imp.add_argument("file", help='a file of {"username", "password", "libraries"} lines, or - for stdin')
    imp.set_defaults(handler=cmd_user_import)
    lst = user.add_parser("list", help="list users")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_user_list)

    info = sub.add_parser("info", help="effective settings, without secrets")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=cmd_info)

    from us_control.library.cli import add_library_commands

    add_library_commands(sub)
    from us_control.scrobble.listens_cli import add_listens_commands

    add_listens_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CliError as exc:
        print(f"usctl: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one clean line, not a traceback, for operators
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            print(f"usctl: invalid settings: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, OSError) or type(exc).__name__ in {"OperationalError", "InterfaceError"}:
            print(f"usctl: cannot reach a dependency: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    raise SystemExit(main())
