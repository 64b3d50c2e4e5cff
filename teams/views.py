"""Self-service team pages: /teams/ (my teams, create one) and /teams/<id>/ (members,
connections, API keys). Who may see or administer a team is asked of ``connections.access``
(``as_operator=False``: these are a member's pages for everyone); a team someone is not in
answers 404, as do admin actions for a member who is not the team's admin."""

from __future__ import annotations

import base64
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from api.keys import apikey_create, apikey_revoke
from api.models import ApiKey, KeyScope, Permission
from common.crypto import decrypt, encrypt
from common.http import AuthenticatedHttpRequest
from connections import access
from teams import services
from teams.forms import MemberAddForm, RoleForm, TeamForm, TeamKeyForm
from teams.models import Membership, Role, Team

CONNECTIONS_SHOWN = 50
# A new team key waits here, encrypted, between the POST that made it and the one page that
# shows it (POST-redirect-GET), as the admin's keys do.
NEW_TEAM_KEY_SESSION = "frontconnect_new_team_key"
SHOWN_ONCE = _("This key was shown once when it was created and cannot be shown again.")


def _my_teams(user: Any) -> QuerySet[Team]:
    return access.teams_of(user)


def _team_for(request: AuthenticatedHttpRequest, pk: int, *, admin: bool = False) -> Team:
    return get_object_or_404(access.teams_of(request.user, admin=admin), pk=pk)


def team_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(name=form.cleaned_data["name"], admins=[request.user])
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error("name", message)
        else:
            messages.success(
                request,
                gettext("Team “%(name)s” is created; you are its admin.") % {"name": team.name},
            )
            return redirect(team)
    teams = (
        _my_teams(request.user)
        .annotate(
            member_count=Count("memberships", distinct=True),
            connection_count=Count("connections", distinct=True),
        )
        .order_by("name", "pk")
    )
    roles = dict(Membership.objects.filter(user=request.user).values_list("team_id", "role"))
    rows = [(team, Role(roles[team.pk]).label) for team in teams if team.pk in roles]
    return render(request, "teams/team_list.html", {"rows": rows, "form": form})


def team_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    team = _team_for(request, pk)
    mine = Membership.objects.get(team=team, user=request.user)
    is_admin = mine.role == Role.ADMIN
    members = list(team.memberships.select_related("user").order_by("user__username"))
    connections = team.connections.select_related("owner").order_by("name", "pk")[
        :CONNECTIONS_SHOWN
    ]
    context: dict[str, Any] = {
        "team": team,
        "mine": mine,
        "is_admin": is_admin,
        "members": members,
        "connections": connections,
        "connection_count": team.connections.count(),
        "add_form": MemberAddForm(),
        "key_form": TeamKeyForm(),
        "roles": Role.choices,
    }
    if is_admin:
        keys = list(
            ApiKey.objects.filter(team=team)
            .select_related("created_by")
            .annotate(creator_role=access.team_key_creator_role(ApiKey))
            .order_by("-created_at", "-pk")
        )
        context["keys"] = [
            (
                key,
                access.team_key_in_force(
                    key.creator_role, change=Permission.WRITE.value in key.permissions
                ),
            )
            for key in keys
        ]
    return render(request, "teams/team_detail.html", context)


