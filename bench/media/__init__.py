"""``python -m bench.media``: what auth_request costs when nginx serves FLAC files.

One run, one file, one client: nginx + auth_request (production) vs nginx serving the same file
without auth (the ceiling, a bench-only location) vs the media service streaming by itself
(``US_SELF_STREAM=true``). Whole-file and 1 MiB Range throughput, p50/p99 of small Range
requests (seeks). Not a test: it prints a table for docs/MEDIA.md.
"""
