"""A member's actions on one of their connections: test, authorize, disconnect (POST only)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from common.http import AuthenticatedHttpRequest
from connections import flows
from connections.forms import ConnectionForm
from connections.models import Source
from connections.selectors import connection_changeable_for, connection_list_for


def save_and_follow_up(request: AuthenticatedHttpRequest, form: ConnectionForm) -> HttpResponse:
    """Save through the service, then test a Token connection or start authorizing."""
    connection = form.save(actor=request.user, source=Source.SELF_SERVICE)
    messages.success(request, _("“%(name)s” is saved.") % {"name": connection.name})
    follow_up = flows.follow_up_save(
        request,
        connection,
        user=request.user,
        source=Source.SELF_SERVICE,
        return_url=connection.get_absolute_url(),
    )
    return follow_up or redirect(connection)


@require_POST
def test(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_list_for(request.user), pk=pk)
    flows.test(request, connection, actor=request.user, source=Source.SELF_SERVICE)
    return redirect(connection)


@require_POST
def authorize(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_changeable_for(request.user), pk=pk)
    return flows.authorize(
        request,
        connection,
        user=request.user,
        source=Source.SELF_SERVICE,
        return_url=connection.get_absolute_url(),
    )


@require_POST
def disconnect(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_changeable_for(request.user), pk=pk)
    flows.disconnect(request, connection, actor=request.user, source=Source.SELF_SERVICE)
    return redirect(connection)


@require_GET
def disconnect_confirm(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Ask before disconnecting: a Front company admin must accept the connection again."""
    connection = get_object_or_404(connection_changeable_for(request.user), pk=pk)
    if not connection.is_oauth:
        return redirect(connection)
    return render(
        request, "connections/connection_confirm_disconnect.html", {"connection": connection}
    )
