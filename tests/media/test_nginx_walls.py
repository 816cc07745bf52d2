"""The project's nginx config on its own, with a stand-in verifier that answers whatever path a
test asks for: proves nginx's second wall (the ``map`` refusing ``..`` and absolute paths) holds
even if the verifier were wrong, that raw UTF-8 in ``X-Media-Path`` opens the right file, and
that nginx passes 401/403 from the verifier through (anything else is nginx's 500, which the
site maps to a 503 with Retry-After so players retry)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.stack import Stack, free_port

TRACK = "0b7c6f1e-2d3a-4c5b-8e9f-a1b2c3d4e5f6"


class StandInVerifier(http.server.BaseHTTPRequestHandler):
    """``?token=<status>.<hex of the path bytes>`` in the original URI decides the answer."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        original = self.headers.get("X-Original-URI", "")
        token = parse_qs(urlsplit(original).query).get("token", ["403."])[0]
        status, _, path_hex = token.partition(".")
        head = f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n".encode()
        if status == "200" and path_hex:
            head += b"X-Media-Path: " + bytes.fromhex(path_hex) + b"\r\n"
        self.wfile.write(head + b"\r\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def walls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("walls")
    root = base / "music"
    (root / "Ünïcode Ålbum").mkdir(parents=True)
    (root / "ok.flac").write_bytes(b"fLaC-ok")
    (root / "Ünïcode Ålbum" / "01 Señal.flac").write_bytes(b"fLaC-unicode")
    (base / "secret.txt").write_bytes(b"secret")
    root.chmod(0o755)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandInVerifier)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "US_NGINX_PORT": str(free_port()),
        "US_CONTROL_PORT": str(free_port()),
        "US_EVENTS_PORT": str(free_port()),
        "US_MEDIA_PORT": str(server.server_address[1]),
        "US_MUSIC_ROOT": str(root),
    }
    stack = Stack(run_dir=base / "run", env=env)
    stack.run_dir.mkdir()
    stack.start_nginx()
    try:
        yield stack.public_url, root
    finally:
        stack.stop()
        server.shutdown()
        server.server_close()


def fetch(walls: tuple[str, Path], status: int, rel_path: bytes) -> httpx.Response:
    url, _ = walls
    return httpx.get(f"{url}/media/tracks/{TRACK}?token={status}.{rel_path.hex()}", timeout=10)


def test_a_catalog_path_is_served(walls: tuple[str, Path]) -> None:
    response = fetch(walls, 200, b"ok.flac")
    assert (response.status_code, response.content) == (200, b"fLaC-ok")
    assert response.headers["content-type"] == "audio/flac"


def test_raw_utf8_in_the_header_opens_the_unicode_file(walls: tuple[str, Path]) -> None:
    response = fetch(walls, 200, "Ünïcode Ålbum/01 Señal.flac".encode())
    assert (response.status_code, response.content) == (200, b"fLaC-unicode")


@pytest.mark.parametrize(
    "rel_path",
    [
        b"../secret.txt",
        "Ünïcode Ålbum/../../secret.txt".encode(),
        b"/etc/passwd",
        b"//etc/passwd",
        b"",
        b"..",
        b".",
        "Ünïcode Ålbum".encode(),
    ],
)
def test_the_second_wall_serves_nothing_that_climbs_or_is_absolute(
    walls: tuple[str, Path], rel_path: bytes
) -> None:
    response = fetch(walls, 200, rel_path)
    assert response.status_code in (403, 404)
    assert b"secret" not in response.content and b"root:" not in response.content


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_pass_through(walls: tuple[str, Path], status: int) -> None:
    response = fetch(walls, status, b"ok.flac")
    assert response.status_code == status
    assert b"fLaC" not in response.content


def test_any_other_verifier_status_is_a_503_to_retry(walls: tuple[str, Path]) -> None:
    """Why /verify answers only 200, 401 or 403 (STYLE.md point 4): anything else fails the
    auth_request (nginx's 500), which the site turns into a 503 to retry — never the file."""
    response = fetch(walls, 404, b"ok.flac")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert b"fLaC" not in response.content
