"""``us-speaker pair URL`` end to end: the code it prints is approved through the API, it stores
its credential (0600), ``us-speaker run`` comes online under the approver's name, and forgetting
the device in the UI stops it for good (exit 3)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

from devtools.stack import Stack
from tests.speaker.support import US_SPEAKER, Box, wait_until, write_config
from tests.support import UserClient


def test_pair_run_and_forget(stack: Stack, user: UserClient, tmp_path: Path) -> None:
    state = tmp_path / "box"
    config = write_config(state, heartbeat_interval_s=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("US_")}
    pairing = subprocess.Popen(
        [US_SPEAKER, "--config", str(config), "pair", stack.public_url, "--name", "Kitchen"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    with pairing:
        assert pairing.stdout is not None
        printed = ""
        while "enter the code" not in printed:
            line = pairing.stdout.readline()
            assert line, printed
            printed += line
        code = re.search(r"enter the code: (\w{4}-\w{4})", printed)
        assert code is not None and f"{stack.public_url}/pair?code={code.group(1)}" in printed
        device = user.post_ok("/auth/device/approve", {"user_code": code.group(1), "device_name": "Living room"})
        assert pairing.wait(30) == 0, pairing.stdout.read()

    credentials = state / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    stored = json.loads(credentials.read_text())
    assert stored["device_uuid"] == device["device_uuid"] and stored["server_url"] == stack.public_url

    box = Box(state, device["device_uuid"], config)
    box.start()
    try:
        def online() -> bool:
            listed = {d["device_uuid"]: d for d in user.get_ok("/devices")["items"]}
            mine = listed.get(device["device_uuid"])
            return bool(mine and mine["online"] and mine["device_name"] == "Living room")

        before = time.time()
        wait_until(lambda: "following the session's events" in box.log_text(), 30, "the box running")
        wait_until(online, 10, "the box online under the approver's name")
        assert json.loads(credentials.read_text())["refresh_token"] != stored["refresh_token"]  # rotated
        assert user.http.delete(f"/devices/{device['device_uuid']}").status_code == 204
        assert box.proc is not None
        assert box.proc.wait(20) == 3
        assert time.time() - before < 40
        assert "pair it again" in box.log_text()
    finally:
        box.stop()
