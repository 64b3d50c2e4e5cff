"""Front's API with a bearer token: ``GET /me``, one call answered as it came, the proxy's forward.

``me`` and ``api_request`` go through ``transport._front_call`` (budget, errors in words);
``forward`` streams the service API's proxied requests with only allowlisted headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from common import metrics
from common.text import is_secret_text
from common.wording import Said, said
from connections.front.transport import (
    _api,
    _common_error,
    _front_call,
    _front_reason,
    _host,
    _json,
    _proxy,
    _timeout,
    _transport_checked,
)
from connections.front_types import ApiResponse, Budget, Company, FrontError, RateLimit
from connections.front_types import FrontErrorKind as Kind

logger = logging.getLogger(__name__)

# A rate-limited GET /me is retried once when Front asks for at most this many seconds.
MAX_RETRY_WAIT = 2.0


@sensitive_variables("token")
def _bearer(token: str) -> dict[str, str]:
    if not is_secret_text(token):
        raise FrontError(
            said("front.token_unsendable"),
            kind=Kind.UNAUTHORIZED,
        )
    return {"Authorization": f"Bearer {token}"}


@sensitive_variables("headers", "kwargs")
def _api_send(
    method: str,
    path: str,
    what: str | Said,
    *,
    kind: str,
    budget: Budget | None,
    key: str,
    **kwargs: Any,
) -> requests.Response:
    url = settings.FRONT_API_URL.rstrip("/") + "/" + path.lstrip("/")
    with _front_call(url, what, kind=kind, budget=budget, key=key) as seen:
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
    response = _api_send(
        "GET", "/me", what, kind="me", budget=budget, key=budget_key, headers=headers
    )
    if response.status_code == 429:
        wait = RateLimit.from_headers(429, response.headers).retry_after
        if wait is not None and wait <= MAX_RETRY_WAIT:
            time.sleep(wait)
            response = _api_send(
                "GET", "/me", what, kind="me", budget=budget, key=budget_key, headers=headers
            )
    rate = RateLimit.from_headers(response.status_code, response.headers)
    if response.status_code == 200:
        body = _json(response)
        company_id, name = body.get("id"), body.get("name")
        if not isinstance(company_id, str) or not company_id or not isinstance(name, str):
            raise FrontError(
                said("front.no_company"),
                kind=Kind.BAD_RESPONSE,
                rate=rate,
            )
        return Company(id=company_id[:100], name=name[:200], rate=rate)
    reason = _front_reason(_json(response))
    if response.status_code == 401:
        rejected = (
            said("front.token_rejected_because", detail=reason)
            if reason
            else said("front.token_rejected")
        )
        raise FrontError(rejected, kind=Kind.UNAUTHORIZED, rate=rate)
    if response.status_code == 403:
        forbidden = (
            said("front.token_forbidden_because", detail=reason)
            if reason
            else said("front.token_forbidden")
        )
        raise FrontError(forbidden, kind=Kind.FORBIDDEN, rate=rate)
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
    """One call to Front's API with a bearer token, answered as it came.

    Only GET is retried (on 5xx and lost connections); errors without an answer raise FrontError.
    """
    headers = {**_bearer(token), "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    what = f"{method.upper()} {urlsplit(path).path[:100]}"
    response = _api_send(
        method.upper(), path, what, kind="api", budget=budget, key=budget_key,
        headers=headers, params=params, data=body,
    )  # fmt: skip
    return ApiResponse(
        status=response.status_code,
        headers=dict(response.headers),
        content=response.content,
        rate=RateLimit.from_headers(response.status_code, response.headers),
    )


# --- The service API's Front proxy (api/proxy.py): streamed, headers allowlisted ---------------

FORWARD_REQUEST_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "content-type",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-unmodified-since",
    }
)
FORWARD_RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "etag",
        "last-modified",
        "retry-after",
        "x-front-tier",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    }
)


@dataclass
class ForwardResponse:
    """Front's answer to a proxied request; read ``chunks()`` once, or ``close()`` it."""

    status: int
    headers: dict[str, str]
    _response: requests.Response = field(repr=False)

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        try:
            yield from self._response.iter_content(size)
        except requests.RequestException:
            logger.warning("Front's answer to a proxied request broke off.")
        finally:
            self._response.close()

    def close(self) -> None:
        self._response.close()


@sensitive_variables("token", "sent")
def forward(
    method: str,
    path: str,
    *,
    token: str,
    query: str = "",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    stream: bool = True,
) -> ForwardResponse:
    """Send one request to Front's API base with a bearer token; only allowlisted headers go."""
    base = settings.FRONT_API_URL.rstrip("/")
    url = f"{base}/{path}"
    if path.startswith("/") or "\\" in path or ".." in path.split("/"):
        raise FrontError(said("front.outside_api"), kind=Kind.REFUSED)
    if query:
        url = f"{url}?{query}"
    sent = {
        name: value
        for name, value in (headers or {}).items()
        if name.lower() in FORWARD_REQUEST_HEADERS
    }
    sent.update(_bearer(token))
    timeout = _timeout()
    what = f"{method} /{path[:100]}"
    with _transport_checked(url, what):
        started = time.perf_counter()
        try:
            response = _proxy().request(
                method,
                url,
                data=body or None,
                headers=sent,
                timeout=timeout,
                allow_redirects=False,
                stream=stream,
            )
        except requests.Timeout:
            metrics.front_request("proxy", "timeout", time.perf_counter() - started)
            raise FrontError(
                said("front.timeout", what=what, seconds=timeout),
                kind=Kind.TIMEOUT,
            ) from None
        except (requests.RequestException, OSError) as exc:
            metrics.front_request("proxy", "unreachable", time.perf_counter() - started)
            logger.warning("Could not reach %s for %s: %s", _host(url), what, type(exc).__name__)
            raise FrontError(
                said("front.unreachable_later", host=_host(url), what=what),
                kind=Kind.UNREACHABLE,
            ) from None
    metrics.front_request("proxy", response.status_code, time.perf_counter() - started)
    kept = {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() in FORWARD_RESPONSE_HEADERS
    }
    return ForwardResponse(status=response.status_code, headers=kept, _response=response)
