"""The one client for Front: every HTTP call to Front's OAuth and API endpoints goes through here.

Endpoints and the timeout come from settings (read on each call). Every failure becomes a
``FrontError`` whose text is a sentence a person can act on and never contains a secret.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from urllib3.util.retry import Retry

from connections import ratelimit

logger = logging.getLogger(__name__)

DEFAULT_LIFETIME = 3600
# A rate-limited GET /me is retried once when Front asks for at most this many seconds.
MAX_RETRY_WAIT = 2.0
# Transient failures are retried twice with a short backoff. A POST to the token endpoint is
# retried only when Front cannot have processed it (no connection, or 503): retrying a code or
# refresh token that Front did redeem would spend it twice.
RETRY_STATUSES = {"GET": frozenset({500, 502, 503, 504}), "POST": frozenset({503})}


class FrontError(Exception):
    """A call to Front failed; ``str()`` is a sentence safe to show, log and store.

    ``kind`` lets callers react without parsing the text: ``invalid_grant``, ``invalid_client``,
    ``unauthorized``, ``forbidden``, ``rate_limited``, ``unavailable``, ``timeout``,
    ``unreachable``, ``bad_response`` or ``refused``.
    """

    def __init__(self, message: str, *, kind: str = "refused", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class TokenResponse:
    """Front's answer from the token endpoint, parsed; the tokens never appear in its repr."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class Company:
    """The Front company that ``GET /me`` reports for a token."""

    id: str
    name: str


def _timeout() -> float:
    return float(settings.FRONT_HTTP_TIMEOUT)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def code_verifier_new() -> str:
    """A PKCE verifier: 32 random bytes, 43 base64url characters (RFC 7636 4.1)."""
    return secrets.token_urlsafe(32)


@sensitive_variables("verifier")
def code_challenge(verifier: str) -> str:
    """The S256 challenge of a PKCE verifier: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issuer() -> str:
    """The issuer FrontConnect expects in an ``iss`` callback parameter: the authorize origin."""
    parts = urlsplit(settings.FRONT_OAUTH_AUTHORIZE_URL)
    return f"{parts.scheme}://{parts.netloc}"


@sensitive_variables("state", "challenge")
def authorize_url(
    *, client_id: str, redirect_uri: str, state: str, scopes: list[str], challenge: str | None
) -> str:
    """Front's authorize URL for the authorization-code grant."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    if scopes:
        params["scope"] = " ".join(scopes)
    if challenge:
        params["code_challenge"] = challenge
        params["code_challenge_method"] = "S256"
    base = settings.FRONT_OAUTH_AUTHORIZE_URL
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


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
    if status == 429:
        wait = _retry_after(response)
        after = f"try again in {wait:g} seconds" if wait is not None else "try again in a minute"
        return FrontError(
            f"Front is rate limiting requests for this company: {after}.",
            kind="rate_limited",
            retry_after=wait,
        )
    if status >= 500:
        return FrontError(
            f"Front is unavailable right now (HTTP {status} from {what}); try again in a few "
            "minutes.",
            kind="unavailable",
        )
    if 300 <= status < 400:
        return FrontError(
            f"Front answered {what} with a redirect (HTTP {status}), which FrontConnect does not "
            "follow; check the Front URLs in the settings.",
            kind="bad_response",
        )
    reason = _front_reason(_json(response))
    detail = f": {reason}" if reason else ""
    return FrontError(f"Front refused {what} (HTTP {status}{detail}).", kind="refused")


