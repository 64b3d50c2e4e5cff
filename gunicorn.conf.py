"""gunicorn's settings for FrontConnect: `gunicorn -c gunicorn.conf.py --bind 0.0.0.0:8000`.

The reasoning and the measured figures are in the README (Production deployment). Flags on the
command line win over these values (e.g. `--workers 4` on a machine with 4 cores).
"""

import os

wsgi_app = "frontconnect.wsgi:application"
# Threads, not processes, carry the concurrency: a proxied call mostly waits for Front, and a
# waiting thread costs little. The keep-alive connections of idle clients wait in each worker's
# poller, not in a thread. One process per core, each with this many threads.
worker_class = "gthread"
workers = 2
threads = 64
# Waiting clients queue in the kernel beyond this.
backlog = 256
keepalive = 5
# The worker's heartbeat: a process that stops answering its master this long is restarted.
# Slow clients are handled per thread (FRONTCONNECT_CLIENT_IDLE_TIMEOUT), not by this.
timeout = 60
graceful_timeout = 30

# With DJANGO_LOG_FORMAT=json in the environment, gunicorn's own lines (start, workers booting
# and exiting) are JSON objects too, so a log collector reads every line of the server alike.
if os.environ.get("DJANGO_LOG_FORMAT", "").strip().lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            name: {"level": "INFO", "handlers": ["console"], "propagate": False, "qualname": name}
            for name in ("gunicorn.error", "gunicorn.access")
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "filters": {"context": {"()": "common.logs.ContextFilter"}},
        "formatters": {"json": {"()": "common.logs.JsonFormatter"}},
    }


def child_exit(server: object, worker: object) -> None:
    """A worker process ended: its live metrics files go; its counters stay in the sum.

    Runs in the master, which reads the settings (FRONTCONNECT_METRICS_DIR) only for this.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontconnect.settings")
    from common.metrics import process_ended

    process_ended(worker.pid)  # type: ignore[attr-defined]
