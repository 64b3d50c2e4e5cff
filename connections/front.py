"""The one client for Front: every HTTP call to Front's OAuth and API endpoints goes through here.

This is the only module that imports ``requests``, ``requests_oauthlib`` and ``oauthlib``. The
OAuth 2.0 exchange (authorize URL with state and PKCE S256, code exchange, refresh) runs through
``requests_oauthlib.OAuth2Session`` with HTTP Basic client authentication; Front's quirks live in
its compliance hooks. Every request passes through ``_front_call`` (rate budget, errors in words,
rate headers observed). Endpoints and the timeout come from settings, read on each call.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient
from oauthlib.oauth2.rfc6749.errors import InsecureTransportError
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session
from urllib3.util.retry import Retry

from common.text import is_secret_text
from connections.front_types import (
    ApiResponse,
    Budget,
    Company,
    FrontError,
    FrontErrorKind,
    RateLimit,
    TokenResponse,
)

__all__ = [
    "ApiResponse",
    "Budget",
    "Company",
    "FrontError",
    "FrontErrorKind",
    "RateLimit",
    "TokenResponse",
]

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

Kind = FrontErrorKind
DEFAULT_LIFETIME = 3600
# A rate-limited GET /me is retried once when Front asks for at most this many seconds.
MAX_RETRY_WAIT = 2.0
# Transient failures are retried twice with a short backoff. A POST to the token endpoint is
# retried only when Front cannot have processed it (no connection, or 503): retrying a code or
# refresh token that Front did redeem would spend it twice.
RETRY_STATUSES = {"GET": frozenset({500, 502, 503, 504}), "POST": frozenset({503})}
POOL_SIZE = 32
LOOPBACK_NAMES = frozenset({"localhost"})

_budget: Budget | None = None


def budget_install(budget: Budget | None) -> None:
    """Make ``budget`` the process-wide rate budget of every call that names a budget key."""
    global _budget
    _budget = budget


@sensitive_variables("token")
def budget_key(*, company_id: str, token: str) -> str:
    """The rate-budget key: the Front company, else (before Front named it) a token digest."""
    if company_id:
        return f"company:{company_id}"
    return "token:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:24]


def _timeout() -> float:
    return float(settings.FRONT_HTTP_TIMEOUT)


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


def _retry(method: str) -> Retry:
    return Retry(
        total=2,
        connect=2,
        # A read error means the request went out: only an idempotent GET may be sent again.
        # (False, not 0: urllib3 then raises the timeout itself rather than "max retries".)
        read=2 if method == "GET" else False,
        status=2,
        other=0,
        backoff_factor=0.3,
        status_forcelist=RETRY_STATUSES.get(method, frozenset()),
        # Read errors and 5xx are retried only for these methods; connect errors for all.
        allowed_methods=frozenset({method, "HEAD"} if method == "GET" else {method}),
        respect_retry_after_header=False,
        raise_on_status=False,
        raise_on_redirect=False,
    )


def _session_prepare(session: requests.Session, method: str, pool: int = 1) -> None:
    # A session shared by many tokens must never carry one company's cookie to another.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(max_retries=_retry(method), pool_connections=4, pool_maxsize=pool)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


_api_session: requests.Session | None = None
_api_session_lock = threading.Lock()


def _api() -> requests.Session:
    """The process's pooled session for Front's API, so checks and the proxy keep connections."""
    global _api_session
    with _api_session_lock:
        if _api_session is None:
            session = requests.Session()
            _session_prepare(session, "GET", pool=POOL_SIZE)
            _api_session = session
        return _api_session


_insecure_lock = threading.Lock()
_insecure_users = 0


@contextmanager
def _transport_checked(url: str, what: str) -> Iterator[None]:
    """Allow plain http only to this machine (tests' stand-in); oauthlib is told so only then."""
    global _insecure_users
    scheme = urlsplit(url).scheme
    if scheme == "https":
        yield
        return
    if scheme != "http" or not is_loopback_url(url):
        raise FrontError(
            f"FrontConnect talks to Front only over https, but the URL for {what} is not https "
            f"({_host(url)}); fix the Front URLs in the settings.",
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


@contextmanager
def _front_call(url: str, what: str, *, budget: Budget | None, key: str) -> Iterator[_Seen]:
    """The one path of every request to Front: https rule, budget, errors in words, rate seen."""
    hook = budget if budget is not None else _budget
    seen = _Seen()
    with _transport_checked(url, what):
        if hook is not None and key:
            hook.acquire(key)
        try:
            yield seen
        except FrontError as exc:
            exc.rate = exc.rate or seen.rate
            raise
        except requests.Timeout:
            raise FrontError(
                f"Front did not answer {what} within {_timeout():g} seconds; try again later.",
                kind=Kind.TIMEOUT,
                rate=seen.rate,
            ) from None
        except (requests.RequestException, OSError) as exc:
            # The exception text can quote the request; only its class name is kept.
            logger.warning("Could not reach %s for %s: %s", _host(url), what, type(exc).__name__)
            raise FrontError(
                f"Could not reach Front at {_host(url)} ({what}); check the network and the "
                "Front URLs in the settings.",
                kind=Kind.UNREACHABLE,
            ) from None
        except InsecureTransportError:  # pragma: no cover - _transport_checked comes first
            raise FrontError(f"The URL for {what} is not https.", kind=Kind.REFUSED) from None
        except OAuth2Error as exc:
            logger.warning("Front's answer to %s was refused by oauthlib: %s", what, exc.error)
            raise FrontError(
                f"Front's answer to {what} was malformed ({exc.error}).",
                kind=Kind.BAD_RESPONSE,
                rate=seen.rate,
            ) from None
        finally:
            if hook is not None and key and seen.rate is not None:
                hook.observe(key, seen.rate)


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


def _common_error(response: requests.Response, what: str) -> FrontError:
    """The error for a status that means the same thing on every Front endpoint."""
    status = response.status_code
    rate = RateLimit.from_headers(status, response.headers)
    if status == 429:
        wait = rate.retry_after
        after = f"try again in {wait:g} seconds" if wait is not None else "try again in a minute"
        return FrontError(
            f"Front is rate limiting requests for this company: {after}.",
            kind=Kind.RATE_LIMITED,
            retry_after=wait,
            rate=rate,
        )
    if status >= 500:
        return FrontError(
            f"Front is unavailable right now (HTTP {status} from {what}); try again in a few "
            "minutes.",
            kind=Kind.UNAVAILABLE,
            rate=rate,
        )
    if 300 <= status < 400:
        return FrontError(
            f"Front answered {what} with a redirect (HTTP {status}), which FrontConnect does not "
            "follow; check the Front URLs in the settings.",
            kind=Kind.BAD_RESPONSE,
            rate=rate,
        )
    reason = _front_reason(_json(response))
    detail = f": {reason}" if reason else ""
    return FrontError(
        f"Front refused {what} (HTTP {status}{detail}).", kind=Kind.REFUSED, rate=rate
    )


# --- OAuth 2.0 through requests-oauthlib ---------------------------------------------------


def code_verifier_new() -> str:
    """A PKCE verifier of 43 characters (RFC 7636 4.1), made by oauthlib."""
    return str(WebApplicationClient(None).create_code_verifier(43))


@sensitive_variables("verifier")
def code_challenge(verifier: str) -> str:
    """The S256 challenge of a PKCE verifier: BASE64URL(SHA256(verifier)) without padding."""
    client = WebApplicationClient(None)
    return str(client.create_code_challenge(verifier, code_challenge_method="S256"))


def issuer() -> str:
    """The issuer FrontConnect expects in an ``iss`` callback parameter: the authorize origin."""
    parts = urlsplit(settings.FRONT_OAUTH_AUTHORIZE_URL)
    return f"{parts.scheme}://{parts.netloc}"


@sensitive_variables("state", "challenge")
def authorize_url(
    *, client_id: str, redirect_uri: str, state: str, scopes: list[str], challenge: str | None
) -> str:
    """Front's authorize URL for the authorization-code grant, with PKCE S256 when given."""
    base = settings.FRONT_OAUTH_AUTHORIZE_URL
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"} if challenge else {}
    session = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=scopes or None)
    with _transport_checked(base, "the authorize page"):
        url, _state = session.authorization_url(base, state=state, **extra)
    return str(url)


@sensitive_variables("body", "access", "refresh")
def parse_token_response(body: dict[str, Any], *, now: float | None = None) -> TokenResponse:
    """Parse a token response: ``expires_at`` in Unix seconds, else ``expires_in``, else 1 hour."""
    now = time.time() if now is None else now
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise FrontError(
            "Front's token response was malformed: it has no access token.", kind=Kind.BAD_RESPONSE
        )
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise FrontError(
            "Front's token response was malformed: the token type is not Bearer.",
            kind=Kind.BAD_RESPONSE,
        )
    refresh = body.get("refresh_token") or ""
    if not isinstance(refresh, str):
        raise FrontError(
            "Front's token response was malformed: the refresh token is not text.",
            kind=Kind.BAD_RESPONSE,
        )
    try:
        if body.get("expires_at") is not None:
            expires = float(body["expires_at"])
        elif body.get("expires_in") is not None:
            expires = now + float(body["expires_in"])
        else:
            expires = now + DEFAULT_LIFETIME
        expires_at = datetime.fromtimestamp(expires, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise FrontError(
            "Front's token response was malformed: the expiry is not a time.",
            kind=Kind.BAD_RESPONSE,
        ) from None
    return TokenResponse(access_token=access, refresh_token=refresh, expires_at=expires_at)


@sensitive_variables("body")
def _token_error(response: requests.Response, body: dict[str, Any]) -> FrontError:
    what = "the token request"
    error = body.get("error") if isinstance(body.get("error"), str) else ""
    logger.warning(
        "Front's token endpoint answered HTTP %s (%s).", response.status_code, error or "no code"
    )
    rate = RateLimit.from_headers(response.status_code, response.headers)
    if error == "invalid_grant":
        return FrontError(
            "Front no longer accepts this authorization (it expired, was already used or was "
            "revoked): authorize the connection again.",
            kind=Kind.INVALID_GRANT,
            rate=rate,
        )
    if error == "invalid_client" or response.status_code == 401:
        return FrontError(
            "Front rejected the OAuth 2.0 client: check its client ID and client secret against "
            "the Front app.",
            kind=Kind.INVALID_CLIENT,
            rate=rate,
        )
    if error and error.replace("_", "").isalpha() and response.status_code < 500:
        return FrontError(f"Front refused {what} ({error[:40]}).", kind=Kind.REFUSED, rate=rate)
    return _common_error(response, what)


@sensitive_variables("body", "tokens")
def _token_response_hook(response: requests.Response) -> requests.Response:
    """Front's quirks, before oauthlib parses: its errors become FrontError, the body is made
    standard (``expires_at`` in Unix seconds kept, ``token_type`` Bearer when missing)."""
    body = _json(response)
    if response.status_code != 200:
        raise _token_error(response, body)
    if not body:
        raise FrontError(
            "Front's token response was malformed: it is not a JSON object.",
            kind=Kind.BAD_RESPONSE,
        )
    tokens = parse_token_response(body)
    standard: dict[str, Any] = {
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_at": tokens.expires_at.timestamp(),
    }
    if tokens.refresh_token:
        standard["refresh_token"] = tokens.refresh_token
    response._content = json.dumps(standard).encode()
    return response


class _FrontOAuth2Session(OAuth2Session):
    """OAuth2Session that never follows a redirect (fetch_token cannot be told so)."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


@sensitive_variables("client_secret")
def _oauth_session(client_id: str, client_secret: str, redirect_uri: str | None = None) -> Any:
    if not is_secret_text(client_id) or not is_secret_text(client_secret):
        raise FrontError(
            "The OAuth 2.0 client's ID or secret contains characters Front never issues (only "
            "printable ASCII without spaces): enter them again on the client's page.",
            kind=Kind.INVALID_CLIENT,
        )
    session = _FrontOAuth2Session(client_id, redirect_uri=redirect_uri)
    _session_prepare(session, "POST")
    session.register_compliance_hook("access_token_response", _token_response_hook)
    session.register_compliance_hook("refresh_token_response", _token_response_hook)
    return session


def _token_of(token: dict[str, Any], rate: RateLimit | None) -> TokenResponse:
    parsed = parse_token_response(dict(token))
    return TokenResponse(parsed.access_token, parsed.refresh_token, parsed.expires_at, rate)


@sensitive_variables("client_secret", "code", "code_verifier", "token")
def exchange_code(
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
    budget: Budget | None = None,
    budget_key: str = "",
) -> TokenResponse:
    """Redeem an authorization code for tokens (never sent twice)."""
    url = settings.FRONT_OAUTH_TOKEN_URL
    session = _oauth_session(client_id, client_secret, redirect_uri)
    extra = {"code_verifier": code_verifier} if code_verifier else {}
    with _front_call(url, "the token request", budget=budget, key=budget_key) as seen:
        session.hooks["response"].append(seen)
        token = session.fetch_token(
            url,
            code=code,
            auth=HTTPBasicAuth(client_id, client_secret),
            include_client_id=False,
            timeout=_timeout(),
            **extra,
        )
    return _token_of(token, seen.rate)


@sensitive_variables("client_secret", "refresh_token", "token")
def refresh_tokens(
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    budget: Budget | None = None,
    budget_key: str = "",
) -> TokenResponse:
    """Trade a refresh token for a new access token; the refresh token is kept if none comes."""
    url = settings.FRONT_OAUTH_TOKEN_URL
    session = _oauth_session(client_id, client_secret)
    with _front_call(url, "the token request", budget=budget, key=budget_key) as seen:
        session.hooks["response"].append(seen)
        token = session.refresh_token(
            url,
            refresh_token=refresh_token,
            auth=HTTPBasicAuth(client_id, client_secret),
            timeout=_timeout(),
        )
    return _token_of(token, seen.rate)


# --- Front's API -------------------------------------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    if not is_secret_text(token):
        raise FrontError(
            "The stored token contains characters that Front never issues (only printable ASCII "
            "without spaces), so it cannot be sent: enter it again, or authorize again.",
            kind=Kind.UNAUTHORIZED,
        )
    return {"Authorization": f"Bearer {token}"}


@sensitive_variables("headers", "kwargs")
def _api_send(
    method: str, path: str, what: str, *, budget: Budget | None, key: str, **kwargs: Any
) -> requests.Response:
    url = settings.FRONT_API_URL.rstrip("/") + "/" + path.lstrip("/")
    with _front_call(url, what, budget=budget, key=key) as seen:
        return _api().request(
            method,
            url,
            timeout=_timeout(),
            allow_redirects=False,
            hooks={"response": seen},
            **kwargs,
        )


@sensitive_variables("token", "headers")
def me(*, token: str, budget: Budget | None = None, budget_key: str = "") -> Company:
    """``GET /me`` with a bearer token: the Front company the token belongs to."""
    what = "GET /me"
    headers = {**_bearer(token), "Accept": "application/json"}
    response = _api_send("GET", "/me", what, budget=budget, key=budget_key, headers=headers)
    if response.status_code == 429:
        wait = RateLimit.from_headers(429, response.headers).retry_after
        if wait is not None and wait <= MAX_RETRY_WAIT:
            time.sleep(wait)
            response = _api_send("GET", "/me", what, budget=budget, key=budget_key, headers=headers)
    rate = RateLimit.from_headers(response.status_code, response.headers)
    if response.status_code == 200:
        body = _json(response)
        company_id, name = body.get("id"), body.get("name")
        if not isinstance(company_id, str) or not company_id or not isinstance(name, str):
            raise FrontError(
                "Front's answer to GET /me was malformed: it names no company.",
                kind=Kind.BAD_RESPONSE,
                rate=rate,
            )
        return Company(id=company_id[:100], name=name[:200], rate=rate)
    reason = _front_reason(_json(response))
    detail = f" ({reason})" if reason else ""
    if response.status_code == 401:
        raise FrontError(f"Front rejected the token{detail}.", kind=Kind.UNAUTHORIZED, rate=rate)
    if response.status_code == 403:
        raise FrontError(
            f"The token lacks a permission Front requires{detail}.", kind=Kind.FORBIDDEN, rate=rate
        )
    raise _common_error(response, what)


@sensitive_variables("token", "headers", "body")
def api_request(
    method: str,
    path: str,
    *,
    token: str,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    content_type: str = "",
    budget: Budget | None = None,
    budget_key: str = "",
) -> ApiResponse:
    """One call to Front's API with a bearer token, answered as it came (the API's proxy).

    Only GET is retried (on 5xx and lost connections); errors without an answer raise FrontError.
    """
    headers = {**_bearer(token), "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    what = f"{method.upper()} {urlsplit(path).path[:100]}"
    response = _api_send(
        method.upper(), path, what, budget=budget, key=budget_key,
        headers=headers, params=params, data=body,
    )  # fmt: skip
    return ApiResponse(
        status=response.status_code,
        headers=dict(response.headers),
        content=response.content,
        rate=RateLimit.from_headers(response.status_code, response.headers),
    )
