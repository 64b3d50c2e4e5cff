"""Every API error is JSON ``{"error": "<sentence>", "fields": {...}}`` with the usual status."""

from __future__ import annotations

import math
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from common.text import seconds_text
from connections import front

# The sentences follow the request's language (Accept-Language); the status code is the contract.
NOT_FOUND = _("No connection with this id is within this API key's reach.")
NO_SUCH_PATH = _("There is nothing at this address in the API: see /api/docs/ for its paths.")
SERVER_ERROR = _("The server failed to answer this request; it has been logged.")
# Where the API is mounted: errors under it answer in the API's shape, pages keep their own.
API_PREFIX = "/api/"
# A database that is restarting or unreachable is worth retrying shortly, not a server bug.
DATABASE_OUTAGES = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER = 5
INVALID_INPUT = _("The request has errors: see the fields.")
# Codes a domain ValidationError carries when the request is valid but clashes with stored data.
CONFLICT_CODES = frozenset({"name_taken", "unique"})


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the connection's current state.")
    default_code = "conflict"


class RateBudgetExhausted(exceptions.APIException):
    """Answered instead of spending the company's Front rate limit."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "rate_budget"

    # What is held back, in words (connections.ratelimit.Deferred.held); %(wait)s is a duration.
    SENTENCES = {
        "company": _(
            "This Front company's request budget is used up for now: try again in %(wait)s."
        ),
        "part": _(
            "This API key has used its part of the Front company's request budget for now: try "
            "again in %(wait)s."
        ),
        "route": _(
            "Front limits this route (method and path) on its own for now; the key's other calls "
            "go on: try again in %(wait)s."
        ),
    }

    def __init__(self, retry_after: float, *, held: str = "company") -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        sentence = self.SENTENCES.get(held, self.SENTENCES["company"])
        super().__init__(str(sentence) % {"wait": seconds_text(self.retry_after)})


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _(
        "FrontConnect's database cannot be reached right now: try again in a few seconds."
    )
    default_code = "database_unavailable"
    wait = DATABASE_RETRY_AFTER


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = _(
        "Send the request body with a Content-Length header: chunked request bodies are "
        "not accepted."
    )
    default_code = "length_required"


class FrontUnavailable(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "front_unavailable"


class FrontTimeout(exceptions.APIException):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_code = "front_timeout"


def front_error(exc: front.FrontError) -> exceptions.APIException:
    """The API's answer when Front could not give what the request needed."""
    kind = exc.kind
    if kind == front.FrontErrorKind.RATE_LIMITED:
        return RateBudgetExhausted(exc.retry_after or 60)
    if exc.refuses_credential or kind == front.FrontErrorKind.SECRET_UNREADABLE:
        # The connection itself must be fixed (re-authorized, or its secret entered again).
        return Conflict(str(exc))
    if kind == front.FrontErrorKind.TIMEOUT:
        return FrontTimeout(str(exc))
    return FrontUnavailable(str(exc))


def _messages(errors: Any) -> list[str]:
    """Every sentence in a (possibly nested) DRF error detail, in order."""
    if isinstance(errors, dict):
        return [message for value in errors.values() for message in _messages(value)]
    if isinstance(errors, list):
        return [message for value in errors for message in _messages(value)]
    return [str(errors)]


def _field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(name): _messages(errors) for name, errors in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _domain_validation(exc: DjangoValidationError) -> exceptions.APIException:
    """A ValidationError from the domain core: 409 for a clash with stored data, else 400."""
    if hasattr(exc, "error_dict"):
        errors = {
            name: [str(message) for error in errors for message in error.messages]
            for name, errors in exc.error_dict.items()
        }
        codes = {error.code for errors in exc.error_dict.values() for error in errors}
    else:
        errors = {"non_field_errors": [str(message) for message in exc.messages]}
        codes = {error.code for error in exc.error_list}
    fields = {
        ("non_field_errors" if name == "__all__" else name): messages
        for name, messages in errors.items()
    }
    failure: exceptions.APIException
    if codes & CONFLICT_CODES:
        failure = Conflict(next(iter(next(iter(fields.values())))))
    else:
        failure = exceptions.ValidationError(fields)
    return failure


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler, answering every error in the API's one JSON shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(NOT_FOUND)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = _domain_validation(exc)
    elif isinstance(exc, front.FrontError):
        exc = front_error(exc)
    elif isinstance(exc, DATABASE_OUTAGES):
        exc = DatabaseUnavailable()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers: dict[str, str] = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    if isinstance(exc, RateBudgetExhausted):
        headers["Retry-After"] = str(exc.retry_after)
    elif getattr(exc, "wait", None):
        headers["Retry-After"] = str(math.ceil(exc.wait))  # type: ignore[attr-defined]
    body: dict[str, Any]
    if isinstance(exc, exceptions.ValidationError):
        body = {"error": str(INVALID_INPUT), "fields": _field_errors(exc.detail)}
    else:
        body = {"error": str(exc.detail), "fields": {}}
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def _json_error(sentence: str | Promise, status_code: int, **headers: str) -> JsonResponse:
    return JsonResponse({"error": str(sentence), "fields": {}}, status=status_code, headers=headers)


def _under_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 404: the API's JSON shape under /api/, Django's page elsewhere."""
    if _under_api(request):
        return _json_error(NO_SUCH_PATH, status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """The site's 500, for failures outside the API's views (a middleware reading the session).

    Django calls it while handling the exception, so ``sys.exc_info()`` still names it.
    """
    if not _under_api(request):
        return defaults.server_error(request)
    if isinstance(sys.exc_info()[1], DATABASE_OUTAGES):
        outage = DatabaseUnavailable()
        return _json_error(
            str(outage.detail), outage.status_code, **{"Retry-After": str(outage.wait)}
        )
    return _json_error(SERVER_ERROR, status.HTTP_500_INTERNAL_SERVER_ERROR)
