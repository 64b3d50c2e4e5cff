"""FrontConnect settings: every value that differs between deployments comes from the env."""

from __future__ import annotations

import math
import os
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import environ
from django.core.exceptions import ImproperlyConfigured

from common.keyformat import key_bytes

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over the file, so a deployment can override a developer's .env.
# FRONTCONNECT_ENV_FILE names another file, or none when empty (the test settings set it so).
ENV_FILE = env.str("FRONTCONNECT_ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE:
    environ.Env.read_env(ENV_FILE, overwrite=False)

KEY_HOWTO = (
    'generate one with: python3 -c "import base64, secrets; '
    'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
)


class SettingRefused(SystemExit):
    """A missing or malformed variable: start-up stops with one sentence naming it.

    A SystemExit, so the operator's terminal shows that sentence alone, not a traceback.
    """


def refuse(sentence: str) -> NoReturn:
    raise SettingRefused(sentence)


def required(name: str) -> str:
    """Return a required variable or stop start-up with one sentence naming it."""
    value = env.str(name, default="")
    if not value:
        refuse(f"{name} is not set: put it in the environment or in .env ({KEY_HOWTO}).")
    return value


def number(
    name: str,
    default: float,
    *,
    what: str,
    whole: bool,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """A number of ``what`` (an int when ``whole``) within its bounds, or one sentence saying so.

    ``what`` completes "NAME must be ...", e.g. "a whole number of minutes, 0 or more".
    """
    raw = env.str(name, default="").strip()
    if not raw:
        return int(default) if whole else float(default)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    fits = math.isfinite(value) and above and below
    if not fits or (whole and not value.is_integer()):
        refuse(f"{name} must be {what}.")
    return int(value) if whole else value


# Upper bounds of durations: a date moved by more than the calendar holds is an OverflowError.
HOURS_A_YEAR = 8760
MINUTES_A_YEAR = HOURS_A_YEAR * 60

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def boolean(name: str, default: bool) -> bool:
    """true/false (also 1/0, yes/no, on/off), or one sentence saying so."""
    raw = env.str(name, default="").strip().lower()
    if not raw:
        return default
    if raw not in TRUE_WORDS | FALSE_WORDS:
        refuse(f"{name} must be true or false (or 1/0, yes/no, on/off).")
    return raw in TRUE_WORDS


def choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive), or one sentence listing them."""
    raw = env.str(name, default=default).strip().upper()
    if raw not in choices:
        refuse(f"{name} must be one of {', '.join(choices)}.")
    return raw


def encryption_key(name: str, value: str) -> str:
    """Check that an encryption key is 32 random bytes in base64 and return it.

    URL-safe and standard base64 both work (``common.keyformat`` decodes every key the same way).
    """
    try:
        key_bytes(value)
    except ValueError:
        refuse(
            f"{name} is malformed: it must be 32 random bytes in URL-safe base64 (44 characters); "
            f"{KEY_HOWTO}."
        )
    return value


DEBUG = boolean("DJANGO_DEBUG", default=False)

SECRET_KEY = required("DJANGO_SECRET_KEY")
if not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure-")):
    refuse(
        "DJANGO_SECRET_KEY is too weak for production: use at least 50 random characters "
        "not starting with 'django-insecure-' "
        '(python3 -c "import secrets; print(secrets.token_urlsafe(50))").'
    )
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])

# The encryption key is deliberately independent of SECRET_KEY: rotating the secret key
# (sessions, CSRF, password resets) must never make stored credentials unreadable.
FRONTCONNECT_ENCRYPTION_KEY = encryption_key(
    "FRONTCONNECT_ENCRYPTION_KEY", required("FRONTCONNECT_ENCRYPTION_KEY")
)
FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = [
    encryption_key("FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS", key)
    for key in env.list("FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS", default=[])
]

# Outgoing mail (alerts): django-environ's EMAIL_URL, e.g. smtp://user:pass@host:587 or
# consolemail:// (the default, which prints each message on the worker's console).
try:
    _email = env.email_url("EMAIL_URL", default="consolemail://")
except ImproperlyConfigured as exc:
    refuse(
        "EMAIL_URL is malformed: use a URL such as smtp://USER:PASSWORD@HOST:587 (smtp+tls:// "
        f"for STARTTLS, smtps:// or smtp+ssl:// for TLS) or consolemail:// ({exc})."
    )
# Parts the URL leaves out (host, port) keep Django's defaults instead of becoming None.
vars().update({key: value for key, value in _email.items() if value not in (None, "")})
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="FrontConnect <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Webhooks call public https addresses only; loopback (http or https) only when this is set, for
# development and tests. A webhook is paused after this many failed calls in a row.
FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = boolean("FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK", False)
FRONTCONNECT_WEBHOOK_PAUSE_AFTER = number(
    "FRONTCONNECT_WEBHOOK_PAUSE_AFTER", 20, what="a whole number of failed calls from 1 to 1000",
    whole=True, low=1, high=1000,
)  # fmt: skip
# Authorization links (connections.links): how long one stays usable at most, and how many one
# person or one API key may make per hour.
FRONTCONNECT_AUTHORIZATION_LINK_HOURS = number(
    "FRONTCONNECT_AUTHORIZATION_LINK_HOURS", 72, what="a whole number of hours from 1 to 720",
    whole=True, low=1, high=720,
)  # fmt: skip
FRONTCONNECT_AUTHORIZATION_LINKS_PER_HOUR = number(
    "FRONTCONNECT_AUTHORIZATION_LINKS_PER_HOUR", 20,
    what="a whole number of links from 1 to 10000", whole=True, low=1, high=10000,
)  # fmt: skip
# Emails and webhook calls wait on other people's servers: they run on their own queue, consumed
# by their own worker processes (README: Production), so a dead receiver never delays checks,
# refreshes or the heartbeat on the default queue ("celery").
FRONTCONNECT_DELIVERIES_QUEUE = "deliveries"
CELERY_TASK_ROUTES = {
    f"alerts.tasks.{name}": {"queue": FRONTCONNECT_DELIVERIES_QUEUE}
    for name in ("transition_notify", "webhook_deliver", "grants_lapse_warn")
}
# History entries (Event) and status transitions older than this are deleted by `pruneevents`
# and the worker's periodic prune.
# At most connections.history.MAX_RETENTION_DAYS (settings import no app).
FRONTCONNECT_HISTORY_RETENTION_DAYS = number(
    "FRONTCONNECT_HISTORY_RETENTION_DAYS", 90, what="a whole number of days from 1 to 36500",
    whole=True, low=1, high=36500,
)  # fmt: skip

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

FRONTCONNECT_BASE_URL = env.str("FRONTCONNECT_BASE_URL", default="http://127.0.0.1:8000").rstrip(
    "/"
)
FRONT_API_URL = env.str("FRONT_API_URL", default="https://api2.frontapp.com").rstrip("/")
FRONT_OAUTH_AUTHORIZE_URL = env.str(
    "FRONT_OAUTH_AUTHORIZE_URL", default="https://app.frontapp.com/oauth/authorize"
)
FRONT_OAUTH_TOKEN_URL = env.str(
    "FRONT_OAUTH_TOKEN_URL", default="https://app.frontapp.com/oauth/token"
)
FRONT_OAUTH_PKCE = boolean("FRONT_OAUTH_PKCE", default=True)
FRONT_HTTP_TIMEOUT = number(
    "FRONT_HTTP_TIMEOUT", 10, what="a number of seconds above 0 and at most 10 (e.g. 2.5)",
    whole=False, low=0, low_open=True, high=10,
)  # fmt: skip
# How long Front may stay unreachable for a connection before a check marks it Offline.
FRONTCONNECT_UNREACHABLE_GRACE_MINUTES = number(
    "FRONTCONNECT_UNREACHABLE_GRACE_MINUTES", 30,
    what=f"a whole number of minutes from 0 to {MINUTES_A_YEAR} (a year)",
    whole=True, low=0, high=MINUTES_A_YEAR,
)  # fmt: skip
# How long writing new tokens back is retried through database errors before the refresh gives
# up (Front has already rotated the refresh token: giving up loses the grant).
FRONTCONNECT_WRITEBACK_RETRY_SECONDS = number(
    "FRONTCONNECT_WRITEBACK_RETRY_SECONDS", 30.0, what="a number of seconds from 0 to 300",
    whole=False, low=0, high=300,
)  # fmt: skip

INSTALLED_APPS = [
    # django.contrib.admin with FrontConnect's admin site (its index groups third-party apps).
    "common.admin_config.FrontConnectAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_celery_beat",
    "common",
    "oauthclients",
    "connections",
    "alerts",
    "teams",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "demo",
]

MIDDLEWARE = [
    # First, so that every answer (a redirect, a 503) carries its X-Request-ID and is logged.
    "common.logs.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the switcher's cookie, else the browser's Accept-Language (English or French).
    "django.middleware.locale.LocaleMiddleware",
    # After the language, so that its refusal page speaks the reader's.
    "connections.middleware.EncryptionKeyMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # The signed-in person's saved language (over LocaleMiddleware's choice) and time zone.
    "common.preferences.PreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in throttling (admin and self-service alike): after 5 failures for one username from
# one address, that pair is locked out for 15 minutes.
AXES_FAILURE_LIMIT = number(
    "FRONTCONNECT_LOGIN_FAILURE_LIMIT", 5, what="a whole number of failed sign-ins, at least 1",
    whole=True, low=1,
)  # fmt: skip
AXES_COOLOFF_TIME = timedelta(
    minutes=number(
        "FRONTCONNECT_LOGIN_LOCKOUT_MINUTES", 15,
        what=f"a whole number of minutes from 1 to {MINUTES_A_YEAR} (a year)",
        whole=True, low=1, high=MINUTES_A_YEAR,
    )
)  # fmt: skip
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

# Error pages and reports hide decorated secrets and secret-named headers in DEBUG too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "common.debug.AlwaysSafeExceptionReporterFilter"

ROOT_URLCONF = "frontconnect.urls"
# Demo mode (`make demo`, a banner on every page, Front replaced by a local stand-in) is on only
# in frontconnect.demo_settings: no variable of the environment turns it on here.
FRONTCONNECT_DEMO = False
ADMIN_URL = env.str("DJANGO_ADMIN_URL", default="admin/")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo.context_processors.demo",
                "common.context_processors.base_url_warning",
            ],
        },
    },
]

WSGI_APPLICATION = "frontconnect.wsgi.application"

DATABASE_ENGINES = {
    "django.db.backends.sqlite3",
    "django.db.backends.postgresql",
    "django.db.backends.mysql",
}
try:
    DATABASES = {
        "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    }
    if DATABASES["default"].get("ENGINE") not in DATABASE_ENGINES:
        raise ValueError("unknown scheme")
except (ImproperlyConfigured, KeyError, ValueError) as exc:
    refuse(
        "DATABASE_URL is malformed: use a URL such as postgres://USER:PASSWORD@HOST:5432/NAME "
        f"or sqlite:////absolute/path/db.sqlite3 ({exc})."
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of failing.
    # WAL lets readers go on beside the writer, and a commit need not wait for the disk (at
    # worst the last commits before a power cut are lost): concurrent checks need both.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
# Reused connections spare every request a connect (on SQLite, also re-reading the schema).
DATABASES["default"]["CONN_MAX_AGE"] = number(
    "DATABASE_CONN_MAX_AGE", 60, what="a whole number of seconds, 0 or more", whole=True, low=0
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# On PostgreSQL each app server process keeps a pool of at most DATABASE_POOL_SIZE connections
# (psycopg's pool), shared by its threads, so connections stay bounded whatever the threads;
# a thread waits up to DATABASE_POOL_TIMEOUT seconds for one. 0 turns the pool off.
DATABASE_POOL_SIZE = number(
    "DATABASE_POOL_SIZE", 8, what="a whole number of connections per process from 0 to 100",
    whole=True, low=0, high=100,
)  # fmt: skip
DATABASE_POOL_TIMEOUT = number(
    "DATABASE_POOL_TIMEOUT", 10, what="a number of seconds from 1 to 60",
    whole=False, low=1, high=60,
)  # fmt: skip
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_SIZE:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DATABASE_POOL_SIZE),
        "max_size": DATABASE_POOL_SIZE,
        "timeout": DATABASE_POOL_TIMEOUT,
        # A connection idle this long is closed, down to min_size.
        "max_idle": 300,
    }
    # The pool keeps the connections; Django must hand each back at the end of a request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Pooled connections are checked on checkout without a round trip (common/postgresql).
    DATABASES["default"]["ENGINE"] = "common.postgresql"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "connections:list"
LOGOUT_REDIRECT_URL = "login"

# Every text is translatable; French is complete (tests/test_translations.py fails on an
# untranslated or fuzzy message). Each app keeps its catalogue in <app>/locale; the project's
# templates and settings in locale/.
LANGUAGES = [("en", "English"), ("fr", "Français")]
# The language of commands, of emails to people without a saved choice, and of pages for a
# browser that asks for neither language.
LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="en")
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(
        f"DJANGO_LANGUAGE_CODE must be one of {', '.join(dict(LANGUAGES))}, not {LANGUAGE_CODE!r}."
    )
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Stored times are UTC; pages and emails show them in the reader's own time zone (UTC unless
# they chose another).
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Sessions hold OAuth state, so they live server-side; Lax (not Strict) keeps the session on
# the top-level redirect back from Front, without which every state check would fail.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = boolean("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = number(
    "DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000,
    what="a whole number of seconds, 0 or more", whole=True, low=0,
)  # fmt: skip
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
BEHIND_PROXY = boolean("DJANGO_BEHIND_PROXY", default=False)
# How many trusted proxies append to X-Forwarded-For in front of this server.
PROXY_HOPS = number(
    "DJANGO_PROXY_HOPS", 1, what="the number of proxies, a whole number at least 1",
    whole=True, low=1,
)  # fmt: skip
if BEHIND_PROXY:
    # Only behind a proxy that overwrites this header; otherwise a client could claim https.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Sign-in throttling counts failures per client address, not per proxy address (which
    # would let anyone lock anyone out). django-axes' own ipware settings need the optional
    # django-ipware package, so its client-address hook takes the trusted entry instead.
    AXES_CLIENT_IP_CALLABLE = "common.proxy.forwarded_client_ip"

# Logs: "text" (one readable line per record) or "json" (one JSON object per line, for a log
# collector). Either way every record carries the request id, user id, API key id and connection
# id of the request or task it was written for (common.logs), and never a secret.
LOG_FORMAT = choice("DJANGO_LOG_FORMAT", "text", ("TEXT", "JSON")).lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "common.logs.JsonFormatter"},
    },
    "filters": {
        # kombu warns "No hostname was supplied" for the embedded broker, which needs none.
        "kombu_no_hostname": {"()": "common.broker.NoHostnameFilter"},
        "context": {"()": "common.logs.ContextFilter"},
        "route_only": {"()": "common.logs.RouteOnlyFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["kombu_no_hostname", "context"],
        }
    },
    "root": {
        "handlers": ["console"],
        "level": choice(
            "DJANGO_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        ),
    },
    "loggers": {
        # These libraries log request headers and token bodies at DEBUG: keep them quiet.
        "urllib3": {"level": "WARNING"},
        "requests_oauthlib": {"level": "WARNING"},
        "oauthlib": {"level": "WARNING"},
        # Django's request records name the URL pattern, not the path (a link's secret) or the
        # query (an OAuth code); the development server's lines in the chosen format too.
        "django.request": {"filters": ["route_only"]},
        "django.server": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["route_only"],
        },
    },
}

# The background worker. Production points CELERY_BROKER_URL at Redis; without it, one machine
# uses an embedded broker kept in files under .celery/ (no service to install; the folders are
# created by whichever process sends a task first: common.broker).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# A message a worker took but never acknowledged (the worker was killed) goes back to the queue
# after this long on Redis, instead of an hour: every task must finish well within it (the
# longest, a periodic check run, waits at most a minute for budgets plus the checks themselves).
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 300}
if CELERY_BROKER_URL == "filesystem://":
    _celery_dir = BASE_DIR / ".celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        # Broadcasts (worker pings, beat's exchanges) would otherwise go to ./control.
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# django-celery-beat's DatabaseScheduler that sends nothing while another scheduler holds the lock.
CELERY_BEAT_SCHEDULER = "connections.beat:LockedDatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Front's rate limit is shared with the company's other integrations: FrontConnect takes at most
# this fraction of it (checks, refreshes and the API proxy together).
FRONTCONNECT_RATE_SHARE = number(
    "FRONTCONNECT_RATE_SHARE", 0.5, what="a fraction above 0 and at most 1 (e.g. 0.5)",
    whole=False, low=0, low_open=True, high=1,
)  # fmt: skip
# Of that share, one API key may take at most FRONTCONNECT_KEY_SHARE through the proxy, and the
# proxy never takes FRONTCONNECT_RESERVED_SHARE, kept for checks and token refreshes.
FRONTCONNECT_KEY_SHARE = number(
    "FRONTCONNECT_KEY_SHARE", 0.5, what="a fraction above 0 and at most 1 (e.g. 0.5)",
    whole=False, low=0, low_open=True, high=1,
)  # fmt: skip
FRONTCONNECT_RESERVED_SHARE = number(
    "FRONTCONNECT_RESERVED_SHARE", 0.2, what="a fraction of at least 0 and below 1 (e.g. 0.2)",
    whole=False, low=0, high=1, high_open=True,
)  # fmt: skip
# The worker tests every connection this often (each at its own minute within the interval), with
# this many checks at once, and refreshes OAuth tokens ahead of expiry only for connections a
# service used within FRONTCONNECT_RECENT_USE_HOURS. The dashboard flags a connection not
# checked in twice the interval. Hours may be fractional (1.5 is 90 minutes).
FRONTCONNECT_CHECK_INTERVAL_HOURS = number(
    "FRONTCONNECT_CHECK_INTERVAL_HOURS", 6,
    what=f"a number of hours above 0 and at most {HOURS_A_YEAR} (e.g. 6 or 1.5)",
    whole=False, low=0, low_open=True, high=HOURS_A_YEAR,
)  # fmt: skip
FRONTCONNECT_CHECK_CONCURRENCY = number(
    "FRONTCONNECT_CHECK_CONCURRENCY", 8, what="a whole number from 1 to 64",
    whole=True, low=1, high=64,
)  # fmt: skip
FRONTCONNECT_RECENT_USE_HOURS = number(
    "FRONTCONNECT_RECENT_USE_HOURS", 24,
    what=f"a number of hours above 0 and at most {HOURS_A_YEAR} (e.g. 24 or 0.5)",
    whole=False, low=0, low_open=True, high=HOURS_A_YEAR,
)  # fmt: skip

# The service API (api/): Bearer API keys only, JSON in and out, errors as {"error", "fields"}.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FrontConnect service API",
    "DESCRIPTION": "Connections to Front for services holding an API key "
    "(Authorization: Bearer fc_live_...).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # The docs page loads Swagger UI from this installation's static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.declare_common_errors",
    ],
    # One schema name per choice set that several fields share.
    "ENUM_NAME_OVERRIDES": {
        "SecretStateEnum": "common.crypto.SecretState",
        "StatusEnum": "connections.models.Status",
        "AuthTypeEnum": "connections.models.AuthType",
    },
}
# How long the Front proxy waits for room in the company's rate budget before answering 429.
FRONTCONNECT_PROXY_BUDGET_WAIT = number(
    "FRONTCONNECT_PROXY_BUDGET_WAIT", 2, what="a number of seconds, 0 or more (e.g. 2 or 0.5)",
    whole=False, low=0,
)  # fmt: skip
# How many proxied calls one API key may have in flight at once, across every process and host
# (api/slots.py); one more is answered 429 with Retry-After.
FRONTCONNECT_PROXY_MAX_PER_KEY = number(
    "FRONTCONNECT_PROXY_MAX_PER_KEY", 4, what="a whole number of calls from 1 to 100",
    whole=True, low=1, high=100,
)  # fmt: skip
# How many proxied calls of one server process do their own work (the key, its slot, the budget,
# the connection) at once; the others wait for a turn without a database connection, so pages,
# /healthz and the admin keep one (common/serving.py). Below DATABASE_POOL_SIZE by default.
FRONTCONNECT_PROXY_WORKING_PER_PROCESS = number(
    "FRONTCONNECT_PROXY_WORKING_PER_PROCESS", max(1, DATABASE_POOL_SIZE - 2) if DATABASE_POOL_SIZE
    else 6, what="a whole number of calls from 1 to 1000", whole=True, low=1, high=1000,
)  # fmt: skip
# A client that stops reading an answer (or sending its request) is abandoned after this many
# seconds without progress, freeing the server's thread (common/serving.py).
FRONTCONNECT_CLIENT_IDLE_TIMEOUT = number(
    "FRONTCONNECT_CLIENT_IDLE_TIMEOUT", 30, what="a number of seconds from 1 to 600",
    whole=False, low=1, high=600,
)  # fmt: skip

# /metrics (Prometheus' text format) answers only a scraper sending "Authorization: Bearer
# <FRONTCONNECT_METRICS_TOKEN>"; unset, /metrics does not exist (404).
FRONTCONNECT_METRICS_TOKEN = env.str("FRONTCONNECT_METRICS_TOKEN", default="").strip()
if FRONTCONNECT_METRICS_TOKEN and (
    len(FRONTCONNECT_METRICS_TOKEN) < 20
    or not all(33 <= ord(char) <= 126 for char in FRONTCONNECT_METRICS_TOKEN)
):
    refuse(
        "FRONTCONNECT_METRICS_TOKEN must be at least 20 printable ASCII characters without "
        'spaces (python3 -c "import secrets; print(secrets.token_urlsafe(32))").'
    )
# Every process of one host (web server workers, Celery workers) writes its counters to files in
# this folder and /metrics adds them up (prometheus-client's multiprocess mode): the variable
# below must be set before prometheus-client is first imported, which settings come before.
# Empty: each process counts alone and /metrics shows only the process that answers it.
# A relative folder is taken from the root, so the web server and the workers agree on it
# whatever directory each was started in.
FRONTCONNECT_METRICS_DIR = env.str("FRONTCONNECT_METRICS_DIR", default=".metrics").strip()
if FRONTCONNECT_METRICS_DIR:
    FRONTCONNECT_METRICS_DIR = str(BASE_DIR / FRONTCONNECT_METRICS_DIR)
    try:
        Path(FRONTCONNECT_METRICS_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        refuse(
            f"FRONTCONNECT_METRICS_DIR ({FRONTCONNECT_METRICS_DIR}) cannot be created: "
            f"{exc.strerror}; name a folder this user may write, or leave it empty."
        )
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = FRONTCONNECT_METRICS_DIR
else:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
