from __future__ import annotations

from typing import cast

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from common.crypto import EncryptedTextField
from common.text import PlainTextValidator, SecretTextValidator


class OAuthClient(models.Model):
    """A Front app's OAuth 2.0 credentials ("iClient"), shared by many connections."""

    name = models.CharField(
        _("Name"), max_length=100, unique=True, validators=[PlainTextValidator()]
    )
    client_id = models.CharField(
        _("Client ID"),
        max_length=255,
        validators=[SecretTextValidator(cast(str, _("The client ID")))],
    )
    client_secret = EncryptedTextField(_("Client secret"))
    secret_changed_at = models.DateTimeField(
        _("secret changed at"), null=True, blank=True, editable=False
    )
    secret_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("secret changed by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("OAuth 2.0 client")
        verbose_name_plural = _("OAuth 2.0 clients")

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<OAuthClient {self.pk}: {self.name}>"

    def get_absolute_url(self) -> str:
        return reverse("admin:oauthclients_oauthclient_change", args=[self.pk])
