"""Gunicorn settings shared by the three services (uvicorn workers, one master per service).

The bind address and worker count come from the command line or US_GUNICORN_* variables so one
file serves control, events and media alike; systemd, compose and ./dev all use it.
"""

import os
import tempfile

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
# Preloading imports the app once in the master (faster start, shared pages), but then a reload
# (SIGHUP) forks workers that still run the master's code. A deployed release turns it off
# (US_GUNICORN_PRELOAD=false: systemd units, devtools.deploy) so a reload swaps in new code.
preload_app = os.environ.get("US_GUNICORN_PRELOAD", "true").strip().lower() != "false"
proc_name = os.environ.get("US_GUNICORN_NAME", "us-playback")

# prometheus-client's multiprocess mode (us_common.metrics): each worker writes its own files in
# one directory per running service, which the master empties at start (on_starting runs after
# the preloaded app is imported and before any worker exists). The directory must exist before
# the app is imported: the client picks its mode and opens its files at import.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"{proc_name}-{bind.rsplit(':', 1)[-1]}-metrics"),
)
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def on_starting(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    from us_common.metrics import reset_multiprocess_dir

    reset_multiprocess_dir()


def child_exit(server, worker):  # noqa: ANN001, ANN201
    from us_common.metrics import worker_exited

    worker_exited(worker.pid)
