"""FrontConnect settings: every value that differs between deployments comes from the env."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over the file, so a deployment can override a developer's .env.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

KEY_HOWTO = (
    'generate one with: python3 -c "import base64, secrets; '
    'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
)


def required(name: str) -> str:
    """Return a required variable or stop start-up with one sentence naming it."""
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set: put it in the environment or in .env ({KEY_HOWTO})."
        )
    return value


def encryption_key(name: str, value: str) -> str:
    """Check that an encryption key is 32 random bytes in URL-safe base64 and return it."""
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured(
            f"{name} is malformed: it must be 32 random bytes in URL-safe base64 (44 characters); "
            f"{KEY_HOWTO}."
        )
    return value


DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = required("DJANGO_SECRET_KEY")
if not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure-")):
    raise ImproperlyConfigured(
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
    raise ImproperlyConfigured(
        "EMAIL_URL is malformed: use a URL such as smtp://USER:PASSWORD@HOST:587 (smtp+tls:// "
        f"for STARTTLS, smtps:// or smtp+ssl:// for TLS) or consolemail:// ({exc})."
    ) from None
# Parts the URL leaves out (host, port) keep Django's defaults instead of becoming None.
vars().update({key: value for key, value in _email.items() if value not in (None, "")})
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="FrontConnect <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# How often the worker checks each connection; the dashboard flags a connection not checked in
# twice this long.
FRONTCONNECT_CHECK_INTERVAL_HOURS = env.int("FRONTCONNECT_CHECK_INTERVAL_HOURS", default=6)
# History entries (Event) and status transitions older than this are deleted by `pruneevents`
# and the worker's periodic prune.
FRONTCONNECT_HISTORY_RETENTION_DAYS = env.int("FRONTCONNECT_HISTORY_RETENTION_DAYS", default=90)
if FRONTCONNECT_HISTORY_RETENTION_DAYS < 1:
    raise ImproperlyConfigured(
        "FRONTCONNECT_HISTORY_RETENTION_DAYS must be a number of days, at least 1."
    )

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
FRONT_OAUTH_PKCE = env.bool("FRONT_OAUTH_PKCE", default=True)
FRONT_HTTP_TIMEOUT = env.float("FRONT_HTTP_TIMEOUT", default=10.0)
if not 0 < FRONT_HTTP_TIMEOUT <= 10:
    raise ImproperlyConfigured(
        "FRONT_HTTP_TIMEOUT must be a number of seconds above 0 and at most 10."
    )
# How long Front may stay unreachable for a connection before a check marks it Offline.
FRONTCONNECT_UNREACHABLE_GRACE_MINUTES = env.int(
    "FRONTCONNECT_UNREACHABLE_GRACE_MINUTES", default=30
)
if FRONTCONNECT_UNREACHABLE_GRACE_MINUTES < 0:
    raise ImproperlyConfigured("FRONTCONNECT_UNREACHABLE_GRACE_MINUTES must be 0 or more minutes.")

INSTALLED_APPS = [
    "django.contrib.admin",
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
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "connections.middleware.EncryptionKeyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
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
AXES_FAILURE_LIMIT = env.int("FRONTCONNECT_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("FRONTCONNECT_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

ROOT_URLCONF = "frontconnect.urls"
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
    raise ImproperlyConfigured(
        "DATABASE_URL is malformed: use a URL such as postgres://USER:PASSWORD@HOST:5432/NAME "
        f"or sqlite:////absolute/path/db.sqlite3 ({exc})."
    ) from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of failing.
    # WAL lets readers go on beside the writer, and a commit need not wait for the disk (at
    # worst the last commits before a power cut are lost): concurrent checks need both.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
# Reused connections spare every request a connect (on SQLite, also re-reading the schema).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

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

LANGUAGE_CODE = "en-us"
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
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
BEHIND_PROXY = env.bool("DJANGO_BEHIND_PROXY", default=False)
# How many trusted proxies append to X-Forwarded-For in front of this server.
PROXY_HOPS = env.int("DJANGO_PROXY_HOPS", default=1)
if PROXY_HOPS < 1:
    raise ImproperlyConfigured("DJANGO_PROXY_HOPS must be the number of proxies, at least 1.")
if BEHIND_PROXY:
    # Only behind a proxy that overwrites this header; otherwise a client could claim https.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Sign-in throttling counts failures per client address, not per proxy address (which
    # would let anyone lock anyone out). django-axes' own ipware settings need the optional
    # django-ipware package, so its client-address hook takes the trusted entry instead.
    AXES_CLIENT_IP_CALLABLE = "common.proxy.forwarded_client_ip"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # These libraries log request headers and token bodies at DEBUG: keep them quiet.
        "urllib3": {"level": "WARNING"},
        "requests_oauthlib": {"level": "WARNING"},
        "oauthlib": {"level": "WARNING"},
    },
}

# The background worker. Production points CELERY_BROKER_URL at Redis; without it, one machine
# uses an embedded broker kept in files under .celery/ (no service to install).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
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
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Front's rate limit is shared with the company's other integrations: FrontConnect takes at most
# this fraction of it (checks, refreshes and the API proxy together).
FRONTCONNECT_RATE_SHARE = env.float("FRONTCONNECT_RATE_SHARE", default=0.5)
if not 0 < FRONTCONNECT_RATE_SHARE <= 1:
    raise ImproperlyConfigured("FRONTCONNECT_RATE_SHARE must be a fraction above 0 and at most 1.")
# Of that share, one API key may take at most FRONTCONNECT_KEY_SHARE through the proxy, and the
# proxy never takes FRONTCONNECT_RESERVED_SHARE, kept for checks and token refreshes.
FRONTCONNECT_KEY_SHARE = env.float("FRONTCONNECT_KEY_SHARE", default=0.5)
if not 0 < FRONTCONNECT_KEY_SHARE <= 1:
    raise ImproperlyConfigured("FRONTCONNECT_KEY_SHARE must be a fraction above 0 and at most 1.")
FRONTCONNECT_RESERVED_SHARE = env.float("FRONTCONNECT_RESERVED_SHARE", default=0.2)
if not 0 <= FRONTCONNECT_RESERVED_SHARE < 1:
    raise ImproperlyConfigured(
        "FRONTCONNECT_RESERVED_SHARE must be a fraction of at least 0 and below 1."
    )
# The worker tests every connection this often (each at its own minute within the interval), with
# this many checks at once, and refreshes OAuth tokens ahead of expiry only for connections a
# service used within FRONTCONNECT_RECENT_USE_HOURS.
FRONTCONNECT_CHECK_INTERVAL_HOURS = env.float("FRONTCONNECT_CHECK_INTERVAL_HOURS", default=6.0)
FRONTCONNECT_CHECK_CONCURRENCY = env.int("FRONTCONNECT_CHECK_CONCURRENCY", default=8)
FRONTCONNECT_RECENT_USE_HOURS = env.float("FRONTCONNECT_RECENT_USE_HOURS", default=24.0)
if FRONTCONNECT_CHECK_INTERVAL_HOURS <= 0 or FRONTCONNECT_RECENT_USE_HOURS <= 0:
    raise ImproperlyConfigured(
        "FRONTCONNECT_CHECK_INTERVAL_HOURS and FRONTCONNECT_RECENT_USE_HOURS must be hours above 0."
    )
if not 1 <= FRONTCONNECT_CHECK_CONCURRENCY <= 64:
    raise ImproperlyConfigured("FRONTCONNECT_CHECK_CONCURRENCY must be a number from 1 to 64.")

# The service API (api/): Bearer API keys only, JSON in and out, errors as {"error", "fields"}.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
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
    # One schema name per choice set that several fields share.
    "ENUM_NAME_OVERRIDES": {
        "SecretStateEnum": "common.crypto.SecretState",
        "StatusEnum": "connections.models.Status",
        "AuthTypeEnum": "connections.models.AuthType",
    },
}
# How long the Front proxy waits for room in the company's rate budget before answering 429.
FRONTCONNECT_PROXY_BUDGET_WAIT = env.float("FRONTCONNECT_PROXY_BUDGET_WAIT", default=2.0)
