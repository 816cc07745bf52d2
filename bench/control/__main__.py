"""``python -m bench.control [--users 50] [--connections 50] [--seconds 15]``

Commands/s and latency of state-changing commands through nginx with 2 control workers, at a
concurrency of 50, with wrk (Debian's package) as the load generator. Each connection sends seeks
for its own user (a real deployment's commands spread over users; one user's commands serialise
on that user's session row by design). While the load runs, CPU time per process group is sampled
with psutil to say what bounds throughput (wrk's own share included: it runs on the same box).

Not a test: it prints figures for the README and bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import shutil
import subprocess
from datetime import UTC, datetime

import httpx
import psutil

from bench.common import bench_stack, stack_cpu_seconds
from devtools.stack import Stack

LUA = """
-- One (token, session) pair per request, round-robin; each pair belongs to its own user.
local pairs_ = {PAIRS}
local counter = 0
request = function()
  counter = counter + 1
  local p = pairs_[(counter % #pairs_) + 1]
  local body = '{"position_ms": ' .. math.random(1000, 50000) .. '}'
  return wrk.format("POST", "/sessions/" .. p[2] .. "/seek",
    {["Authorization"] = "Bearer " .. p[1], ["Content-Type"] = "application/json"}, body)
end
"""


def cpu_snapshot(stack: Stack) -> dict[str, float]:
    totals = stack_cpu_seconds(stack)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    totals["wrk (load generator)"] = children.ru_utime + children.ru_stime
    return totals


def prepare_users(stack: Stack, count: int) -> list[tuple[str, str]]:
    lines = [
        json.dumps({"username": f"bench{i:04d}", "password": "bench-password", "libraries": ["Bench"]})
        for i in range(count)
    ]
    stack.usctl("user", "import", "-", stdin="\n".join(lines))
    pairs = []
    with httpx.Client(base_url=stack.public_url, timeout=30) as http:
        for i in range(count):
            token = http.post(
                "/auth/token", data={"username": f"bench{i:04d}", "password": "bench-password"}
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            me = http.get("/users/me", headers=auth).json()
            device = http.post("/devices/register", json={"device_name": "bench"}, headers=auth).json()
            track = http.get("/tracks", headers=auth).json()["items"][0]
            session = http.get(f"/sessions/{me['user_uuid']}", headers=auth).json()
            http.post(
                f"/sessions/{session['session_uuid']}/play",
                json={"track_uuid": track["track_uuid"], "device_uuid": device["device_uuid"]},
                headers=auth,
            ).raise_for_status()
            pairs.append((token, session["session_uuid"]))
    return pairs


def profile_command_path(
    stack: Stack, token: str, session_uuid: str, commands: int = 300
) -> list[tuple[str, float]]:
    """Where a control worker's CPU goes per command: the same seek, run in-process (ASGI, no
    HTTP server) under cProfile, own time summed by package. Profiling inflates every figure by
    about the same factor; read it as shares."""
    import asyncio
    import cProfile
    import os
    import pstats

    os.environ.update(stack.env)
    from us_control.app import create_app

    app = create_app()
    profile = cProfile.Profile()

    async def run() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://control") as client:
                auth = {"Authorization": f"Bearer {token}"}
                for i in range(30):  # warm up
                    await client.post(
                        f"/sessions/{session_uuid}/seek", json={"position_ms": 1000 + i}, headers=auth
                    )
                profile.enable()
                for i in range(commands):
                    await client.post(
                        f"/sessions/{session_uuid}/seek", json={"position_ms": 2000 + i}, headers=auth
                    )
                profile.disable()

    asyncio.run(run())
    shares: dict[str, float] = {}
    for (filename, _, name), (_, _, own, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in filename:
            parts = filename.split("site-packages/")[-1].split("/")
            key = "/".join(parts[:2]) if parts[0] == "sqlalchemy" else parts[0]
        elif "/src/" in filename:
            key = filename.split("/src/")[-1].split("/")[0]
        elif filename == "~":
            key = "waiting for I/O (epoll)" if "poll" in name else "C builtins"
        else:
            key = "asyncio and stdlib"
        shares[key] = shares.get(key, 0.0) + own
    total = sum(shares.values())
    return [(k, v / total * 100) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])[:12]]


def parse_wrk(output: str) -> dict[str, float]:
    result: dict[str, float] = {}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result["commands_per_s"] = float(match.group(1))
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M):
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        result[f"p{pct}_ms"] = round(float(value) * scale, 2)
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        result["non_2xx"] = float(match.group(1))
    if match := re.search(r"(\d+) requests in", output):
        result["requests"] = float(match.group(1))
    return result


def run(users: int, connections: int, seconds: int, workers: int) -> dict[str, object]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (./dev bench installs it from Debian)")
    with bench_stack("us-bench-control-", workers={"control": workers}) as stack:
        pairs = prepare_users(stack, users)
        script = stack.run_dir / "seek.lua"
        script.write_text(LUA.replace("{PAIRS}", "{" + ",".join(f'{{"{t}","{s}"}}' for t, s in pairs) + "}"))
        before = cpu_snapshot(stack)
        output = subprocess.run(
            [
                wrk,
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                str(script),
                stack.public_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        after = cpu_snapshot(stack)
        used = {k: round(after[k] - before.get(k, 0.0), 1) for k in after}
        result: dict[str, object] = dict(parse_wrk(output))
        result["cpu_seconds_by_process"] = dict(sorted(used.items(), key=lambda kv: -kv[1]))
        result["wall_seconds"] = seconds
        result["raw"] = output
        result["profile"] = profile_command_path(stack, *pairs[0])
        return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.control", description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    result = run(args.users, args.connections, args.seconds, args.workers)
    print(f"control commands through nginx — {platform.node()}, {psutil.cpu_count()} cores, {started}")
    print(
        f"concurrency {args.connections} over {args.users} users, {args.workers} control workers, {args.seconds} s"
    )
    print(
        f"commands/s: {result.get('commands_per_s')}  p50 {result.get('p50_ms')} ms  "
        f"p90 {result.get('p90_ms')} ms  p99 {result.get('p99_ms')} ms  non-2xx: {int(float(str(result.get('non_2xx', 0))))}"
    )
    print("CPU seconds by process during the run (what bounds it):")
    cpu = result["cpu_seconds_by_process"]
    assert isinstance(cpu, dict)
    for group, seconds in cpu.items():
        print(f"  {group:20} {seconds:7.1f} s  ({seconds / args.seconds * 100:5.0f}% of one core)")
    print("Inside a control worker, one seek command (cProfile, own time by package; the test client's")
    print("httpx share is the in-process client, not the server):")
    profile = result["profile"]
    assert isinstance(profile, list)
    for package, share in profile:
        print(f"  {package:28} {share:5.1f}%")


if __name__ == "__main__":
    main()
