from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from connections.models import AuthType, Connection, Status

API_TOKEN_MAX_LENGTH = 4096

API_TOKEN_HELP = (
    "In Front: Settings > Company > Developers > API tokens. Create a token and paste it here. "
    "It is stored encrypted and never shown again, so enter it again whenever you edit this "
    "connection."
)
OAUTH_CLIENT_HELP = (
    "The Front app whose OAuth feature gives the client ID and secret "
    "(Settings > Company > Developers > your app > Features > OAuth)."
)
SCOPES_HELP = (
    "What this connection may do in Front; the same scopes as in the app's OAuth settings."
)


class ConnectionForm(forms.ModelForm):
    """The connection form of the admin and of the self-service pages.

    The server applies the auth-type rules whatever the browser sent: a Token connection needs
    an API token, an OAuth 2.0 connection needs a client and scopes, and the values of the other
    auth type are cleared.
    """

    api_token = forms.CharField(
        label="API token",
        required=False,
        strip=True,
        max_length=API_TOKEN_MAX_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=API_TOKEN_HELP,
    )

    error_messages = {
        "api_token_required": "Enter the API token from Front. For your security it must be "
        "entered again every time a Token connection is saved.",
        "api_token_invalid": "The API token contains spaces or control characters; paste it "
        "again exactly as Front shows it.",
        "oauth_client_required": "Choose the OAuth 2.0 client (the Front app) to sign in with.",
        "scopes_required": "Choose at least one scope.",
        "name_taken": "A connection named \u201c%(name)s\u201d already exists for this owner. "
        "Names are unique per owner, ignoring upper and lower case.",
    }

    class Meta:
        model = Connection
        fields = ["name", "company_name", "auth_type", "oauth_client", "scopes"]
        widgets = {
            "auth_type": forms.Select(attrs={"data-connection-auth-type": ""}),
            "scopes": FilteredSelectMultiple("Scopes", is_stacked=False),
        }
        help_texts = {
            "name": "A name you will recognise, unique among your connections.",
            "company_name": "The company this connection belongs to.",
            "oauth_client": OAUTH_CLIENT_HELP,
            "scopes": SCOPES_HELP,
        }

    class Media:
        js = ["connections/js/connection_form.js"]

    def __init__(self, *args: Any, owner: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        client_field = self.fields["oauth_client"]
        if isinstance(client_field, forms.ModelChoiceField):
            client_field.empty_label = "Choose a client"
        if "scopes" in self.fields:
            self.fields["scopes"].help_text = SCOPES_HELP

    def clean_api_token(self) -> str:
        token = self.cleaned_data["api_token"]
        if token and any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in token):
            raise ValidationError(
                self.error_messages["api_token_invalid"], code="api_token_invalid"
            )
        return token

    def clean(self) -> dict[str, Any]:
        # ModelForm.clean returns self.cleaned_data; the stubs allow None for any Form.clean.
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("auth_type") == AuthType.TOKEN:
            if not cleaned.get("api_token") and "api_token" not in self.errors:
                self.add_error(
                    "api_token",
                    ValidationError(
                        self.error_messages["api_token_required"], code="api_token_required"
                    ),
                )
            cleaned["oauth_client"] = None
            cleaned["scopes"] = []
        elif cleaned.get("auth_type") == AuthType.OAUTH2:
            if not cleaned.get("oauth_client") and "oauth_client" not in self.errors:
                self.add_error(
                    "oauth_client",
                    ValidationError(
                        self.error_messages["oauth_client_required"], code="oauth_client_required"
                    ),
                )
            if not cleaned.get("scopes") and "scopes" not in self.errors:
                self.add_error(
                    "scopes",
                    ValidationError(self.error_messages["scopes_required"], code="scopes_required"),
                )
            cleaned["api_token"] = ""
        self._check_name_is_free(cleaned)
        return cleaned

    def _check_name_is_free(self, cleaned: dict[str, Any]) -> None:
        name = cleaned.get("name")
        owner = cleaned.get("owner") or self.owner
        if not name or owner is None:
            return
        taken = Connection.objects.filter(owner=owner, name__iexact=name)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            self.add_error(
                "name",
                ValidationError(
                    self.error_messages["name_taken"], code="name_taken", params={"name": name}
                ),
            )

    def validate_constraints(self) -> None:
        # The name constraint is checked above with a message in words; the database
        # constraint remains as the last line of defence against a race.
        return

    def save(self, commit: bool = True) -> Connection:
        """Apply the auth-type rules to the instance; persisting is connection_save's job."""
        connection: Connection = super().save(commit=False)
        if self.owner is not None and not connection.owner_id:
            connection.owner = self.owner
        if connection.auth_type == AuthType.TOKEN:
            connection.api_token = self.cleaned_data["api_token"]
            connection.api_token_changed_at = timezone.now()
            connection.access_token = ""
            connection.refresh_token = ""
            connection.access_token_expires_at = None
        else:
            if connection.api_token:
                connection.api_token_changed_at = timezone.now()
            connection.api_token = ""
        if self.instance.pk and (
            "auth_type" in self.changed_data or "oauth_client" in self.changed_data
        ):
            # A different way of signing in voids what the old one proved.
            connection.status = Status.NOT_AUTHORIZED
            connection.access_token = ""
            connection.refresh_token = ""
            connection.access_token_expires_at = None
            connection.front_company_id = ""
            connection.front_company_name = ""
        if commit:
            connection.save()
            self.save_m2m()
        return connection


class ConnectionAdminForm(ConnectionForm):
    """The connection form with the owner field that operators set."""

    class Meta(ConnectionForm.Meta):
        fields = [*ConnectionForm.Meta.fields, "owner"]
