"""The ``us-speaker`` command: ``pair URL`` once, then ``run`` (what the systemd unit starts)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from us_speaker.config import ConfigError, load_config
from us_speaker.credentials import NotPaired
from us_speaker.daemon import EXIT_UNPAIRED, run_speaker
from us_speaker.pairing import PairingFailed, pair


def _say(line: str) -> None:
    print(line, flush=True)  # noqa: T201 - a person reads this


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="us-speaker", description="A headless UniversalScrobbler speaker.")
    parser.add_argument("--config", help="config file (default: $US_SPEAKER_CONFIG or /etc/us-speaker/config.toml)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)
    pair_cmd = commands.add_parser("pair", help="pair this box with a server (shows a code to approve)")
    pair_cmd.add_argument("url", help="the server's public URL, e.g. https://music.example.org")
    pair_cmd.add_argument("--name", help="the name to propose (the approver may change it)")
    commands.add_parser("run", help="be a speaker (until stopped)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("httpx", "httpcore"):  # their request lines would carry media URLs
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        if args.command == "pair":
            credentials = asyncio.run(pair(args.url, args.name or config.device_name, config.credentials_path, _say))
            _say(f"Paired: this speaker is device {credentials.device_uuid}. Start it with `us-speaker run`.")
            return 0
        return asyncio.run(run_speaker(config))
    except ConfigError as exc:
        _say(f"configuration error: {exc}")
        return 2
    except NotPaired as exc:
        _say(str(exc))
        return EXIT_UNPAIRED
    except PairingFailed as exc:
        _say(f"pairing failed: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
