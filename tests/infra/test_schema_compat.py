"""The rule the rolling deploy rests on (docs/DEPLOY.md "Migrations"): the release before the newest
migration still works against the schema that migration makes — it keeps serving while the new
release migrates, and a rollback runs it against that schema.

The previous release is the parent of the last commit that added a migration, built by the
deploy's own ``build`` step (its tree, its venvs from its lock). The database is migrated to head
by the checkout; then the old ``usctl`` adds a user and scans a library, and the old control
serves a login, a device, play, seek and pause (commits to the tables the newest migration may
have touched)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from devtools.database import drop_database, ensure_database
from devtools.deploy import Deployer, GitSource
from devtools.deploy_local import LocalHost
from devtools.ephemeral import ephemeral_env
from devtools.stack import ROOT, Stack
from tests.support import PASSWORD

MIGRATIONS = "services/control/src/us_control/migrations/versions/"


def previous_schema_commit() -> str:
    newest = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%H", "--diff-filter=A", "--", MIGRATIONS],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert newest, "no commit adds a migration: this test needs the repository's history (not a shallow clone)"
    return f"{newest}^"


@pytest.mark.timeout(600)
def test_the_release_before_the_newest_migration_runs_against_the_new_schema(
    tmp_path: Path, music_root: Path
) -> None:
    stack = Stack(run_dir=tmp_path / "stack", env=ephemeral_env(music_root))
    stack.run_dir.mkdir(parents=True)
    ensure_database(stack.env["US_DATABASE_URL"])
    try:
        stack.usctl("db", "upgrade")  # the checkout's head
        deployer = Deployer(LocalHost(stack), GitSource(ROOT), ready_timeout_s=120, log=lambda _: None)
        previous = deployer.source.resolve(previous_schema_commit())
        stack.release = deployer.build(previous)
        username = f"compat-{uuid.uuid4().hex[:8]}"
        stack.usctl("user", "add", username, "--password-stdin", stdin=PASSWORD + "\n")
        stack.usctl("library", "scan", str(music_root / "Library"), "--name", "Library")
        stack.usctl("library", "grant", username, "Library")
        host = LocalHost(stack)
        stack.start_service("control")
        assert deployer.wait(lambda: host.ready("control")), stack.log_file("control").read_text()[-3000:]
        with httpx.Client(base_url=stack.service_url("control"), timeout=15) as http:
            token = http.post("/auth/token", data={"username": username, "password": PASSWORD}).json()
            http.headers["Authorization"] = f"Bearer {token['access_token']}"
            device = http.post("/devices/register", json={"device_name": "old release"}).json()["device_uuid"]
            user_uuid = http.get("/users/me").json()["user_uuid"]
            session = http.get(f"/sessions/{user_uuid}").json()
            track = http.get("/tracks", params={"q": "Long Walk"}).json()["items"][0]
            path = f"/sessions/{session['session_uuid']}"
            commands = [
                ("play", {"track_uuid": track["track_uuid"], "device_uuid": device}),
                ("seek", {"position_ms": 61_000, "device_uuid": device, "client_event_uuid": str(uuid.uuid4())}),
                ("pause", {"device_uuid": device}),
            ]
            revisions = []
            for name, body in commands:
                response = http.post(f"{path}/{name}", json=body)
                assert response.status_code == 200, (name, response.status_code, response.text)
                revisions.append(response.json()["revision"])
            assert revisions == sorted(set(revisions)), revisions
            final = http.get(f"/sessions/{user_uuid}").json()
            assert final["play_state"] == "paused" and final["track_uuid"] == track["track_uuid"], final
    finally:
        stack.stop_service("control")
        drop_database(stack.env["US_DATABASE_URL"])
