"""``python -m devtools.screenshots``: refresh docs/WEB.md's pictures from an E2E run.

The E2E tests write their screenshots to ``test-artifacts/e2e/`` (real Chromium, the real stack,
laptop 1280×800 and phone 390×844). This runs the tests that take the documented ones and copies
those into ``docs/img/``, so the pictures in the docs are what the suite last saw.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from devtools.stack import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
DOCS_IMG = ROOT / "docs" / "img"
# docs/img name ← E2E screenshot, and the tests that make them.
SHOTS = {
    "laptop-albums.png": "browse-laptop-A.png",
    "phone-albums.png": "browse-phone-A.png",
    "laptop-playing.png": "daily-use-A.png",
    "phone-queue.png": "queue-B.png",
    "phone-add-a-speaker.png": "pair-phone.png",
}
TESTS = [
    "tests/e2e/test_browse.py",
    "tests/e2e/test_daily_use.py::test_words_keys_and_the_offline_banner",
    "tests/e2e/test_player.py::test_like_queue_next_prev_and_options_from_either_device",
    "tests/e2e/test_pair_and_scrobble.py",
]


def main() -> int:
    if "--no-run" not in sys.argv:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", *TESTS], cwd=ROOT, check=False)
        if result.returncode != 0:
            return result.returncode
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    for target, source in SHOTS.items():
        shutil.copyfile(ARTIFACTS / source, DOCS_IMG / target)
        print(f"docs/img/{target} ← test-artifacts/e2e/{source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