@require_POST
def member_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    team = _team_for(request, pk, admin=True)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            person = services.person_by_username_or_email(form.cleaned_data["person"])
            services.member_add(team=team, user=person, role=form.cleaned_data["role"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, gettext("%(user)s joined the team.") % {"user": person.get_username()}
            )
    else:
        messages.error(request, gettext("Give a username or email address and a role."))
    return redirect(team)


def _membership(team: Team, member_pk: int) -> Membership:
    return get_object_or_404(team.memberships.select_related("user", "team"), pk=member_pk)


@require_POST
def member_role(request: AuthenticatedHttpRequest, pk: int, member_pk: int) -> HttpResponse:
    team = _team_for(request, pk, admin=True)
    membership = _membership(team, member_pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Choose a role: Admin or Member."))
        return redirect(team)
    try:
        services.member_role_set(membership=membership, role=form.cleaned_data["role"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        done = (
            gettext("%(user)s is now an admin of the team.")
            if form.cleaned_data["role"] == Role.ADMIN
            else gettext("%(user)s is now a member of the team.")
        )
        messages.success(request, done % {"user": membership.user.get_username()})
    return redirect(team)


@require_POST
def member_remove(request: AuthenticatedHttpRequest, pk: int, member_pk: int) -> HttpResponse:
    team = _team_for(request, pk, admin=True)
    membership = _membership(team, member_pk)
    try:
        services.member_remove(membership=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(team)
    who = membership.user.get_username()
    messages.success(
        request,
        gettext(
            "%(user)s left the team: they no longer see its connections, and the API keys they "
            "created for it stopped working."
        )
        % {"user": who},
    )
    if membership.user_id == request.user.pk:
        return redirect("teams:list")
    return redirect(team)


@require_POST
def alerts_set(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The member's own per-team alert setting."""
    team = _team_for(request, pk)
    wanted = request.POST.get("alerts") == "on"
    Membership.objects.filter(team=team, user=request.user).update(alerts=wanted)
    messages.success(
        request,
        gettext("You will get emails about this team's connections.")
        if wanted
        else gettext(
            "You will no longer get emails about this team's connections (admins always do)."
        ),
    )
    return redirect(team)


@require_POST
def key_new(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    team = _team_for(request, pk, admin=True)
    form = TeamKeyForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            messages.error(
                request,
                gettext("%(field)s: %(errors)s")
                % {"field": label or field, "errors": " ".join(str(e) for e in errors)},
            )
        return redirect(team)
    try:
        made = apikey_create(
            name=form.cleaned_data["name"],
            owner=None,
            team=team,
            scope=KeyScope.TEAM,
            permissions=form.cleaned_data["permissions"],
            expires_at=form.expires_at(),
            created_by=request.user,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(team)
    request.session[NEW_TEAM_KEY_SESSION] = {
        "pk": made.key.pk,
        "sealed": base64.b64encode(encrypt(made.plaintext)).decode("ascii"),
    }
    return redirect("teams:key_created", pk=team.pk, key_pk=made.key.pk)


def key_created(request: AuthenticatedHttpRequest, pk: int, key_pk: int) -> HttpResponse:
    """The new key, once: taken out of the session as it is shown."""
    team = _team_for(request, pk, admin=True)
    key = get_object_or_404(ApiKey.objects.filter(team=team), pk=key_pk)
    waiting = request.session.get(NEW_TEAM_KEY_SESSION)
    if not isinstance(waiting, dict) or waiting.get("pk") != key.pk:
        messages.info(request, SHOWN_ONCE)
        return redirect(team)
    del request.session[NEW_TEAM_KEY_SESSION]
    plaintext = decrypt(base64.b64decode(str(waiting["sealed"])))
    if not isinstance(plaintext, str):  # the encryption key changed in between
        messages.info(request, SHOWN_ONCE)
        return redirect(team)
    response = render(
        request, "teams/key_created.html", {"team": team, "key": key, "plaintext": plaintext}
    )
    add_never_cache_headers(response)
    return response


@require_POST
def key_revoke(request: AuthenticatedHttpRequest, pk: int, key_pk: int) -> HttpResponse:
    team = _team_for(request, pk, admin=True)
    key = get_object_or_404(ApiKey.objects.filter(team=team), pk=key_pk)
    if apikey_revoke(key=key, actor=request.user):
        messages.success(request, gettext("API key “%(name)s” is revoked.") % {"name": key.name})
    else:
        messages.info(
            request,
            gettext("API key “%(name)s” was already revoked.") % {"name": key.name},
        )
    return redirect(team)
