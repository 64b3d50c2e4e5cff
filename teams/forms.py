from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api.models import Permission
from teams.models import Role, Team

MAX_KEY_DAYS = 3650


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name"]
        help_texts = {"name": _("Unique among teams, ignoring case and look-alike characters.")}


class MemberAddForm(forms.Form):
    person = forms.CharField(
        label=_("Username or email"),
        max_length=254,
        help_text=_("Someone who already signs in to FrontConnect."),
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class TeamKeyForm(forms.Form):
    """A team's API key: a name, what it may do, and for how long."""

    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("Which service uses it."))
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"),
        choices=Permission.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "“Create, change and delete connections” needs you to be the team's admin "
            "while the key is used; the others need you to stay in the team."
        ),
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires in (days)"),
        required=False,
        min_value=1,
        max_value=MAX_KEY_DAYS,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expires_in_days"].help_text = ngettext(
            "Blank: never. At most %(days)d day.",
            "Blank: never. At most %(days)d days.",
            MAX_KEY_DAYS,
        ) % {"days": MAX_KEY_DAYS}

    def expires_at(self) -> Any:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None
