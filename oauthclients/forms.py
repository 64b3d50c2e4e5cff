from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from oauthclients.models import OAuthClient

CLIENT_SECRET_MAX_LENGTH = 1024


class OAuthClientForm(forms.ModelForm):
    """The client form: the secret is write-only, and blank on edit keeps the stored one."""

    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=True,
        max_length=CLIENT_SECRET_MAX_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    error_messages = {
        "client_secret_required": "Enter the client secret from the Front app's OAuth settings.",
        "client_secret_invalid": "The client secret contains spaces or control characters; "
        "paste it again exactly as Front shows it.",
    }

    class Meta:
        model = OAuthClient
        fields = ["name", "client_id"]
        help_texts = {
            "name": "A name operators and team members will recognise, e.g. the Front app's name.",
            "client_id": "In Front: Settings > Company > Developers > your app > Features > OAuth.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields[
                "client_secret"
            ].help_text = (
                "Stored encrypted and never shown. Leave blank to keep the current secret."
            )
        else:
            self.fields[
                "client_secret"
            ].help_text = (
                "From the same OAuth page in Front. Stored encrypted and never shown again."
            )

    def clean_client_id(self) -> str:
        client_id = self.cleaned_data["client_id"].strip()
        if any(ch.isspace() or ord(ch) < 32 for ch in client_id):
            raise ValidationError("The client ID cannot contain spaces.", code="client_id_invalid")
        return client_id

    def clean_client_secret(self) -> str:
        secret = self.cleaned_data["client_secret"]
        if secret and any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in secret):
            raise ValidationError(
                self.error_messages["client_secret_invalid"], code="client_secret_invalid"
            )
        if not secret and not self.instance.pk:
            raise ValidationError(
                self.error_messages["client_secret_required"], code="client_secret_required"
            )
        return secret

    def save(self, commit: bool = True) -> OAuthClient:
        client: OAuthClient = super().save(commit=False)
        if self.cleaned_data["client_secret"]:
            client.client_secret = self.cleaned_data["client_secret"]
            client.secret_changed_at = timezone.now()
        if commit:
            client.save()
        return client
