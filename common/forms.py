"""Form fields the apps share."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from common.db import MAX_ID
from common.models import DEFAULT_TIME_ZONE, Preferences, time_zone_names


class IdsChoiceField(forms.ModelMultipleChoiceField):
    """Choices by id, where an id beyond any column's range is an invalid choice like any other
    unknown one (Django queries it with ``__in``, which SQLite cannot bind)."""

    def _check_values(self, value: Any) -> Any:
        for choice in value:
            text = str(choice)
            if text.isascii() and text.isdigit() and int(text) > MAX_ID:
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": choice},
                )
        return super()._check_values(value)  # type: ignore[misc]


def time_zone_choices() -> list[tuple[Any, Any]]:
    """UTC, then every zone grouped by its region ("Europe": Europe/Paris, ...), for a <select>."""
    regions: dict[str, list[tuple[str, str]]] = {}
    others: list[tuple[str, str]] = []
    for name in sorted(time_zone_names() - {DEFAULT_TIME_ZONE}):
        if "/" in name:
            regions.setdefault(name.split("/", 1)[0], []).append((name, name))
        else:
            others.append((name, name))
    return [(DEFAULT_TIME_ZONE, DEFAULT_TIME_ZONE), *regions.items(), (_("Other"), others)]


class PreferencesForm(forms.ModelForm):
    """A person's language and time zone: their preferences page and the user admin alike."""

    time_zone = forms.ChoiceField(
        label=capfirst(Preferences._meta.get_field("time_zone").verbose_name),
        choices=time_zone_choices,
        initial=DEFAULT_TIME_ZONE,
        help_text=Preferences._meta.get_field("time_zone").help_text,
        error_messages={
            "required": _("Choose a time zone."),
            "invalid_choice": _(
                "“%(value)s” is not a time zone name; choose one in the list, such as Europe/Paris."
            ),
        },
    )

    class Meta:
        model = Preferences
        fields = ["language", "time_zone"]
        error_messages = {
            "language": {
                "invalid_choice": _(
                    "“%(value)s” is not a language FrontConnect offers; choose one in the list."
                )
            }
        }
