"""Fixtures: one real stack per test run (own database, own music root, free ports).

The stack is three gunicorn masters (2 uvicorn workers each) and nginx, started through
``devtools.stack`` exactly as ``./dev up`` starts them. Postgres and Redis are the machine's;
this run creates its own database and drops it at the end, and every user it makes has fresh
uuids (so Redis channels and keys never meet another run's).
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from devtools.cluster import ThrowawayCluster
from devtools.ephemeral import start_stack, stop_stack
from devtools.stack import Stack
from tests.support import PASSWORD, UserClient, add_user, login, write_library

_user_counter = itertools.count()
__all__ = ["UserPool", "logged_in_users", "new_username", "start_stack", "stop_stack"]


@pytest.fixture(scope="session")
def music_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("music")
    write_library(root / "Library")
    os.chmod(root, 0o755)
    return root


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, music_root: Path) -> Iterator[Stack]:
    """``US_TEST_REDIS_CLUSTER=1``: the stack runs on a throwaway Redis Cluster (3 masters, 3
    replicas) instead of the machine's Redis — ``./dev test`` runs tests/cluster/subset.txt so."""
    run_dir = tmp_path_factory.mktemp("stack")
    with ExitStack() as cleanup:
        settings: dict[str, str] = {}
        if os.environ.get("US_TEST_REDIS_CLUSTER"):
            cluster = ThrowawayCluster(tmp_path_factory.mktemp("cluster"))
            cleanup.callback(cluster.stop)
            cluster.start()
            settings["US_REDIS_CLUSTER_URLS"] = cluster.urls
        st = start_stack(run_dir, music_root, overrides=settings)
        cleanup.callback(stop_stack, st)
        st.usctl("library", "scan", str(music_root / "Library"), "--name", "Library")
        yield st


def new_username(prefix: str = "u") -> str:
    return f"{prefix}{next(_user_counter)}-{uuid.uuid4().hex[:8]}"


class UserPool:
    """Users made in bulk by ``usctl user import`` (one process instead of one per test)."""

    def __init__(self, stack: Stack, granted: int, ungranted: int) -> None:
        lines = [
            {"username": new_username("g"), "password": PASSWORD, "libraries": ["Library"]}
            for _ in range(granted)
        ] + [{"username": new_username("n"), "password": PASSWORD, "libraries": []} for _ in range(ungranted)]
        result = stack.usctl("user", "import", "-", stdin="\n".join(json.dumps(line) for line in lines))
        created = [json.loads(line) for line in result.stdout.splitlines()]
        uuids = {row["username"]: row["user_uuid"] for row in created}
        self.available: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
        for line in lines:
            name = str(line["username"])
            self.available[bool(line["libraries"])].append((name, uuids[name]))

    def take(self, stack: Stack, grant: bool) -> tuple[str, str]:
        if self.available[grant]:
            return self.available[grant].pop()
        username = new_username()
        user_uuid = add_user(stack, username)
        if grant:
            stack.usctl("library", "grant", username, "Library")
        return username, user_uuid


@pytest.fixture(scope="session")
def user_pool(stack: Stack) -> UserPool:
    return UserPool(stack, granted=400, ungranted=40)


@contextmanager
def logged_in_users(stack: Stack, pool: UserPool) -> Iterator[Callable[..., UserClient]]:
    """A factory of users from ``pool``, logged in; their HTTP clients close on exit."""
    clients: list[httpx.Client] = []

    def factory(grant: bool = True) -> UserClient:
        username, user_uuid = pool.take(stack, grant)
        token = login(stack, username, PASSWORD)
        http = httpx.Client(
            base_url=stack.public_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )
        clients.append(http)
        return UserClient(stack, username, user_uuid, token, http)

    try:
        yield factory
    finally:
        for http in clients:
            http.close()


@pytest.fixture
def make_user(stack: Stack, user_pool: UserPool) -> Iterator[Callable[..., UserClient]]:
    with logged_in_users(stack, user_pool) as factory:
        yield factory


@pytest.fixture
def user(make_user: Callable[..., UserClient]) -> UserClient:
    return make_user()


@pytest.fixture
def public(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.public_url, timeout=15) as client:
        yield client
