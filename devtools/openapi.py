"""The checked-in OpenAPI schemas (``docs/openapi/<service>.json``): write them, or say what differs.

``uv run python -m devtools.openapi write`` after a deliberate API change; the suite's
``tests/infra/test_openapi.py`` fails while the code and the files disagree, so every change to
the public surface is a visible diff in review. The schemas are built from the app factories
without starting anything (no database, no Redis: lifespans do not run).
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "docs" / "openapi"
SERVICES = ("control", "events", "media")


def _settings_env() -> dict[str, str]:
    # Throwaway keys: the schema does not depend on them, settings only refuse to load without.
    return {"access_token_key": secrets.token_hex(32), "media_token_key": secrets.token_hex(32)}


def build_schema(service: str) -> dict[str, Any]:
    """The OpenAPI document ``service``'s app serves at ``/openapi.json``."""
    keys = _settings_env()
    if service == "control":
        from us_control.app import create_app as control_app
        from us_control.settings import ControlSettings

        schema: dict[str, Any] = control_app(ControlSettings(**keys)).openapi()  # type: ignore[arg-type]
    elif service == "events":
        from us_events.app import create_app as events_app
        from us_events.settings import EventsSettings

        schema = events_app(EventsSettings(**keys)).openapi()  # type: ignore[arg-type]
    elif service == "media":
        from us_media.app import create_app as media_app
        from us_media.settings import MediaSettings

        schema = media_app(MediaSettings(**keys)).openapi()  # type: ignore[arg-type]
    else:
        raise ValueError(f"unknown service {service!r}")
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(service: str) -> Path:
    return SCHEMA_DIR / f"{service}.json"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command not in ("write", "check"):
        print("usage: python -m devtools.openapi write|check", file=sys.stderr)
        return 2
    stale = []
    for service in SERVICES:
        text = render(build_schema(service))
        path = schema_path(service)
        if command == "write":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
        elif not path.exists() or path.read_text() != text:
            stale.append(service)
    if stale:
        print(f"out of date: {', '.join(stale)} (run: uv run python -m devtools.openapi write)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
