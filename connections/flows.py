"""The steps the admin and the member pages share, written once: the follow-up after a save,
the message after a test, starting an authorization and disconnecting.

Each takes the request (for its messages), the person acting and the source; the services
in ``connections.services`` and ``connections.authorization`` do the work.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _

from common.oauth import site_origin
from connections.authorization import AuthorizationError, connection_authorize_start
from connections.models import Connection
from connections.services import (
    CheckOutcome,
    CheckResult,
    connection_check,
    connection_disconnect,
)
from connections.wording import check_reason, status_predicate

# The POST key of the "Save and authorize" button. Templates get it from
# ``submit_names()``, so the name is written here only.
AUTHORIZE_SUBMIT = "_authorize"


def submit_names() -> dict[str, str]:
    """Template context naming the form buttons that the views look for."""
    return {"authorize_submit": AUTHORIZE_SUBMIT}


def report_test(request: HttpRequest, outcome: CheckOutcome) -> None:
    """Tell the person, in words, what the test found: the message follows its outcome."""
    connection = outcome.connection
    name, status = connection.name, status_predicate(connection.status)
    if outcome.result == CheckResult.ONLINE:
        messages.success(
            request,
            _("Front accepted “%(name)s”: it is Online (Front company %(company)s).")
            % {"name": name, "company": connection.front_company_name},
        )
    elif outcome.result == CheckResult.REFUSED:
        messages.warning(
            request,
            _("Front did not accept “%(name)s”: it %(status)s. %(reason)s")
            % {"name": name, "status": status, "reason": outcome.message},
        )
    else:
        # Front could not be asked (outage, timeout, rate limit): nothing was accepted or refused.
        reason = check_reason(outcome.message)
        messages.warning(
            request,
            _("Could not check “%(name)s”: %(reason)s It %(status)s.")
            % {"name": name, "reason": reason, "status": status},
        )


def test(request: HttpRequest, connection: Connection, *, actor: User, source: str) -> None:
    """Test one connection now and say how it went."""
    outcome = connection_check(connection=connection, actor=actor, source=source)
    report_test(request, outcome)


def authorize(
    request: HttpRequest, connection: Connection, *, user: User, source: str, return_url: str
) -> HttpResponse:
    """Send the person to Front to authorize an OAuth 2.0 connection, or explain why not."""
    if not connection.is_oauth:
        messages.error(request, _("Only OAuth 2.0 connections are authorized; test this one."))
        return HttpResponseRedirect(return_url)
    try:
        url = connection_authorize_start(
            connection=connection,
            user=user,
            session=request.session,
            return_url=return_url,
            source=source,
            started_at=site_origin(request.build_absolute_uri("/")),
        )
    except (AuthorizationError, ValidationError) as exc:
        reason = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, reason)
        return HttpResponseRedirect(return_url)
    return HttpResponseRedirect(url)


def follow_up_save(
    request: HttpRequest, connection: Connection, *, user: User, source: str, return_url: str
) -> HttpResponse | None:
    """After a save: test a Token connection, or start authorizing on Save and authorize.

    Returns the redirect to Front, or None when the page's usual response should follow.
    """
    wants_authorization = AUTHORIZE_SUBMIT in request.POST
    if connection.is_oauth:
        if wants_authorization:
            return authorize(request, connection, user=user, source=source, return_url=return_url)
        return None
    if wants_authorization:
        messages.warning(
            request,
            _("Save and authorize is only for OAuth 2.0 connections; this one is tested."),
        )
    test(request, connection, actor=user, source=source)
    return None


def disconnect(request: HttpRequest, connection: Connection, *, actor: User, source: str) -> None:
    """Forget an OAuth 2.0 connection's tokens and say so."""
    if not connection.is_oauth:
        messages.error(
            request, _("Only OAuth 2.0 connections can be disconnected; nothing changed.")
        )
        return
    connection = connection_disconnect(connection=connection, actor=actor, source=source)
    messages.success(
        request,
        _(
            "“%(name)s” is disconnected: its OAuth 2.0 tokens are deleted. "
            "Authorize it again to use it."
        )
        % {"name": connection.name},
    )
