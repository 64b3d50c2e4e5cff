"""Form fields the apps share."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from common.db import MAX_ID


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
