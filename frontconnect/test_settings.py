"""Settings for the test suite: the main settings with fixed test keys and speed-ups."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Tests never depend on a developer's .env (a local Front URL in it once failed 21 tests): no
# file of variables is read, wherever FRONTCONNECT_ENV_FILE points.
os.environ["FRONTCONNECT_ENV_FILE"] = ""
# Fixed, obviously fake keys so the suite runs without a .env; real environment values win.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-" + "x" * 50)
os.environ.setdefault("FRONTCONNECT_ENCRYPTION_KEY", "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0hISE=")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
# Counters of the processes of one test run go to a folder of its own, removed at exit.
if "FRONTCONNECT_METRICS_DIR" not in os.environ:
    os.environ["FRONTCONNECT_METRICS_DIR"] = tempfile.mkdtemp(prefix="frontconnect-metrics-")
    atexit.register(shutil.rmtree, os.environ["FRONTCONNECT_METRICS_DIR"], True)

from frontconnect.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Tasks queued by the code under test (alerts, webhooks) run in-process instead of being written
# to the embedded broker; tests of the worker against Redis turn this off for themselves.
CELERY_TASK_ALWAYS_EAGER = True
# Tests run inside a transaction on one connection; the pool (production) hands connections back
# at the end of each request, which would end that transaction. tests/frontconnect checks the
# pool's settings on their own.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
