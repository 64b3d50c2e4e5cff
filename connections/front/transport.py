"""How every request reaches Front: pooled sessions, the https rule, rate budget, errors in words.

``_front_call`` is the one path of a request (https rule, budget, errors in words, rate headers
observed); ``oauth`` and ``api`` send through the sessions made here. Endpoints and the timeout
come from settings, read on each call.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
import requests_oauthlib  # noqa: F401 - its loggers must exist before the filter below is added
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from oauthlib.oauth2 import OAuth2Error
from oauthlib.oauth2.rfc6749.errors import InsecureTransportError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from common import metrics
from common.wording import Said, said
from connections.front_types import Budget, FrontError, RateLimit
from connections.front_types import FrontErrorKind as Kind

logger = logging.getLogger(__name__)


class _NoDebug(logging.Filter):
    """Drop DEBUG records: these libraries log the Basic header, the code and the tokens there."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


# A filter on a logger is not inherited by its children, so each existing one gets it; a level
# would not do, since logging configuration may set any logger to DEBUG.
for _name in ["requests_oauthlib", "oauthlib", *logging.root.manager.loggerDict]:
    if _name.split(".")[0] in ("requests_oauthlib", "oauthlib"):
        logging.getLogger(_name).addFilter(_NoDebug())

# Transient failures are retried twice with a short backoff. A POST to the token endpoint is
# retried only when Front cannot have processed it (no connection, or 503): retrying a code or
# refresh token that Front did redeem would spend it twice.
RETRY_STATUSES = {"GET": frozenset({500, 502, 503, 504}), "POST": frozenset({503})}
# Connections kept per pooled session: as many as checks may run at once (at most 64).
POOL_SIZE = 64
LOOPBACK_NAMES = frozenset({"localhost"})

_budget: Budget | None = None


def budget_install(budget: Budget | None) -> None:
    """Make ``budget`` the process-wide rate budget of every call that names a budget key."""
    global _budget
    _budget = budget


@sensitive_variables("token")
def budget_key(*, company_id: str, token: str | None = None) -> str:
    """The rate-budget key: the Front company, else (before Front named it) a token digest."""
    if company_id:
        return f"company:{company_id}"
    return "token:" + hashlib.sha256((token or "").encode("utf-8", "replace")).hexdigest()[:24]


def _timeout() -> float:
    return float(settings.FRONT_HTTP_TIMEOUT)


def _timed_out(exc: BaseException) -> bool:
    """Whether a failed request was a timeout, also when retries wrapped it.

    requests reports a read timeout whose retries ran out as a ``ConnectionError`` around
    urllib3's ``MaxRetryError``: a hanging Front must still read as a timeout.
    """
    if isinstance(exc, requests.Timeout):
        return True
    cause = exc.args[0] if exc.args else None
    if not isinstance(cause, MaxRetryError):
        return False
    # urllib3's NewConnectionError (refused, DNS) subclasses its timeout: it is no timeout.
    reason = cause.reason
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlsplit(url).hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Token requests (code exchange, refresh) end within a total deadline, retries and backoff
# included, so that a refresh lease can be sized to outlast them (connections.tokens): each
# attempt is bounded as a whole by the timeout, and no attempt starts that could end after the
# deadline. Without it, 3 attempts of connect + read would take up to about a minute.
TOKEN_DEADLINE_TIMEOUTS = 2.5
_deadline: ContextVar[float | None] = ContextVar("front_call_deadline", default=None)


def token_call_deadline() -> float:
    """Seconds within which a token request to Front ends, whatever Front does."""
    return TOKEN_DEADLINE_TIMEOUTS * _timeout()


@contextmanager
def deadline_within(seconds: float) -> Iterator[None]:
    """Calls in this block end within ``seconds`` from now (or an enclosing, earlier deadline)."""
    until = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(until if outer is None else min(outer, until))
    try:
        yield
    finally:
        _deadline.reset(token)


class _DeadlineRetry(Retry):
    """Retry that starts no attempt which, with its backoff, could end after the deadline."""

    def is_exhausted(self) -> bool:
        if super().is_exhausted():
            return True
        until = _deadline.get()
        return until is not None and time.monotonic() + self.get_backoff_time() + _timeout() > until


