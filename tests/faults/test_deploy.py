"""A rolling deploy under steady load (issue 17; docs/RELIABILITY.md "Deploy under load").

A stack of its own runs the working tree as a deployed release (release A). While two devices
send commands, SSE clients listen on every events worker and the speaker streams its track by
Range requests, the deploy's own steps (devtools.deploy, the local host) deploy release B — A plus
a migration that adds a column and a visible change in every service — and then release C, whose
``/readyz`` always fails. Checked: no command lost or failed (a retry of the same
``client_event_uuid`` is allowed and counted), every SSE client back (target 5 s) and on the final
revision, revisions strictly increasing per client, every Range request answered 206 with the
right bytes and the speaker never waiting long, B served by the same masters with new workers
(a graceful swap, not a restart), C refused by its canary while B serves on, untouched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from devtools.deploy import Deployer, DeployError, GitSource
from devtools.deploy_local import LocalHost
from devtools.stack import ROOT, SERVICES, Stack
from tests.conftest import UserPool, start_stack, stop_stack
from tests.faults.conftest import FAULT_SETTINGS
from tests.faults.harness import Scene, media_url, workers
from tests.faults.releases import commit_worktree, derive_commit, show
from tests.support import TEST_LIBRARY, sql
from us_control.migrate import alembic_config

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]  # generous: the machine may be loaded


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, music_root: Path) -> Iterator[tuple[Stack, UserPool]]:
    """A stack of its own, running the working tree as a deployed release (release A), started by
    the deploy's own first-release steps; the machine's Postgres and Redis (nothing is killed)."""
    stack = start_stack(
        tmp_path_factory.mktemp("deploy") / "stack",
        music_root,
        overrides=FAULT_SETTINGS,
        release=commit_worktree(ROOT),
    )
    try:
        stack.usctl("library", "scan", str(music_root / "Library"), "--name", "Library")
        yield stack, UserPool(stack, granted=2, ungranted=0)
    finally:
        stop_stack(stack)

LONG_WALK = next(t for t in TEST_LIBRARY if t.title == "Long Walk")
HEALTH = "libs/common/src/us_common/health.py"
HEALTHZ_BODY = 'return {"status": "ok"}'
READY_LINE = 'ready = all(v == "ok" for v in results.values())'
CHUNK = 64 * 1024


def probe_migration(down_revision: str) -> str:
    """The kind of change a release makes while the previous one serves: a nullable column."""
    return f'''"""deploy probe: a nullable column (tests/faults/test_deploy.py)"""

import sqlalchemy as sa
from alembic import op

revision = "deployprobe"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("device", sa.Column("deploy_probe", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("device", "deploy_probe")
'''


def releases_b_and_c(base: str) -> tuple[str, str]:
    health = show(ROOT, base, HEALTH)
    assert HEALTHZ_BODY in health and READY_LINE in health, "the deploy test patches these lines"
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    b = derive_commit(
        ROOT,
        base,
        {
            HEALTH: health.replace(HEALTHZ_BODY, 'return {"status": "ok", "release": "B"}'),
            "services/control/src/us_control/migrations/versions/2099_01_01_0001-deploy_probe.py": probe_migration(
                head
            ),
        },
        "release B: a nullable column and a visible change",
    )
    c = derive_commit(
        ROOT,
        b,
        {HEALTH: health.replace(HEALTHZ_BODY, 'return {"status": "ok", "release": "C"}').replace(READY_LINE, "ready = False")},
        "release C: /readyz never ready",
    )
    return b, c


def serving_release(stack: Stack) -> dict[str, str | None]:
    """Which release answers each service's /healthz (B and C say so; A does not)."""
    return {s: httpx.get(f"{stack.service_url(s)}/healthz", timeout=5).json().get("release") for s in SERVICES}


@dataclass
class RangeSpeaker:
    """The active speaker's player: the track in 64 KiB Range requests, one every 50 ms, each
    checked byte for byte; its media URL is minted again every 20 s (tokens live 90 s)."""

    scene: Scene
    expected: bytes
    requests: int = 0
    failures: list[str] = field(default_factory=list)  # never answered right, even retried
    retried: list[str] = field(default_factory=list)
    max_gap_s: float = 0.0
    mint_retries: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        url, minted = await media_url(self.scene), time.monotonic()
        offset, last_ok = 0, time.monotonic()
        async with httpx.AsyncClient(base_url=self.scene.stack.public_url, timeout=15) as player:
            while not stop.is_set():
                if time.monotonic() - minted > 20:
                    url, minted = await self._mint(), time.monotonic()
                end = min(offset + CHUNK, len(self.expected)) - 1
                for attempt in range(5):  # a player retries a 503 (Retry-After) or a timeout
                    try:
                        response = await player.get(url, headers={"Range": f"bytes={offset}-{end}"})
                        outcome = (response.status_code, response.content)
                    except httpx.HTTPError as exc:
                        outcome = (0, type(exc).__name__.encode())
                    self.requests += 1
                    if outcome == (206, self.expected[offset : end + 1]):
                        break
                    self.retried.append(f"{outcome[0]} at {offset}")
                    if outcome[0] not in (0, 502, 503, 504) or attempt == 4:
                        self.failures.append(f"{outcome[0]} at {offset}")
                        break
                    await asyncio.sleep(1)
                now = time.monotonic()
                self.max_gap_s = max(self.max_gap_s, now - last_ok)
                last_ok = now
                offset = end + 1 if end + 1 < len(self.expected) else 0
                await asyncio.sleep(0.05)

    async def _mint(self) -> str:
        while True:
            try:
                return await media_url(self.scene)
            except (AssertionError, httpx.HTTPError):
                self.mint_retries += 1
                await asyncio.sleep(0.2)


