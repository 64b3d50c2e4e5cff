from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from api.models import Permission
from teams.models import Role, Team

MAX_KEY_DAYS = 3650


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name"]
        help_texts = {"name": "Unique among teams, ignoring case and look-alike characters."}


class MemberAddForm(forms.Form):
    person = forms.CharField(
        label="Username or email",
        max_length=254,
        help_text="Someone who already signs in to FrontConnect.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TeamKeyForm(forms.Form):
    """A team's API key: a name, what it may do, and for how long."""

    name = forms.CharField(max_length=100, help_text="Which service uses it.")
    permissions = forms.MultipleChoiceField(
        choices=Permission.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="'Create, change and delete connections' needs you to be the team's admin "
        "while the key is used; the others need you to stay in the team.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=MAX_KEY_DAYS,
        help_text=f"Blank: never. At most {MAX_KEY_DAYS} days.",
    )

    def expires_at(self) -> Any:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None
