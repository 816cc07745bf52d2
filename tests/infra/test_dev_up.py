"""A newcomer's ``./dev up``: a port that another program holds is named with the setting to
change, before anything starts; the printed demo password logs in even when the database already
had a ``demo`` user from another checkout."""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import socket
from pathlib import Path

import httpx
import pytest

import devtools.__main__ as dev
from devtools.stack import Stack, free_port
from tests.support import add_user


@pytest.fixture
def own_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``./dev``'s run/ in a temporary folder, so the checkout's own stack is never touched."""
    run_dir = tmp_path / "run"
    monkeypatch.setattr(dev, "RUN_DIR", run_dir)
    monkeypatch.setattr(dev, "ENV_FILE", run_dir / "dev.env")
    return run_dir


def test_a_taken_port_is_named_with_its_setting_and_nothing_starts(
    own_run_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as other_stack:
        other_stack.bind(("127.0.0.1", 0))
        other_stack.listen()
        taken = other_stack.getsockname()[1]
        monkeypatch.setenv("US_NGINX_PORT", str(taken))
        for setting in ("US_CONTROL_PORT", "US_EVENTS_PORT", "US_MEDIA_PORT"):
            monkeypatch.setenv(setting, str(free_port()))
        assert dev.cmd_up(argparse.Namespace()) == 1
    err = capsys.readouterr().err
    assert f"port {taken} is in use by another program (US_NGINX_PORT)" in err, err
    assert "US_NGINX_PORT=" in err and "./dev up" in err, err
    assert "Traceback" not in err
    assert dev.stack().running() == dict.fromkeys(("control", "events", "media", "nginx"))
    assert not list(own_run_dir.glob("*.pid")), "something was started"


def test_the_printed_demo_password_logs_in_over_another_checkouts_demo(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # The other checkout made `demo` with its own password; this checkout prints another.
    demo = f"demo-{secrets.token_hex(4)}"
    add_user(stack, demo, "another checkout's password")
    ours = secrets.token_urlsafe(12)
    this_checkout = dataclasses.replace(stack, env={**stack.env, "US_DEMO_PASSWORD": ours})

    def logs_in(password: str) -> bool:
        form = {"username": demo, "password": password}
        return httpx.post(f"{stack.public_url}/auth/token", data=form, timeout=15).status_code == 200

    assert not logs_in(ours)
    dev.ensure_demo_login(this_checkout, demo)
    assert "already had a user" in capsys.readouterr().out
    assert logs_in(ours)
    dev.ensure_demo_login(this_checkout, demo)  # now it logs in: nothing to say, nothing changed
    assert capsys.readouterr().out == ""
