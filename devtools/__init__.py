"""Developer tooling: the local stack (./dev up, tests, benchmarks) and demo/test FLAC files.

Not deployed: production runs the same gunicorn config and nginx template under systemd.
"""
