"""Settings of ``make demo``: FrontConnect against the local Front stand-in, on 127.0.0.1 only.

Everything the demo writes stays under ``.demo/`` (its own SQLite database and broker folders):
the database of ``make run`` is never opened. Front's URLs point at the stand-in the
``rundemo`` command serves. Demo mode cannot start with DEBUG off (as in production) and the
``demo.E001`` system check stops the commands that run checks if an address leaves this machine.
"""

from __future__ import annotations

from frontconnect.settings import *  # noqa: F403
from frontconnect.settings import BASE_DIR, DATABASES, DEBUG, number, refuse

if not DEBUG:
    refuse(
        "frontconnect.demo_settings runs only with DJANGO_DEBUG=true: the demo is for this "
        "machine (make demo), never for production, which uses frontconnect.settings."
    )

FRONTCONNECT_DEMO = True
DEMO_DIR = BASE_DIR / ".demo"
FRONTCONNECT_DEMO_PORT = number(
    "FRONTCONNECT_DEMO_PORT", 8100, what="a whole number from 1024 to 65534",
    whole=True, low=1024, high=65534,
)  # fmt: skip
# The stand-in for Front listens on the next port.
FRONTCONNECT_DEMO_FRONT_PORT = FRONTCONNECT_DEMO_PORT + 1
_front = f"http://127.0.0.1:{FRONTCONNECT_DEMO_FRONT_PORT}"

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = []
FRONTCONNECT_BASE_URL = f"http://127.0.0.1:{FRONTCONNECT_DEMO_PORT}"
FRONT_API_URL = _front
FRONT_OAUTH_AUTHORIZE_URL = f"{_front}/oauth/authorize"
FRONT_OAUTH_TOKEN_URL = f"{_front}/oauth/token"

# Its own database whatever DATABASE_URL says, with the SQLite options of the main settings.
DATABASES = {
    "default": {
        **DATABASES["default"],
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DEMO_DIR / "demo.sqlite3"),
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        "CONN_MAX_AGE": 60,
    }
}
# Its own embedded broker, so no message crosses between the demo and make run's worker.
CELERY_BROKER_URL = "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(DEMO_DIR / "celery" / "queue"),
    "data_folder_out": str(DEMO_DIR / "celery" / "queue"),
    "processed_folder": str(DEMO_DIR / "celery" / "processed"),
    "control_folder": str(DEMO_DIR / "celery" / "control"),
    "store_processed": False,
}
# Cookies are per host, not per port: other names keep the demo's sign-in apart from make run's.
SESSION_COOKIE_NAME = "frontconnect_demo_session"
CSRF_COOKIE_NAME = "frontconnect_demo_csrftoken"
# Emails are printed on the worker's console.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# A check every 6 minutes, so a newcomer sees the worker at work.
FRONTCONNECT_CHECK_INTERVAL_HOURS = 0.1
