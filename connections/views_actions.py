"""Self-service actions on one connection: test, authorize, disconnect (POST only)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from common.http import AuthenticatedHttpRequest
from connections.authorization import AuthorizationError, connection_authorize_start
from connections.forms import ConnectionForm
from connections.models import Connection, Source, Status
from connections.selectors import connection_list_for
from connections.services import (
    connection_disconnect,
    connection_test,
)


def report_test(request: HttpRequest, connection: Connection) -> None:
    """Tell the user, in words, what Front answered to the latest test."""
    if connection.status == Status.ONLINE:
        company = f" for {connection.front_company_name}" if connection.front_company_name else ""
        messages.success(request, f"Front accepted the connection{company}: it is online.")
    else:
        reason = connection.last_check_result or connection.get_status_display()
        messages.warning(request, f"Front did not accept the connection. {reason}")


def authorization_redirect(
    request: AuthenticatedHttpRequest, connection: Connection
) -> HttpResponse:
    """Send the user to Front to authorize an OAuth 2.0 connection, or explain why not."""
    try:
        url = connection_authorize_start(
            connection=connection,
            user=request.user,
            session=request.session,
            return_url=connection.get_absolute_url(),
            source=Source.SELF_SERVICE,
        )
    except (AuthorizationError, ValidationError) as exc:
        reason = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, reason)
        return redirect(connection)
    return redirect(url)


def save_and_follow_up(request: AuthenticatedHttpRequest, form: ConnectionForm) -> HttpResponse:
    """Save through the service, then test a Token connection or start authorizing."""
    connection = form.save(actor=request.user, source=Source.SELF_SERVICE)
    messages.success(request, f"“{connection.name}” is saved.")
    if not connection.is_oauth:
        connection = connection_test(
            connection=connection, actor=request.user, source=Source.SELF_SERVICE
        )
        report_test(request, connection)
    elif "_authorize" in request.POST:
        return authorization_redirect(request, connection)
    return redirect(connection)


@require_POST
def test(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_list_for(request.user), pk=pk)
    connection = connection_test(
        connection=connection, actor=request.user, source=Source.SELF_SERVICE
    )
    report_test(request, connection)
    return redirect(connection)


@require_POST
def authorize(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_list_for(request.user), pk=pk)
    if not connection.is_oauth:
        messages.error(request, "Only OAuth 2.0 connections are authorized; test this one.")
        return redirect(connection)
    return authorization_redirect(request, connection)


@require_POST
def disconnect(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_list_for(request.user), pk=pk)
    if not connection.is_oauth:
        messages.error(request, "Only OAuth 2.0 connections can be disconnected; nothing changed.")
        return redirect(connection)
    connection = connection_disconnect(
        connection=connection, actor=request.user, source=Source.SELF_SERVICE
    )
    messages.success(
        request,
        f"“{connection.name}” is disconnected: its OAuth 2.0 tokens are deleted. "
        "Authorize it again to use it.",
    )
    return redirect(connection)