class _DeadlineAdapter(HTTPAdapter):
    """An adapter whose every request ends within ``token_call_deadline()``."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        with deadline_within(token_call_deadline()):
            until = _deadline.get()
            remaining = (until or 0.0) - time.monotonic()
            if remaining <= 0:
                raise requests.Timeout("The deadline passed before the request was sent.")
            each = min(_timeout(), remaining)
            kwargs["timeout"] = Timeout(connect=each, read=each, total=each)
            return super().send(request, *args, **kwargs)


def _retry(method: str | None) -> Retry:
    """Retries for a session sending ``method`` (None: the proxy, which resends nothing Front
    may have seen, since it passes Front's answers on as they came)."""
    tries = 2 if method else 1
    # Read errors and 5xx are retried only for these methods; connect errors for all.
    # (The proxy's read=False and empty status list leave it nothing but connects to retry.)
    allowed = {"GET", "HEAD"} if method == "GET" else {method or "GET"}
    kind = _DeadlineRetry if method == "POST" else Retry
    return kind(
        total=tries,
        # A connect failure sent nothing, so retrying it is safe for any method.
        connect=tries,
        # A read error means the request went out: only an idempotent GET may be sent again.
        # (False, not 0: urllib3 then raises the timeout itself rather than "max retries".)
        read=tries if method == "GET" else False,
        status=tries,
        other=0,
        backoff_factor=0.3 if method else 0,
        status_forcelist=RETRY_STATUSES.get(method or "", frozenset()),
        allowed_methods=frozenset(allowed),
        respect_retry_after_header=False,
        raise_on_status=False,
        raise_on_redirect=False,
    )


def _session_prepare(
    session: requests.Session, method: str | None, *, url: str, pool: int = 1
) -> None:
    # A session shared by many tokens must never carry one company's cookie to another.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    # The environment's proxies and CA bundle are read once, not on every request (requests
    # would scan os.environ and look for a .netrc file each time, and a .netrc entry for the
    # host would replace the bearer header).
    session.proxies = requests.utils.get_environ_proxies(url)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    session.verify = bundle or True
    session.trust_env = False
    kind = _DeadlineAdapter if method == "POST" else HTTPAdapter
    adapter = kind(max_retries=_retry(method), pool_connections=4, pool_maxsize=pool)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


_pooled_sessions: dict[str | None, requests.Session] = {}
_pooled_lock = threading.Lock()


def _pooled(method: str | None) -> requests.Session:
    """The process's keep-alive session to Front's API for one retry policy (see ``_retry``)."""
    session = _pooled_sessions.get(method)
    if session is None:
        with _pooled_lock:
            session = _pooled_sessions.get(method)
            if session is None:
                session = requests.Session()
                _session_prepare(session, method, url=settings.FRONT_API_URL, pool=POOL_SIZE)
                _pooled_sessions[method] = session
    return session


def _api() -> requests.Session:
    """The pooled session for FrontConnect's own API calls: GETs retried on 5xx and lost reads."""
    return _pooled("GET")


def _proxy() -> requests.Session:
    """The pooled session of the service API's proxy: only a failed connect is retried."""
    return _pooled(None)


_insecure_lock = threading.Lock()
_insecure_users = 0


@contextmanager
def _transport_checked(url: str, what: str | Said) -> Iterator[None]:
    """Allow plain http only to this machine (tests' stand-in); oauthlib is told so only then."""
    global _insecure_users
    scheme = urlsplit(url).scheme
    if scheme == "https":
        yield
        return
    if scheme != "http" or not is_loopback_url(url):
        raise FrontError(
            said("front.not_https", what=what, host=_host(url)),
            kind=Kind.REFUSED,
        )
    # oauthlib refuses http unless this variable is set; it is set only while a loopback call
    # runs, after the check above refused every other http URL.
    with _insecure_lock:
        _insecure_users += 1
        if _insecure_users == 1:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        with _insecure_lock:
            _insecure_users -= 1
            if _insecure_users == 0:
                os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)


class _Seen:
    """A response hook that remembers the last answer, for its rate headers."""

    def __init__(self) -> None:
        self.response: requests.Response | None = None

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.response = response

    @property
    def rate(self) -> RateLimit | None:
        if self.response is None:
            return None
        return RateLimit.from_headers(self.response.status_code, self.response.headers)


