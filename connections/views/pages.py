"""Self-service pages: a team member's own connections, their form and their history."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters

from common.crypto import secret_state
from common.http import AuthenticatedHttpRequest
from connections import access, flows
from connections.forms import ConnectionForm
from connections.models import Connection, Source, Status
from connections.moves import connection_move
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
    connections = connection_list_for(request.user).annotate(
        changeable=Exists(connection_changeable_for(request.user).filter(pk=OuterRef("pk")))
    )
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
        "can_change": access.user_may_change(request.user, connection, as_operator=False),
        "move_choices": move_choices(request.user, connection),
    }
    return render(request, "connections/connection_detail.html", context)


@sensitive_post_parameters("api_token")
def connection_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    # "Add a connection" on a team's page preselects that team under "Belongs to".
    initial = {"team": request.GET["team"]} if request.GET.get("team", "").isdigit() else {}
    form = ConnectionForm(request.POST or None, owner=request.user, initial=initial)
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
        messages.success(request, _("“%(name)s” is deleted.") % {"name": name})
        return redirect("connections:list")
    return render(request, "connections/connection_confirm_delete.html", {"connection": connection})


def move_choices(user: Any, connection: Connection) -> list[Any]:
    """Where ``user`` may move ``connection``: a team (or None, its owner's own) other than
    where it is, for someone administering both sides (``access.user_may_move``)."""
    sides: list[Any] = [None, *access.teams_of(user, admin=True).order_by("name", "pk")]
    return [
        side
        for side in sides
        if (side.pk if side is not None else None) != connection.team_id
        and access.user_may_move(user, connection, side, as_operator=False)
    ]


def connection_move_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Move a connection into, out of or between teams: an explicit action, with its entry in
    the history. Offered only to someone administering both sides; anyone else gets 404."""
    connection = get_object_or_404(connection_list_for(request.user), pk=pk)
    choices = move_choices(request.user, connection)
    if not choices:
        raise Http404
    error = ""
    if request.method == "POST":
        wanted = request.POST.get("team", "")
        chosen = [c for c in choices if str(c.pk if c is not None else "") == wanted]
        if not chosen:
            error = _("Choose where the connection goes: one of the places listed.")
        else:
            try:
                connection_move(
                    connection=connection,
                    team=chosen[0],
                    actor=request.user,
                    source=Source.SELF_SERVICE,
                )
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                if chosen[0] is not None:
                    moved = _("“%(name)s” moved to team “%(team)s”.") % {
                        "name": connection.name,
                        "team": chosen[0].name,
                    }
                else:
                    moved = _("“%(name)s” moved to your own connections.") % {
                        "name": connection.name
                    }
                messages.success(request, moved)
                return redirect(connection)
    return render(
        request,
        "connections/connection_move.html",
        {"connection": connection, "choices": choices, "error": error},
    )
