"""Least privilege in the deployment files (no stack needed): who may reach Postgres, and as whom
each service reaches Redis.

Postgres: control is the only service with a database role (``us_control``, owner of its
database: migrations and runtime). events and media have no database access in this design —
no credentials in their env files, no driver in their packages, no import of one in their code;
what they need from Postgres they ask control over HTTP (``/internal``, a service token).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from devtools.redis_acl import SERVICE_USERS, acl_users
from devtools.stack import ROOT

DATABASE_MODULES = {"sqlalchemy", "sqlmodel", "asyncpg", "psycopg", "psycopg2", "alembic", "us_control"}


def env_file(name: str) -> dict[str, str]:
    path = ROOT / "infra" / "env" / f"{name}.env.example"
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def imported_modules(package: Path) -> set[str]:
    found: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("service", ["events", "media"])
def test_events_and_media_have_no_database_access(service: str) -> None:
    assert not imported_modules(ROOT / "services" / service / "src") & DATABASE_MODULES
    project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
    dependencies = " ".join(project["project"]["dependencies"]).lower()
    assert not any(module in dependencies for module in ("sqlalchemy", "sqlmodel", "asyncpg", "psycopg"))
    for name in ("common", service):
        assert "US_DATABASE_URL" not in env_file(name), name


def test_control_is_the_only_database_user_and_owns_it_as_us_control() -> None:
    assert env_file("control")["US_DATABASE_URL"].startswith("postgresql+asyncpg://us_control:")


@pytest.mark.parametrize("service", ["control", "events", "media"])
def test_each_service_reaches_redis_as_its_own_acl_user(service: str) -> None:
    url = env_file(service)["US_REDIS_URL"]
    assert url.split("://", 1)[1].startswith(f"{SERVICE_USERS[service]}:")
    assert "US_REDIS_URL" not in env_file("common")
    assert SERVICE_USERS[service] in acl_users()


def test_no_service_user_may_administer_redis() -> None:
    for user in SERVICE_USERS.values():
        rules = acl_users()[user]
        assert "-@all" in rules and not any(r in rules for r in ("+@all", "allcommands", "~*", "allkeys"))
        assert not any(
            r.startswith(("+acl", "+config", "+flush", "+keys", "+debug", "+shutdown")) for r in rules
        )
