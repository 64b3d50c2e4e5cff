"""gunicorn's settings for FrontConnect: `gunicorn -c gunicorn.conf.py --bind 0.0.0.0:8000`.

The reasoning and the measured figures are in the README (Production deployment). Flags on the
command line win over these values (e.g. `--workers 4` on a machine with 4 cores).
"""

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
