"""``python -m bench.fanout gateway [--steps 1000,10000] [--rate 1000] [--seconds 10]``.

Not a test: prints figures (and the JSON it derived them from) for the README.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from pathlib import Path

from bench.fanout import gateway


def _raise_fd_limit(wanted: int) -> int:
    """As many descriptors as allowed (root may raise the hard limit too): both ends are local."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(wanted, hard), max(wanted, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    gw = sub.add_parser("gateway", help="one events worker, N idle clients, messages straight to Redis")
    gw.add_argument("--steps", default="1000,10000", help="connection counts to hold, in order")
    gw.add_argument("--rate", type=float, default=1000.0, help="messages per second at the last step")
    gw.add_argument("--seconds", type=float, default=10.0)
    gw.add_argument("--processes", type=int, default=1, help="client processes")
    gw.add_argument("--json", action="store_true", help="print only the JSON result")
    gw.add_argument(
        "--cluster", action="store_true", help="a 3-master Redis Cluster and two events processes (issue 15)"
    )
    e2e_parser = sub.add_parser("e2e", help="full stack: commands through nginx, 2 devices per user on SSE")
    e2e_parser.add_argument("--users", type=int, default=1000)
    e2e_parser.add_argument("--rate", type=float, default=200.0, help="commands per second")
    e2e_parser.add_argument("--seconds", type=float, default=20.0)
    e2e_parser.add_argument("--readers", type=int, default=2, help="SSE reader processes")
    args = parser.parse_args()

    if args.mode == "e2e":
        from bench.fanout import e2e

        _raise_fd_limit(4 * args.users + 4096)
        figures = e2e.run(args.users, args.rate, args.seconds, args.readers)
        print(json.dumps(figures, indent=2))
        p2s, c2s = figures["press_to_screen_ms"], figures["commit_to_screen_ms"]
        print(
            f"\nend to end: {figures['clients']} SSE clients ({args.users} users × 2 devices) through nginx, "
            f"{figures['commands']} commands at {args.rate:g}/s via 2 control workers; "
            f"{figures['events_received']}/{figures['events_expected']} events received; "
            f"command outcomes {figures['outcomes']}.\n"
            f"press → screen p50 {p2s['p50']} ms, p99 {p2s['p99']} ms, max {p2s['max']} ms; "
            f"commit → screen p50 {c2s['p50']} ms, p99 {c2s['p99']} ms, max {c2s['max']} ms"
        )
        return

    steps = tuple(int(s) for s in args.steps.split(","))
    limit = _raise_fd_limit(max(steps) + 4096)
    with tempfile.TemporaryDirectory(prefix="us-bench-fanout-") as tmp:
        if not args.json:
            print(
                f"gateway alone: steps {steps}, {args.rate:g} msg/s for {args.seconds:g} s (fd limit {limit})"
            )
        result = gateway.run(
            gateway.GatewayBenchConfig(
                steps=steps,
                rate=args.rate,
                seconds=args.seconds,
                processes=args.processes,
                run_dir=Path(tmp),
                cluster=args.cluster,
            )
        )
    if args.json:
        print(json.dumps(result))
        return
    print(json.dumps(result, indent=2))
    publish = result["publish"]
    print(
        f"\n{result['redis']}, {result['events_processes']} events process(es) of one worker: "
        f"held {publish['connections']} connections; "
        f"RSS per idle connection {result.get('rss_per_idle_connection_kib')} KiB; "
        f"publish→receipt at {publish['rate_per_s']:g} msg/s: p50 {publish.get('p50_ms')} ms, "
        f"p99 {publish.get('p99_ms')} ms, max {publish.get('max_ms')} ms "
        f"({publish['receipts']}/{publish['expected_receipts']} receipts)"
    )


if __name__ == "__main__":
    main()
