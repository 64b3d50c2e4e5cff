"""The one client for Front: every HTTP call to Front's OAuth and API endpoints goes through here.

This package is the only code that imports ``requests``, ``requests_oauthlib`` and ``oauthlib``:
``transport`` (pooled sessions, https rule, rate budget, errors in words), ``oauth`` (PKCE,
authorize URL, code exchange and refresh through requests-oauthlib) and ``api`` (``GET /me``,
single API calls, the service API's streamed proxy). What the calls return or raise is plain data
in ``connections.front_types``. Callers use the names below (``front.me(...)``); tests patch them
here, since that is where callers look them up.
"""

from __future__ import annotations

from connections.front.api import (
    FORWARD_REQUEST_HEADERS,
    FORWARD_RESPONSE_HEADERS,
    ForwardResponse,
    api_request,
    forward,
    me,
)
from connections.front.oauth import (
    authorize_url,
    code_challenge,
    code_verifier_new,
    exchange_code,
    issuer,
    parse_token_response,
    refresh_tokens,
)
from connections.front.transport import (
    budget_install,
    budget_key,
    deadline_within,
    is_loopback_url,
    token_call_deadline,
)
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
    "FORWARD_REQUEST_HEADERS",
    "FORWARD_RESPONSE_HEADERS",
    "ApiResponse",
    "Budget",
    "Company",
    "ForwardResponse",
    "FrontError",
    "FrontErrorKind",
    "RateLimit",
    "TokenResponse",
    "api_request",
    "authorize_url",
    "budget_install",
    "budget_key",
    "deadline_within",
    "code_challenge",
    "code_verifier_new",
    "exchange_code",
    "forward",
    "is_loopback_url",
    "issuer",
    "me",
    "parse_token_response",
    "refresh_tokens",
    "token_call_deadline",
]
