"""Gunicorn settings shared by the three services (uvicorn workers, one master per service).

The bind address and worker count come from the command line or US_GUNICORN_* variables so one
file serves control, events and media alike; systemd, compose and ./dev all use it.
"""

import os

bind = os.environ.get("US_GUNICORN_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("US_GUNICORN_WORKERS", "2"))
worker_class = "us_common.worker.UvicornWorker"
# SSE streams end themselves on shutdown; this is how long a worker gets to finish requests.
graceful_timeout = int(os.environ.get("US_GUNICORN_GRACEFUL_TIMEOUT", "10"))
timeout = 30
keepalive = 75
worker_connections = 20000
# No access log: gunicorn/uvicorn would print query strings (media tokens). Apps log requests.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("US_LOG_LEVEL", "info")
forwarded_allow_ips = "127.0.0.1,::1"
preload_app = True  # import once in the master, fork workers (faster start, shared pages)
proc_name = os.environ.get("US_GUNICORN_NAME", "us-playback")