@sensitive_variables("kwargs")
def _send(method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
    """Send one request with the configured timeout, never following redirects."""
    timeout = _timeout()
    retry = Retry(
        total=2,
        connect=2,
        read=2 if method == "GET" else 0,
        status=2,
        other=0,
        backoff_factor=0.3,
        status_forcelist=RETRY_STATUSES.get(method, frozenset()),
        allowed_methods=frozenset({method}),
        respect_retry_after_header=False,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    deferred = ratelimit.budget_spend()
    if deferred is not None:
        raise FrontError(
            "FrontConnect's share of this company's Front rate limit is used up: try again in "
            f"{max(1, round(deferred.retry_after))} seconds.",
            kind="rate_limited",
            retry_after=deferred.retry_after,
        )
    try:
        with requests.Session() as session:
            session.mount("https://", HTTPAdapter(max_retries=retry))
            session.mount("http://", HTTPAdapter(max_retries=retry))
            response = session.request(
                method, url, timeout=timeout, allow_redirects=False, **kwargs
            )
        ratelimit.budget_report(response.status_code, response.headers)
        return response
    except requests.Timeout:
        raise FrontError(
            f"Front did not answer {what} within {timeout:g} seconds; try again later.",
            kind="timeout",
        ) from None
    except requests.RequestException as exc:
        # The exception text can quote the request; only its class name is kept.
        logger.warning("Could not reach %s for %s: %s", _host(url), what, type(exc).__name__)
        raise FrontError(
            f"Could not reach Front at {_host(url)} ({what}); check the network and the Front "
            "URLs in the settings.",
            kind="unreachable",
        ) from None


@sensitive_variables("body", "access", "refresh")
def parse_token_response(body: dict[str, Any], *, now: float | None = None) -> TokenResponse:
    """Parse a token response: ``expires_at`` in Unix seconds, else ``expires_in``, else 1 hour."""
    now = time.time() if now is None else now
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise FrontError(
            "Front's token response was malformed: it has no access token.", kind="bad_response"
        )
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise FrontError(
            "Front's token response was malformed: the token type is not Bearer.",
            kind="bad_response",
        )
    refresh = body.get("refresh_token") or ""
    if not isinstance(refresh, str):
        raise FrontError(
            "Front's token response was malformed: the refresh token is not text.",
            kind="bad_response",
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
            "Front's token response was malformed: the expiry is not a time.", kind="bad_response"
        ) from None
    return TokenResponse(access_token=access, refresh_token=refresh, expires_at=expires_at)


@sensitive_variables("client_secret", "data", "body")
def _token_request(*, client_id: str, client_secret: str, data: dict[str, str]) -> TokenResponse:
    """POST to the token endpoint with HTTP Basic client authentication and parse the answer."""
    what = "the token request"
    response = _send(
        "POST",
        settings.FRONT_OAUTH_TOKEN_URL,
        what,
        data=data,
        auth=HTTPBasicAuth(client_id, client_secret),
        headers={"Accept": "application/json"},
    )
    body = _json(response)
    if response.status_code == 200:
        if not body:
            raise FrontError(
                "Front's token response was malformed: it is not a JSON object.",
                kind="bad_response",
            )
        return parse_token_response(body)
    error = body.get("error") if isinstance(body.get("error"), str) else ""
    logger.warning(
        "Front's token endpoint answered HTTP %s (%s).", response.status_code, error or "no code"
    )
    if error == "invalid_grant":
        raise FrontError(
            "Front no longer accepts this authorization (it expired, was already used or was "
            "revoked): authorize the connection again.",
            kind="invalid_grant",
        )
    if error == "invalid_client" or response.status_code == 401:
        raise FrontError(
            "Front rejected the OAuth 2.0 client: check its client ID and client secret against "
            "the Front app.",
            kind="invalid_client",
        )
    if error and error.replace("_", "").isalpha() and response.status_code < 500:
        raise FrontError(f"Front refused the token request ({error[:40]}).", kind="refused")
    raise _common_error(response, what)


@sensitive_variables("client_secret", "code", "code_verifier", "data")
def exchange_code(
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
) -> TokenResponse:
    """Redeem an authorization code for tokens."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier:
        data["code_verifier"] = code_verifier
    return _token_request(client_id=client_id, client_secret=client_secret, data=data)


@sensitive_variables("client_secret", "refresh_token", "data")
def refresh_tokens(*, client_id: str, client_secret: str, refresh_token: str) -> TokenResponse:
    """Trade a refresh token for a new access token (and possibly a new refresh token)."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return _token_request(client_id=client_id, client_secret=client_secret, data=data)


@sensitive_variables("token")
def me(*, token: str) -> Company:
    """``GET /me`` with a bearer token: the Front company the token belongs to."""
    what = "GET /me"
    url = settings.FRONT_API_URL.rstrip("/") + "/me"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    response = _send("GET", url, what, headers=headers)
    if response.status_code == 429:
        wait = _retry_after(response)
        if wait is not None and wait <= MAX_RETRY_WAIT:
            time.sleep(wait)
            response = _send("GET", url, what, headers=headers)
    if response.status_code == 200:
        body = _json(response)
        company_id, name = body.get("id"), body.get("name")
        if not isinstance(company_id, str) or not company_id or not isinstance(name, str):
            raise FrontError(
                "Front's answer to GET /me was malformed: it names no company.",
                kind="bad_response",
            )
        return Company(id=company_id[:100], name=name[:200])
    reason = _front_reason(_json(response))
    detail = f" ({reason})" if reason else ""
    if response.status_code == 401:
        raise FrontError(f"Front rejected the token{detail}.", kind="unauthorized")
    if response.status_code == 403:
        raise FrontError(f"The token lacks a permission Front requires{detail}.", kind="forbidden")
    raise _common_error(response, what)
