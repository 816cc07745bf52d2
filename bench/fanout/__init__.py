"""Fan-out benchmark of the SSE gateway (issue 4): ``python -m bench.fanout --help``."""