async def test_rolling_deploy_under_load(deployed: tuple[Stack, UserPool]) -> None:
    stack, users = deployed
    scene = await Scene.open(stack, users, admin_redis_url=stack.env["US_REDIS_URL"])
    try:
        await _deploy_b_then_c(stack, scene)
    finally:
        await scene.close()


async def _deploy_b_then_c(stack: Stack, scene: Scene) -> None:
    host = LocalHost(stack)
    steps: list[str] = []
    t0 = time.monotonic()
    deployer = Deployer(
        host, GitSource(ROOT), ready_timeout_s=180, log=lambda m: steps.append(f"{time.monotonic() - t0:.1f}s {m}")
    )
    release_a = host.layout.current_sha()
    assert release_a is not None and serving_release(stack) == dict.fromkeys(SERVICES)
    release_b, release_c = await asyncio.to_thread(releases_b_and_c, release_a)
    expected = (Path(stack.env["US_MUSIC_ROOT"]) / "Library" / LONG_WALK.rel_path).read_bytes()

    speaker = RangeSpeaker(scene, expected)
    stop_speaker = asyncio.Event()
    speaking = asyncio.create_task(speaker.run(stop_speaker))
    await scene.start_driver()
    await asyncio.sleep(1.5)

    # Release B: migrations first (A serves on against the new column), canary, graceful swaps.
    masters = {s: stack.master_pid(s) for s in SERVICES}
    old_workers = {s: {p.pid for p in workers(stack, s)} for s in SERVICES}
    started = time.monotonic()
    assert await asyncio.to_thread(deployer.deploy, release_b) == release_b
    took_b = time.monotonic() - started
    assert serving_release(stack) == dict.fromkeys(SERVICES, "B")
    assert {s: stack.master_pid(s) for s in SERVICES} == masters, "a reload, not a restart"
    for service in SERVICES:
        assert not {p.pid for p in workers(stack, service)} & old_workers[service], service
    assert any("reloading events" in step for step in steps), steps
    columns = await asyncio.to_thread(
        sql, stack, "SELECT column_name FROM information_schema.columns WHERE table_name = 'device'"
    )
    assert ("deploy_probe",) in {tuple(row) for row in columns}
    await asyncio.sleep(1.5)

    # Release C: its canary is never ready; nothing that serves is touched.
    b_workers = {s: {p.pid for p in workers(stack, s)} for s in SERVICES}
    deployer.ready_timeout_s = 10
    started = time.monotonic()
    with pytest.raises(DeployError, match="not ready in the canary"):
        await asyncio.to_thread(deployer.deploy, release_c)
    took_c = time.monotonic() - started
    assert host.layout.current_sha() == release_b
    assert serving_release(stack) == dict.fromkeys(SERVICES, "B")
    assert {s: {p.pid for p in workers(stack, s)} for s in SERVICES} == b_workers, "C touched a worker"
    await asyncio.sleep(1)

    stop_speaker.set()
    await speaking
    report = await scene.verify()
    print(f"rolling deploy A→B, then C refused by its canary: {report.line('deploy')}")  # noqa: T201
    print(  # noqa: T201 - figures for docs/RELIABILITY.md
        f"deploy: B took {took_b:.1f}s, C refused after {took_c:.1f}s; speaker {speaker.requests} Range "
        f"requests, {len(speaker.retried)} retried, {len(speaker.failures)} failed, longest wait {speaker.max_gap_s:.2f}s, "
        f"{speaker.mint_retries} token re-mints retried; steps: {steps}"
    )
    assert not speaker.failures, speaker.failures[:10]
    # Targets (docs/RELIABILITY.md): back within 5 s, the speaker never waiting. The bounds here
    # are looser because on a loaded 2-core machine the new workers' import is the gap (docs).
    assert speaker.requests > 50 and speaker.max_gap_s < 60, (speaker.requests, speaker.max_gap_s)
    assert report.max_back_after_s < 60, report.max_back_after_s
    assert report.goodbyes > 0, "the events swap should have ended streams with a goodbye"
    assert report.abrupt_ends == 0, report
