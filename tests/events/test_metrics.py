"""``/metrics`` on every service (issue 15): Prometheus text that promtool accepts, figures that
add up over both gunicorn workers, on the loopback port only — never through the public host.

In tests/events because it needs the gateway's stream helpers; it covers all three services.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import uuid

import httpx
import pytest

from devtools.stack import SERVICES, Stack
from tests.events.conftest import EventStream
from tests.support import UserClient

PROMTOOL = shutil.which("promtool")


def scrape(stack: Stack, service: str) -> str:
    response = httpx.get(f"{stack.service_url(service)}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` (labels in any order); 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        sample, _, number = line.rpartition(" ")
        if sample.split("{")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(number)
    return total


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_pass_promtool(stack: Stack, service: str) -> None:
    assert PROMTOOL, "promtool (Debian's prometheus package; ./dev test installs it)"
    httpx.get(f"{stack.service_url(service)}/healthz", timeout=5)  # at least one request counted
    text = scrape(stack, service)
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    # promtool exits 0 when the text parses; lint remarks (none expected) would go to stdout.
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_are_not_public(stack: Stack, service: str) -> None:
    public = httpx.get(f"{stack.public_url}/metrics", timeout=5)
    assert public.status_code == 404 and "us_http_requests" not in public.text
    proxied = httpx.get(
        f"{stack.service_url(service)}/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=5
    )
    assert proxied.status_code == 404 and "us_http_requests" not in proxied.text


def test_command_counts_add_up_over_both_control_workers(stack: Stack, user: UserClient) -> None:
    route = "/sessions/{session_uuid}/seek"
    before = value(scrape(stack, "control"), "us_http_requests_total", route=route, status="200")
    device = user.register_device("metrics")
    # Fresh connections: nginx spreads them over both control workers.
    for i in range(20):
        response = httpx.post(
            f"{stack.public_url}/sessions/{user.session_uuid}/seek",
            json={"position_ms": 1000 + i, "device_uuid": device},
            headers={"Authorization": f"Bearer {user.token}"},
            timeout=10,
        )
        assert response.status_code in (200, 409), response.text
    statuses = {"200", "409"}
    scrapes = [scrape(stack, "control") for _ in range(4)]  # answered by either worker
    for text in scrapes:
        counted = sum(value(text, "us_http_requests_total", route=route, status=s) for s in statuses)
        assert counted - before >= 20, counted
        assert value(text, "us_http_request_duration_seconds_count", route=route) >= 20
    assert len({value(t, "us_http_requests_total", route=route) for t in scrapes}) == 1  # one figure


async def test_sse_connections_and_messages_are_counted(
    stack: Stack, user: UserClient, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    devices = [user.register_device(f"screen {i}") for i in range(3)]
    before = scrape(stack, "events")
    opened = [await EventStream.open(public_http, d, user.token) for d in devices]
    streams.extend(opened)
    for stream in opened:
        await stream.next(names={"snapshot"})
    assert value(scrape(stack, "events"), "us_events_sse_connections") >= 3
    response = await public_http.post(
        f"/sessions/{user.session_uuid}/volume",
        json={"volume_percent": 33},
        headers={"Authorization": f"Bearer {user.token}"},
    )
    assert response.status_code == 200, response.text
    for stream in opened:
        await stream.next(names={"options_change", "timeline_update"})
    after = scrape(stack, "events")
    forwarded = value(after, "us_events_messages_forwarded_total") - value(before, "us_events_messages_forwarded_total")
    assert forwarded >= 1
    await asyncio.gather(*(stream.close() for stream in opened))
    for _ in range(50):  # closing takes a moment
        if value(scrape(stack, "events"), "us_events_sse_connections") <= value(before, "us_events_sse_connections"):
            break
        await asyncio.sleep(0.1)
    assert value(scrape(stack, "events"), "us_events_sse_connections") <= value(before, "us_events_sse_connections")


async def test_streams_and_refused_streams_are_counted_under_the_route(
    stack: Stack, user: UserClient, public_http: httpx.AsyncClient, streams: list[EventStream]
) -> None:
    """``GET /events`` is served in front of the router (us_events.api.events_endpoint): a stream
    and a refusal are still counted under the route's template, with their status."""
    device = user.register_device("counted screen")

    def counted(status: str) -> float:
        text = scrape(stack, "events")
        return value(text, "us_http_requests_total", route="/events", method="GET", status=status)

    ok_before, missing_before = counted("200"), counted("404")
    stream = await EventStream.open(public_http, device, user.token)
    streams.append(stream)
    await stream.next(names={"snapshot"})
    bearer = {"Authorization": f"Bearer {user.token}"}
    refused = await public_http.get("/events", params={"device_uuid": str(uuid.uuid4())}, headers=bearer)
    assert refused.status_code == 404 and refused.json() == {"detail": "device not found"}
    await stream.close()
    # A request is counted when it ends, just after its last byte went out: wait for both.
    for _ in range(50):
        if counted("404") > missing_before and counted("200") > ok_before:
            break
        await asyncio.sleep(0.1)
    assert counted("404") > missing_before
    assert counted("200") > ok_before


def test_media_verdicts_are_counted(stack: Stack) -> None:
    text = scrape(stack, "media")
    before = sum(value(text, "us_media_verdicts_total", status=s) for s in ("401", "403"))
    for _ in range(3):  # a URI without a token: nginx would get 401
        response = httpx.get(
            f"{stack.service_url('media')}/verify", headers={"X-Original-URI": "/media/tracks/x.flac"}, timeout=5
        )
        assert response.status_code in (401, 403)
    text = scrape(stack, "media")
    refused = sum(value(text, "us_media_verdicts_total", status=s) for s in ("401", "403"))
    assert refused - before >= 3, (before, refused)