def _unreachable(url: str, what: str | Said, exc: BaseException) -> FrontError:
    # The exception text can quote the request; only its class name is kept.
    logger.warning("Could not reach %s for %s: %s", _host(url), what, type(exc).__name__)
    return FrontError(
        said("front.unreachable", host=_host(url), what=what),
        kind=Kind.UNREACHABLE,
    )


def _counted(kind: str, seen: _Seen, failure: str, started: float) -> None:
    """Count one request to Front (``metrics``): its status, else why there was none."""
    code: int | str = seen.response.status_code if seen.response is not None else failure
    metrics.front_request(kind, code, time.perf_counter() - started)


@contextmanager
def _front_call(
    url: str, what: str | Said, *, kind: str, budget: Budget | None, key: str
) -> Iterator[_Seen]:
    """The one path of every request to Front: https rule, budget, errors in words, rate seen,
    counted by ``kind`` (me, api, code, refresh) and status."""
    hook = budget if budget is not None else _budget
    seen = _Seen()
    with _transport_checked(url, what):
        if hook is not None and key:
            hook.acquire(key)
        started = time.perf_counter()
        failure = "error"
        try:
            yield seen
        except FrontError as exc:
            exc.rate = exc.rate or seen.rate
            raise
        except (requests.Timeout, requests.ConnectionError) as exc:
            if not _timed_out(exc):
                failure = "unreachable"
                raise _unreachable(url, what, exc) from None
            failure = "timeout"
            raise FrontError(
                said("front.timeout", what=what, seconds=_timeout()),
                kind=Kind.TIMEOUT,
                rate=seen.rate,
            ) from None
        except (requests.RequestException, OSError) as exc:
            failure = "unreachable"
            raise _unreachable(url, what, exc) from None
        except InsecureTransportError:  # pragma: no cover - _transport_checked comes first
            raise FrontError(
                said("front.not_https", what=what, host=_host(url)), kind=Kind.REFUSED
            ) from None
        except OAuth2Error as exc:
            logger.warning("Front's answer to %s was refused by oauthlib: %s", what, exc.error)
            raise FrontError(
                said("front.malformed", what=what, error=exc.error),
                kind=Kind.BAD_RESPONSE,
                rate=seen.rate,
            ) from None
        finally:
            _counted(kind, seen, failure, started)
            if hook is not None and key and seen.rate is not None:
                _observe(hook, key, seen.rate)


def _observe(hook: Budget, key: str, rate: RateLimit) -> None:
    # Learning the rate limit must never lose Front's answer (a rotated refresh token above
    # all): a database blip here is logged, and the budget learns from the next answer.
    try:
        hook.observe(key, rate)
    except Exception as exc:
        logger.warning("Could not record Front's rate headers: %s", type(exc).__name__)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _front_reason(body: dict[str, Any]) -> str:
    """Front's own short explanation from its ``_error`` envelope, if it sent one."""
    envelope = body.get("_error")
    if not isinstance(envelope, dict):
        return ""
    text = envelope.get("message") or envelope.get("title") or ""
    return str(text).strip().rstrip(".")[:200]


def _common_error(response: requests.Response, what: str | Said) -> FrontError:
    """The error for a status that means the same thing on every Front endpoint."""
    status = response.status_code
    rate = RateLimit.from_headers(status, response.headers)
    if status == 429:
        wait = rate.retry_after
        return FrontError(
            said("front.rate_limited")
            if wait is None
            else said("front.rate_limited_for", seconds=wait),
            kind=Kind.RATE_LIMITED,
            retry_after=wait,
            rate=rate,
        )
    if status >= 500:
        return FrontError(
            said("front.unavailable", status=status, what=what),
            kind=Kind.UNAVAILABLE,
            rate=rate,
        )
    if 300 <= status < 400:
        return FrontError(
            said("front.redirect", what=what, status=status),
            kind=Kind.BAD_RESPONSE,
            rate=rate,
        )
    reason = _front_reason(_json(response))
    refused = (
        said("front.refused_because", what=what, status=status, detail=reason)
        if reason
        else said("front.refused", what=what, status=status)
    )
    return FrontError(refused, kind=Kind.REFUSED, rate=rate)
