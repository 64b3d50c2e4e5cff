"""OAuth 2.0 with Front through requests-oauthlib: PKCE, the authorize URL, code exchange, refresh.

The token requests run through ``OAuth2Session`` with HTTP Basic client authentication (the ID
and secret form-urlencoded first, RFC 6749 section 2.3.1: ``client_basic_auth``); Front's
quirks live in its compliance hooks, and every request passes through ``transport._front_call``.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, urlsplit

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from oauthlib.oauth2 import WebApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from common.text import is_secret_text
from common.wording import said
from connections.front.transport import (
    _common_error,
    _front_call,
    _json,
    _session_prepare,
    _timeout,
    _transport_checked,
)
from connections.front_types import Budget, FrontError, RateLimit, TokenResponse
from connections.front_types import FrontErrorKind as Kind

logger = logging.getLogger(__name__)

DEFAULT_LIFETIME = 3600


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
        raise FrontError(said("front.no_access_token"), kind=Kind.BAD_RESPONSE)
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise FrontError(
            said("front.not_bearer"),
            kind=Kind.BAD_RESPONSE,
        )
    refresh = body.get("refresh_token") or ""
    if not isinstance(refresh, str):
        raise FrontError(
            said("front.refresh_not_text"),
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
            said("front.expiry_not_time"),
            kind=Kind.BAD_RESPONSE,
        ) from None
    return TokenResponse(access_token=access, refresh_token=refresh, expires_at=expires_at)


@sensitive_variables("body")
def _token_error(response: requests.Response, body: dict[str, Any]) -> FrontError:
    what = said("front.token_request")
    error = body.get("error") if isinstance(body.get("error"), str) else ""
    logger.warning(
        "Front's token endpoint answered HTTP %s (%s).", response.status_code, error or "no code"
    )
    rate = RateLimit.from_headers(response.status_code, response.headers)
    if error == "invalid_grant":
        return FrontError(
            said("front.invalid_grant"),
            kind=Kind.INVALID_GRANT,
            rate=rate,
        )
    if error == "invalid_client" or response.status_code == 401:
        return FrontError(
            said("front.invalid_client"),
            kind=Kind.INVALID_CLIENT,
            rate=rate,
        )
    if error and error.replace("_", "").isalpha() and response.status_code < 500:
        return FrontError(
            said("front.refused_error", what=what, error=error[:40]), kind=Kind.REFUSED, rate=rate
        )
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
            said("front.not_json"),
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


@sensitive_variables("client_secret")
def client_basic_auth(client_id: str, client_secret: str) -> HTTPBasicAuth:
    """HTTP Basic client authentication per RFC 6749 2.3.1: ID and secret form-urlencoded first."""
    # Unencoded, a secret holding "+", "%" or ":" reaches a conforming server as another secret.
    return HTTPBasicAuth(quote_plus(client_id, safe=""), quote_plus(client_secret, safe=""))


class _FrontOAuth2Session(OAuth2Session):
    """OAuth2Session that never follows a redirect (fetch_token cannot be told so)."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


@sensitive_variables("client_secret")
def _oauth_session(client_id: str, client_secret: str, redirect_uri: str | None = None) -> Any:
    if not is_secret_text(client_id) or not is_secret_text(client_secret):
        raise FrontError(
            said("front.client_unsendable"),
            kind=Kind.INVALID_CLIENT,
        )
    session = _FrontOAuth2Session(client_id, redirect_uri=redirect_uri)
    _session_prepare(session, "POST", url=settings.FRONT_OAUTH_TOKEN_URL)
    session.register_compliance_hook("access_token_response", _token_response_hook)
    session.register_compliance_hook("refresh_token_response", _token_response_hook)
    return session


def _token_of(token: dict[str, Any], rate: RateLimit | None) -> TokenResponse:
    parsed = parse_token_response(dict(token))
    return TokenResponse(parsed.access_token, parsed.refresh_token, parsed.expires_at, rate)


@sensitive_variables("client_secret", "grant", "token")
def _token_request(
    send: str,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str | None = None,
    budget: Budget | None,
    key: str,
    **grant: Any,
) -> TokenResponse:
    """One token request (``send``: the OAuth2Session method) with HTTP Basic client auth."""
    url = settings.FRONT_OAUTH_TOKEN_URL
    session = _oauth_session(client_id, client_secret, redirect_uri)
    kind = "refresh" if send == "refresh_token" else "code"
    with _front_call(url, said("front.token_request"), kind=kind, budget=budget, key=key) as seen:
        session.hooks["response"].append(seen)
        token = getattr(session, send)(
            url, auth=client_basic_auth(client_id, client_secret), timeout=_timeout(), **grant
        )
    return _token_of(token, seen.rate)


@sensitive_variables("client_secret", "code", "code_verifier")
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
    extra = {"code_verifier": code_verifier} if code_verifier else {}
    return _token_request(
        "fetch_token", client_id=client_id, client_secret=client_secret,
        redirect_uri=redirect_uri, budget=budget, key=budget_key,
        code=code, include_client_id=False, **extra,
    )  # fmt: skip


@sensitive_variables("client_secret", "refresh_token")
def refresh_tokens(
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    budget: Budget | None = None,
    budget_key: str = "",
) -> TokenResponse:
    """Trade a refresh token for a new access token; the refresh token is kept if none comes."""
    return _token_request(
        "refresh_token", client_id=client_id, client_secret=client_secret,
        budget=budget, key=budget_key, refresh_token=refresh_token,
    )  # fmt: skip
