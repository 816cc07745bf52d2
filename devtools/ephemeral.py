"""Throwaway whole stacks for tests and benchmarks: own database, own ports, own settings.

One way to build one, so the tests, the fault rig and the benchmarks start exactly what
``./dev up`` starts; ``stop_stack`` stops it and drops its database.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path

from devtools.__main__ import dev_env
from devtools.database import drop_database, ensure_database
from devtools.stack import ROOT, Stack, free_port


def ephemeral_env(music_root: Path, **overrides: str) -> dict[str, str]:
    """Settings for a new stack: the dev machine's Postgres and Redis, a fresh database name, fresh
    keys and free ports, quick loops, cheap password hashes; ``overrides`` win."""
    dev = dev_env()
    base_url = dev["US_DATABASE_URL"].rsplit("/", 1)[0]
    env = {
        "US_ENV": "test",
        "US_LOG_LEVEL": "info",
        "US_DATABASE_URL": f"{base_url}/us_test_{uuid.uuid4().hex[:10]}",
        "US_REDIS_URL": dev["US_REDIS_URL"],
        "US_ACCESS_TOKEN_KEY": secrets.token_hex(32),
        "US_MEDIA_TOKEN_KEY": secrets.token_hex(32),
        "US_MUSIC_ROOT": str(music_root),
        "US_NGINX_PORT": str(free_port()),
        "US_CONTROL_PORT": str(free_port()),
        "US_EVENTS_PORT": str(free_port()),
        "US_MEDIA_PORT": str(free_port()),
        "US_PRESENCE_WINDOW_S": "30",
        "US_SWEEP_INTERVAL_S": "0.5",
        "US_BEACON_INTERVAL_S": "3",
        "US_HEARTBEAT_INTERVAL_S": "5",
        "US_RATE_LIMIT_COMMANDS": "300/minute",  # a window that a loaded machine still fills
        "US_RATE_LIMIT_QUEUE": "300/10 seconds",
        "US_RATE_LIMIT_LOGIN": "10/minute",
        "US_RATE_LIMIT_MEDIA_TOKEN": "300/minute",
        # Every test pairs from 127.0.0.1 (and the fuzzer asks for codes too): a roomy per-address
        # limit; its test sends its own X-Real-IP to control.
        "US_RATE_LIMIT_PAIRING_START": "100/minute",
        "US_DEVICE_POLL_INTERVAL_S": "1",
        # No library watcher: tests scan with usctl and count what each scan did (the watcher's
        # own tests and the catalog bench turn it on).
        "US_LIBRARY_WATCH": "false",
        # Cheap password hashes: test runs make hundreds of users (production keeps the defaults).
        "US_ARGON2_TIME_COST": "1",
        "US_ARGON2_MEMORY_KIB": "8192",
        # Scrobbling: a key of its own, receivers on loopback allowed (the tests' Maloja), quick
        # retries and polls (production: 1 s between requests, backoff up to 10 minutes).
        "US_SCROBBLE_TOKEN_KEY": secrets.token_hex(32),
        "US_SCROBBLE_ALLOW_HOSTS": "127.0.0.1",
        "US_SCROBBLE_MIN_INTERVAL_S": "0.2",
        "US_SCROBBLE_BACKOFF_BASE_S": "0.3",
        "US_SCROBBLE_BACKOFF_MAX_S": "1.5",
        "US_SCROBBLE_POLL_INTERVAL_S": "0.3",
        **overrides,
    }
    env["US_PUBLIC_URL"] = f"http://127.0.0.1:{env['US_NGINX_PORT']}"
    env["US_CONTROL_INTERNAL_URL"] = f"http://127.0.0.1:{env['US_CONTROL_PORT']}"
    return env


def start_stack(
    run_dir: Path,
    music_root: Path,
    *,
    workers: dict[str, int] | None = None,
    service_env: dict[str, dict[str, str]] | None = None,
    stack_class: type[Stack] = Stack,
    replicas: dict[str, tuple[str, int]] | None = None,
    overrides: Mapping[str, str] | None = None,
    release: str | None = None,
    **settings: str,
) -> Stack:
    """Create the database, migrate, start the three services and nginx; ready when it returns.
    ``overrides`` and ``settings`` (``US_*`` names) win over :func:`ephemeral_env`. With
    ``release`` (a commit), the stack runs that commit as a deployed release, started by the
    deploy's own steps (devtools.deploy) under ``run_dir/releases``; otherwise the checkout."""
    env = ephemeral_env(music_root, **{"US_COVER_CACHE_DIR": str(run_dir / "covers"), **(overrides or {}), **settings})
    stack = stack_class(run_dir=run_dir, env=env)
    stack.workers.update(workers or {})
    stack.service_env.update(service_env or {})
    stack.replicas.update(replicas or {})
    run_dir.mkdir(parents=True, exist_ok=True)
    ensure_database(stack.env["US_DATABASE_URL"])
    try:
        if release is None:
            stack.usctl("db", "upgrade")
            stack.start()
        else:
            from devtools.deploy import Deployer, GitSource
            from devtools.deploy_local import LocalHost

            Deployer(LocalHost(stack), GitSource(ROOT), ready_timeout_s=120, log=lambda _: None).deploy(release)
            stack.wait_ready()
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    stack.stop()
    drop_database(stack.env["US_DATABASE_URL"])
