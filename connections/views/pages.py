"""Self-service pages: a team member's own connections, their form and their history."""

from __future__ import annotations

from contextlib import suppress

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters

from common.crypto import secret_state
from common.http import AuthenticatedHttpRequest
from connections import flows
from connections.forms import ConnectionForm
from connections.models import Connection, Source, Status
from connections.selectors import (
    connection_changeable_for,
    connection_history,
    connection_list_for,
)
from connections.services import connection_delete
from connections.views.actions import save_and_follow_up
from connections.views.links import member_links_context

PAGE_SIZE = 50


def form_page(
    request: HttpRequest, form: ConnectionForm, connection: Connection | None
) -> HttpResponse:
    return render(
        request,
        "connections/connection_form.html",
        {
            "form": form,
            "connection": connection,
            "can_add_client": request.user.has_perm("oauthclients.add_oauthclient"),
            **flows.submit_names(),
        },
    )


def connection_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    connections = connection_list_for(request.user)
    page = Paginator(connections, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "connections/connection_list.html", {"page": page})


def tokens_stored(connection: Connection) -> bool:
    """Whether any OAuth 2.0 token is stored, readable or not."""
    unreadable = {"access_token", "refresh_token"} & set(connection.undecryptable_fields)
    return bool(connection.access_token or connection.refresh_token or unreadable)


def connection_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(
        connection_list_for(request.user).prefetch_related("scopes"), pk=pk
    )
    context = {
        "connection": connection,
        "events": connection_history(connection),
        "api_token_state": secret_state(connection.api_token),
        "api_token_set": bool(connection.api_token),
        "oauth_token_state": secret_state(connection.access_token),
        "oauth_token_set": bool(connection.access_token),
        "can_disconnect": connection.is_oauth
        and (connection.status != Status.NOT_AUTHORIZED or tokens_stored(connection)),
        **member_links_context(request, connection),
    }
    return render(request, "connections/connection_detail.html", context)


@sensitive_post_parameters("api_token")
def connection_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ConnectionForm(request.POST or None, owner=request.user)
    if request.method == "POST" and form.is_valid():
        with suppress(ValidationError):  # a name taken meanwhile: the form says so
            return save_and_follow_up(request, form)
    return form_page(request, form, None)


@sensitive_post_parameters("api_token")
def connection_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_changeable_for(request.user), pk=pk)
    form = ConnectionForm(request.POST or None, instance=connection, owner=request.user)
    if request.method == "POST" and form.is_valid():
        with suppress(ValidationError):  # a name taken meanwhile: the form says so
            return save_and_follow_up(request, form)
    return form_page(request, form, connection)


def connection_confirm_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_changeable_for(request.user), pk=pk)
    if request.method == "POST":
        name = connection.name
        connection_delete(connection=connection, actor=request.user, source=Source.SELF_SERVICE)
        messages.success(request, f"“{name}” is deleted.")
        return redirect("connections:list")
    return render(request, "connections/connection_confirm_delete.html", {"connection": connection})
