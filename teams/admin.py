"""Teams in the admin (members inline), and the user admin's Offboard action and refusal to
delete someone who still owns connections or API keys."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alerts.admin import AlertsUserAdmin
from common.admin import FrontConnectAdmin
from common.http import admin_user
from connections import access
from connections.models import Source
from teams import departures
from teams.models import Membership, Role, Team
from teams.services import LAST_ADMIN


class MembershipFormSet(BaseInlineFormSet):
    """A team always keeps at least one admin, in the admin too."""

    def clean(self) -> None:
        super().clean()
        admins = 0
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if data and not data.get("DELETE") and data.get("role") == Role.ADMIN:
                admins += 1
        if not any(self.errors) and admins == 0:
            raise ValidationError(LAST_ADMIN)


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    fields = ["user", "role", "alerts"]
    autocomplete_fields = ["user"]
    extra = 1


@admin.register(Team)
class TeamAdmin(FrontConnectAdmin):
    list_display = ["name", "member_count", "connection_count", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]
    fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                members=Count("memberships", distinct=True),
                connected=Count("connections", distinct=True),
            )
        )

    @admin.display(description=_("Members"), ordering="members")
    def member_count(self, obj: Any) -> int:
        return int(obj.members)

    @admin.display(description=_("Connections"), ordering="connected")
    def connection_count(self, obj: Any) -> int:
        return int(obj.connected)


class OffboardForm(forms.Form):
    to_user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        label=_("Hand everything to this person"),
    )
    to_team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), required=False, label=_("Or to this team")
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if (cleaned.get("to_user") is None) == (cleaned.get("to_team") is None):
            raise ValidationError(departures.ONE_TARGET, code="one_target")
        return cleaned


admin.site.unregister(User)


@admin.register(User)
class TeamsUserAdmin(AlertsUserAdmin):
    """The user admin: deleting someone who still owns things is refused with a sentence;
    Offboard hands everything over and deactivates them."""

    actions = ["offboard"]

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        user = self.get_object(request, object_id)
        if user is not None:
            refusal = departures.deletion_refusal(user)
            if refusal is not None:
                self.message_user(request, refusal, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:auth_user_change", args=[user.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        refusals = [r for r in map(departures.deletion_refusal, queryset) if r is not None]
        if refusals:
            for refusal in refusals:
                self.message_user(request, refusal, messages.ERROR)
            return
        super().delete_queryset(request, queryset)

    @admin.action(description=_("Offboard selected users (hand everything over, deactivate)"))
    def offboard(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse | None:
        operator = admin_user(request)
        if not (
            access.user_may_act_for_others(operator)
            and access.user_is_operator(operator, change=True)
        ):
            self.message_user(
                request,
                gettext("Only operators who may change users and connections offboard people."),
                messages.ERROR,
            )
            return None
        form = OffboardForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for user in queryset:
                try:
                    done = departures.offboard(
                        user=user,
                        to_user=form.cleaned_data["to_user"],
                        to_team=form.cleaned_data["to_team"],
                        actor=operator,
                        source=Source.ADMIN,
                    )
                except ValidationError as exc:
                    self.message_user(
                        request,
                        gettext("%(user)s: %(errors)s")
                        % {"user": user.get_username(), "errors": " ".join(exc.messages)},
                        messages.ERROR,
                    )
                    continue
                target = departures.offboard_target_label(
                    to_user=form.cleaned_data["to_user"], to_team=form.cleaned_data["to_team"]
                )
                self.message_user(
                    request, departures.offboard_summary(done, user, target), messages.SUCCESS
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Offboard users"),
            "users": list(queryset),
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/teams/offboard.html", context)
