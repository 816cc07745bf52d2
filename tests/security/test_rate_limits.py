"""Rate limits are per user, not per worker: requests spread over both control workers share one
budget (the counters live in Redis). Each request goes to a known worker: a keep-alive connection
straight to control's port, mapped to the worker that accepted it (psutil)."""

from __future__ import annotations

import http.client
import json
from collections import Counter
from collections.abc import Callable

import psutil

from devtools.stack import Stack
from tests.support import UserClient

LIMIT = 300  # the session stack's US_RATE_LIMIT_COMMANDS: 300/minute
SENT = 450


def connection_per_worker(stack: Stack) -> dict[int, http.client.HTTPConnection]:
    master = stack.master_pid("control")
    assert master is not None
    workers = psutil.Process(master).children()
    port = stack.port("control")
    found: dict[int, http.client.HTTPConnection] = {}
    spare: list[http.client.HTTPConnection] = []
    for _ in range(40):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/healthz")  # accepted by one worker, kept alive
        conn.getresponse().read()
        assert conn.sock is not None
        local = conn.sock.getsockname()[1]
        owner = next(
            (
                w.pid
                for w in workers
                for c in w.net_connections(kind="tcp")
                if c.raddr and c.raddr.port == local and c.laddr.port == port
            ),
            None,
        )
        if owner is not None and owner not in found:
            found[owner] = conn
        else:
            spare.append(conn)
        if len(found) == len(workers):
            break
    for conn in spare:
        conn.close()
    assert len(found) == len(workers) == stack.workers["control"], found
    return found


def test_the_command_limit_holds_across_both_control_workers(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    user = make_user()
    session = user.session_uuid
    connections = connection_per_worker(stack)
    headers = {"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"}
    answers: dict[int, Counter[int]] = {pid: Counter() for pid in connections}
    retry_after: set[str] = set()
    try:
        pids = list(connections)
        for i in range(SENT):
            pid = pids[i % len(pids)]
            conn = connections[pid]
            conn.request("POST", f"/sessions/{session}/pause", body=json.dumps({}), headers=headers)
            response = conn.getresponse()
            response.read()
            answers[pid][response.status] += 1
            if response.status == 429:
                retry_after.add(response.getheader("Retry-After") or "")
    finally:
        for conn in connections.values():
            conn.close()
    allowed = sum(n for counts in answers.values() for status, n in counts.items() if status != 429)
    limited = {pid: counts[429] for pid, counts in answers.items()}
    # Per worker it would be ~2 x LIMIT; a sliding window may carry a little over a boundary.
    assert LIMIT * 0.8 <= allowed <= LIMIT * 1.2, answers
    assert all(n > 0 for n in limited.values()), answers  # each worker enforced the shared budget
    assert retry_after and all(value.isdigit() and int(value) >= 1 for value in retry_after), retry_after
    print(f"rate limit across workers: {dict(answers)}")  # noqa: T201
