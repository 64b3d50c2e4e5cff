from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.text import SecretTextValidator
from oauthclients.models import OAuthClient

CLIENT_SECRET_MAX_LENGTH = 1024


class OAuthClientForm(forms.ModelForm):
    """The client form: the secret is write-only, and blank on edit keeps the stored one.

    Blank means absent from the post or empty (a browser posts ``client_secret=`` for an
    untouched password input); either way the stored secret is left exactly as it is.
    """

    client_secret = forms.CharField(
        label=_("Client secret"),
        required=False,
        strip=True,
        max_length=CLIENT_SECRET_MAX_LENGTH,
        validators=[SecretTextValidator(cast(str, _("The client secret")))],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    error_messages = {
        "client_secret_required": _("Enter the client secret from the Front app's OAuth settings."),
    }

    class Meta:
        model = OAuthClient
        fields = ["name", "client_id"]
        help_texts = {
            "name": _(
                "A name operators and team members will recognise, e.g. the Front app's name."
            ),
            "client_id": _(
                "In Front: Settings > Company > Developers > your app > Features > OAuth."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["client_secret"].help_text = _(
                "Stored encrypted and never shown. Leave blank to keep the current secret."
            )
        else:
            self.fields["client_secret"].help_text = _(
                "From the same OAuth page in Front. Stored encrypted and never shown again."
            )

    def clean_client_id(self) -> str:
        return str(self.cleaned_data["client_id"]).strip()

    def clean_client_secret(self) -> str:
        secret = str(self.cleaned_data["client_secret"])
        if not secret and not self.instance.pk:
            raise ValidationError(
                self.error_messages["client_secret_required"], code="client_secret_required"
            )
        return secret

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if not cleaned.get("client_secret"):
            # The admin builds this form with client_secret among the model fields, so a blank
            # value left in cleaned_data would be copied onto the instance, erasing the secret.
            cleaned.pop("client_secret", None)
        return cleaned

    def save(self, commit: bool = True) -> OAuthClient:
        client: OAuthClient = super().save(commit=False)
        secret = self.cleaned_data.get("client_secret")
        if secret:
            client.client_secret = secret
            client.secret_changed_at = timezone.now()
        if commit:
            client.save()
        return client
