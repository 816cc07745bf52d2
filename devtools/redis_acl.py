"""Redis ACL users, one per service, from ``infra/redis/users.acl.template`` (the only copy of the rules).

- ``./dev up`` calls ``python -m devtools.redis_acl apply``: ``ACL SETUSER <user> reset …`` for the
  three ``us-*`` users on the local Redis (idempotent; the ``default`` user, other users and the
  data are never touched), passwords generated once into ``run/redis-acl.env`` (0600). The dev
  stack then gives each service its own ``US_REDIS_URL`` (``service_env``); no service sees
  another's password. Users applied this way live until that Redis restarts; ``./dev up``
  applies them again.
- Tests render an ACL file for a throwaway Redis (``render_acl_file``), like compose does with
  ``infra/redis/start-redis.sh``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from devtools.stack import ROOT, SERVICES

TEMPLATE = ROOT / "infra" / "redis" / "users.acl.template"
PASSWORDS_FILE = ROOT / "run" / "redis-acl.env"
SERVICE_USERS: dict[str, str] = {service: f"us-{service}" for service in SERVICES}
PASSWORD_VARS: dict[str, str] = {service: f"US_REDIS_{service.upper()}_PASSWORD" for service in SERVICES}
_PASSWORD_REF = re.compile(r"^>\$\{(US_REDIS_[A-Z]+_PASSWORD)\}$")


def acl_users(template: Path = TEMPLATE) -> dict[str, list[str]]:
    """``{user: [rule, …]}`` in template order, comments and blank lines dropped."""
    users: dict[str, list[str]] = {}
    for line in template.read_text().splitlines():
        words = line.split()
        if words and words[0] == "user":
            users[words[1]] = words[2:]
    return users


def hashed_rules(rules: list[str], passwords: Mapping[str, str]) -> list[str]:
    """Replace ``>${US_REDIS_X_PASSWORD}`` with ``#<sha256>``: Redis never sees the clear text."""
    out = []
    for rule in rules:
        match = _PASSWORD_REF.match(rule)
        if match:
            service = next(s for s, var in PASSWORD_VARS.items() if var == match.group(1))
            rule = "#" + hashlib.sha256(passwords[service].encode()).hexdigest()
        out.append(rule)
    return out


def render_acl_file(passwords: Mapping[str, str], keep_default: bool = False) -> str:
    """The ACL file compose uses. ``keep_default``: leave Redis's own ``default`` user as it is
    (tests keep an admin connection for their fault injection and probes)."""
    lines = []
    for user, rules in acl_users().items():
        if keep_default and user == "default":
            continue
        lines.append(" ".join(["user", user, *hashed_rules(rules, passwords)]))
    return "\n".join(lines) + "\n"


def generate_passwords() -> dict[str, str]:
    return {service: secrets.token_hex(24) for service in SERVICES}


def service_redis_url(base_url: str, service: str, password: str) -> str:
    """``base_url`` (host, port, db, TLS options) with this service's user and password."""
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(SERVICE_USERS[service], safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def service_env(base_url: str, passwords: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Per-service environment for ``devtools.stack.Stack.service_env``."""
    return {
        service: {"US_REDIS_URL": service_redis_url(base_url, service, passwords[service])}
        for service in SERVICES
    }


def apply(redis_url: str, passwords: Mapping[str, str]) -> list[str]:
    """``ACL SETUSER <user> reset <rules>`` for the three service users; returns their names.

    ``reset`` first, in the same command, so re-running gives exactly the template's rules
    (no leftover password or permission) and connections in use are never without a user.
    """
    import redis

    wanted = set(SERVICE_USERS.values())
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        applied = []
        for user, rules in acl_users().items():
            if user in wanted:
                client.execute_command("ACL", "SETUSER", user, "reset", *hashed_rules(rules, passwords))  # type: ignore[no-untyped-call]
                applied.append(user)
        return applied
    finally:
        client.close()


def load_passwords(path: Path | None = None) -> dict[str, str] | None:
    path = path or PASSWORDS_FILE
    if not path.exists():
        return None
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    found = {service: values.get(var, "").strip() for service, var in PASSWORD_VARS.items()}
    return found if all(found.values()) else None


def save_passwords(passwords: Mapping[str, str], path: Path | None = None) -> None:
    path = path or PASSWORDS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("".join(f"{PASSWORD_VARS[s]}={passwords[s]}\n" for s in SERVICES))


def dev_service_env(base_url: str) -> dict[str, dict[str, str]]:
    """What ``./dev up`` gives each service: its own Redis user once ``apply`` has run."""
    passwords = load_passwords()
    return service_env(base_url, passwords) if passwords else {}


def main(argv: list[str]) -> int:
    if argv[:1] == ["render"]:
        # The file compose builds, for a reader who wants to see it (passwords are hashed).
        print(render_acl_file(load_passwords() or generate_passwords()), end="")
        return 0
    if argv[:1] != ["apply"]:
        print("usage: python -m devtools.redis_acl apply|render", file=sys.stderr)
        return 2
    import redis

    from devtools.__main__ import dev_env

    passwords = load_passwords() or generate_passwords()
    try:
        users = apply(dev_env()["US_REDIS_URL"], passwords)
    except redis.RedisError as exc:
        # An old Redis (< 7.0) or one we may not administer: services keep the configured URL.
        print(f"redis ACL users not set up ({exc}); services share US_REDIS_URL", file=sys.stderr)
        PASSWORDS_FILE.unlink(missing_ok=True)
        return 0
    save_passwords(passwords)
    print(f"redis ACL users: {', '.join(users)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
