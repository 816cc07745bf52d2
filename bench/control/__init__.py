"""Control throughput benchmark (issue 8): ``python -m bench.control``."""
