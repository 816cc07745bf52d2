"""``python -m bench.lighthouse [--runs 3]``: Lighthouse scores of the logged-in player.

Lighthouse 12.2.3 (npm, pinned in bench/lighthouse/package-lock.json, installed here with
``npm ci``) drives Debian's Chromium against a throwaway stack holding the demo library, signed
in with the session cookie the web player itself gets. Mobile emulation and throttling are
Lighthouse's defaults. Prints each category's median score over ``--runs`` beside its target
(issue 12): accessibility ≥ 95, performance ≥ 90, best practices ≥ 95. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

import httpx

from devtools.ephemeral import start_stack, stop_stack
from devtools.flacgen import write_demo_library

HERE = Path(__file__).resolve().parent
LIGHTHOUSE = HERE / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
TARGETS = {"accessibility": 95, "performance": 90, "best-practices": 95}
PASSWORD = "lighthouse password that is long enough"


def install() -> None:
    if not LIGHTHOUSE.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=HERE, check=True)


def session_cookie(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        answer = http.post(
            "/auth/session",
            json={"username": "lighthouse", "password": PASSWORD},
            headers={"X-Requested-With": "XMLHttpRequest"},
        )
        answer.raise_for_status()
        return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


def one_run(url: str, cookie: str, out: Path) -> dict[str, float]:
    subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            "--quiet",
            "--output=json",
            f"--output-path={out}",
            f"--only-categories={','.join(TARGETS)}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
            f"--extra-headers={json.dumps({'Cookie': cookie})}",
        ],
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        check=True,
    )
    report = json.loads(out.read_text())
    # Scored is the player, not the login form: the form's fields were laid out with no size.
    nodes = report.get("fullPageScreenshot", {}).get("nodes", {})
    login = [n for n in nodes.values() if n.get("id") == "login-username"]
    if any(n["width"] > 0 for n in login):
        raise SystemExit("Lighthouse scored the login form, not the player (the session cookie was not taken)")
    return {name: round(100 * report["categories"][name]["score"]) for name in TARGETS}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.lighthouse")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    install()
    with tempfile.TemporaryDirectory(prefix="us-bench-lighthouse-") as tmp:
        root = Path(tmp) / "music"
        write_demo_library(root / "Demo")
        stack = start_stack(Path(tmp) / "stack", root, US_LOG_LEVEL="warning")
        try:
            stack.usctl("library", "scan", str(root / "Demo"), "--name", "Demo")
            line = json.dumps({"username": "lighthouse", "password": PASSWORD, "libraries": ["Demo"]})
            stack.usctl("user", "import", "-", stdin=line)
            cookie = session_cookie(stack.public_url)
            url = f"{stack.public_url}/#/library/albums"
            runs = [one_run(url, cookie, Path(tmp) / f"report-{i}.json") for i in range(args.runs)]
        finally:
            stop_stack(stack)
    print(f"Lighthouse 12.2.3, Debian's Chromium, logged-in player at #/library/albums, {args.runs} runs (median)")
    for name, target in TARGETS.items():
        scores = [run[name] for run in runs]
        median = statistics.median(scores)
        met = median >= target
        print(f"  {name:15} {median:5.0f}  (runs {scores})   target >= {target} — {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
