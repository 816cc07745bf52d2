"""The admin CLI: users, info, migrations (run as a real process against the run's database)."""

from __future__ import annotations

import json

from devtools.stack import Stack
from tests.conftest import new_username
from tests.support import login


def test_user_add_strips_one_trailing_newline_and_lists(stack: Stack) -> None:
    name = new_username("cli")
    added = stack.usctl("user", "add", name, "--password-stdin", stdin="pass word\n")
    user_uuid = json.loads(added.stdout)["user_uuid"]
    assert login(stack, name, "pass word")
    listed = json.loads(stack.usctl("user", "list", "--json").stdout)
    assert {"user_uuid": user_uuid, "username": name} in listed


def test_user_add_refuses_bad_names_duplicates_and_empty_passwords(stack: Stack) -> None:
    bad = stack.usctl("user", "add", "No Spaces!", "--password-stdin", stdin="x\n", check=False)
    assert bad.returncode == 2 and "username must match" in bad.stderr
    name = new_username("dup")
    stack.usctl("user", "add", name, "--password-stdin", stdin="pw\n")
    dup = stack.usctl("user", "add", name, "--password-stdin", stdin="pw\n", check=False)
    assert dup.returncode == 2 and "already exists" in dup.stderr
    empty = stack.usctl("user", "add", new_username("e"), "--password-stdin", stdin="\n", check=False)
    assert empty.returncode == 2 and "empty password" in empty.stderr


def test_info_prints_effective_settings_without_secrets(stack: Stack) -> None:
    info = json.loads(stack.usctl("info", "--json").stdout)
    assert info["music_root"] == stack.env["US_MUSIC_ROOT"]
    assert info["public_url"] == stack.public_url
    assert info["control_port"] == int(stack.env["US_CONTROL_PORT"])
    text = json.dumps(info)
    assert stack.env["US_ACCESS_TOKEN_KEY"] not in text
    assert stack.env["US_MEDIA_TOKEN_KEY"] not in text
