from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UsernameField
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alerts.destinations import webhook_url_validate
from alerts.models import Webhook
from common.text import SecretTextValidator
from connections import lifecycle
from connections.models import Status

SECRET_MIN_LENGTH = 24
SECRET_HOWTO = (
    'python3 -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


class WebhookForm(forms.ModelForm):
    """The webhook form: the URL and signing secret are write-only, and blank on edit keeps them.

    A URL's path and query often carry the receiver's own token, so the URL is stored encrypted
    like the secret and only its host is shown.
    """

    signing_secret = forms.CharField(
        label=_("Signing secret"),
        required=False,
        strip=True,
        min_length=SECRET_MIN_LENGTH,
        max_length=256,
        # A lazy text: the label is read in the language of the request that validates.
        validators=[SecretTextValidator(cast(str, _("The signing secret")))],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    url = forms.URLField(
        label=_("URL"),
        required=False,
        max_length=500,
        assume_scheme="https",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    events = forms.MultipleChoiceField(
        label=_("Send these events"),
        choices=lifecycle.EVENT_TYPES,
        widget=forms.CheckboxSelectMultiple,
        initial=[lifecycle.STATUS_CHANGED],
        help_text=_(
            "Each call is one event (Standard Webhooks: webhook-id, webhook-timestamp, "
            "webhook-signature headers)."
        ),
    )
    statuses = forms.MultipleChoiceField(
        label=_("Send when a connection becomes"),
        choices=Status.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "With “Status changed”: one call is made for each change of status into one of these."
        ),
    )

    error_messages = {
        "signing_secret_required": _(
            "Enter a signing secret: the receiver checks each call's signature with it. "
            "Generate one with: %(howto)s"
        ),
        "url_required": _("Enter the webhook's https:// URL."),
    }

    class Meta:
        model = Webhook
        fields = ["name", "is_active", "events", "statuses"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            url_help = gettext(
                "A public https:// address that accepts a JSON POST (no user:password@; "
                "redirects are not followed). Stored encrypted: only its host is shown (now "
                "%(host)s). Leave blank to keep it."
            ) % {"host": self.instance.host or gettext("unknown")}
        else:
            url_help = gettext(
                "A public https:// address that accepts a JSON POST (no user:password@; "
                "redirects are not followed). Stored encrypted: only its host is shown."
            )
        self.fields["url"].help_text = url_help
        field = self.fields["signing_secret"]
        if self.instance.pk:
            field.help_text = gettext("Stored encrypted and never shown. Leave blank to keep it.")
        else:
            field.help_text = gettext(
                "At least %(min_length)s characters, shared with the receiver; stored encrypted "
                "and never shown again. Generate one with: %(howto)s"
            ) % {"min_length": SECRET_MIN_LENGTH, "howto": SECRET_HOWTO}

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        if not url and not self.instance.pk:
            raise ValidationError(self.error_messages["url_required"], code="url_required")
        if url:
            webhook_url_validate(url)
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("url"):
            # Blank on edit keeps the stored URL: the admin would otherwise copy "" onto it.
            cleaned.pop("url", None)
        return cleaned

    def clean_signing_secret(self) -> str:
        secret: str = self.cleaned_data["signing_secret"]
        if not secret and not self.instance.pk:
            raise ValidationError(
                self.error_messages["signing_secret_required"],
                code="signing_secret_required",
                params={"howto": SECRET_HOWTO},
            )
        return secret

    def save(self, commit: bool = True) -> Webhook:
        webhook: Webhook = super().save(commit=False)
        if self.cleaned_data.get("url"):
            webhook.url = self.cleaned_data["url"]
        if self.cleaned_data["signing_secret"]:
            webhook.secret = self.cleaned_data["signing_secret"]
            webhook.secret_changed_at = timezone.now()
        if commit:
            webhook.save()
        return webhook


class UserAddForm(AdminUserCreationForm):
    """The admin's add-user form, asking for the email address that alerts and resets use."""

    email = forms.EmailField(
        label=_("Email address"),
        help_text=_(
            "Alerts about their connections and password reset links are sent here: without "
            "an address this person gets neither."
        ),
    )

    class Meta:
        model = User
        fields = ("username", "email", "first_name", "last_name")
        field_classes = {"username": UsernameField}
