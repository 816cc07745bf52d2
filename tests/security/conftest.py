"""A production-shaped Redis for least-privilege tests: a throwaway server with the project's ACL
file (one user per service, from ``infra/redis/users.acl.template``) and TLS, and a stack whose
three services each reach it as their own user over ``rediss://``.

The throwaway keeps its ``default`` user (no password) so the tests can inject and inspect; the
services never use it. ACL rules are never applied to the machine's shared Redis from tests.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from devtools.redis_acl import render_acl_file, service_env, service_redis_url
from devtools.stack import SERVICES, Stack, free_port
from devtools.throwaway import ThrowawayRedis
from tests.conftest import start_stack, stop_stack


@dataclass
class LockedRedis:
    server: ThrowawayRedis
    passwords: dict[str, str]
    tls_port: int | None  # None when openssl is missing: the services then use the plain port
    ca_file: Path | None

    @property
    def admin_url(self) -> str:
        """The throwaway's own ``default`` user on the plain port (tests only)."""
        return self.server.url

    @property
    def service_base_url(self) -> str:
        if self.tls_port is None or self.ca_file is None:
            return self.server.url
        return f"rediss://127.0.0.1:{self.tls_port}/0?ssl_ca_certs={quote(str(self.ca_file), safe='/')}"

    def url(self, service: str) -> str:
        return service_redis_url(self.service_base_url, service, self.passwords[service])


def self_signed_certificate(directory: Path) -> tuple[Path, Path] | None:
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "redis.crt", directory / "redis.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LockedRedis]:
    workdir = tmp_path_factory.mktemp("locked-redis")
    passwords = {service: secrets.token_hex(24) for service in SERVICES}
    acl_file = workdir / "users.acl"
    acl_file.write_text(render_acl_file(passwords, keep_default=True))
    extra = ["--aclfile", str(acl_file)]
    tls_port = None
    certificate = self_signed_certificate(workdir)
    if certificate is not None:
        cert, key = certificate
        tls_port = free_port()
        extra += ["--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
        extra += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    server = ThrowawayRedis(workdir, extra=extra)
    server.start()
    try:
        yield LockedRedis(server, passwords, tls_port, certificate[0] if certificate else None)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def locked_stack(
    tmp_path_factory: pytest.TempPathFactory, music_root: Path, locked_redis: LockedRedis
) -> Iterator[Stack]:
    """Like ``tests.conftest.start_stack``, plus a Redis user per service (``Stack.service_env``).
    ``stack.env`` keeps the admin URL: usctl and the tests' probes are not services."""
    stack = start_stack(
        tmp_path_factory.mktemp("locked-stack"),
        music_root,
        service_env=service_env(locked_redis.service_base_url, locked_redis.passwords),
        US_REDIS_URL=locked_redis.admin_url,
        US_RATE_LIMIT_MEDIA_TOKEN="3/minute",
    )
    try:
        stack.usctl("library", "scan", str(music_root / "Library"), "--name", "Library")
        yield stack
    finally:
        stop_stack(stack)
