from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from connections.access import KeyReach
from connections.models import Connection


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased; "" for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{parts.hostname}" + (
        f":{port}" if port not in (None, default) else ""
    )


# Every key starts with this, so a leaked key is recognisable (and secret scanners can match it).
KEY_PREFIX = "fc_live_"


class Permission(models.TextChoices):
    READ = "read", _("Read connection details")
    TOKEN = "token", _("Get an access token")
    PROXY = "proxy", _("Call Front through the proxy")
    WRITE = "write", _("Create, change and delete connections")
    AUTHORIZE = "authorize", _("Make authorization links")


# What a key reaches: defined with the rule itself, in connections.access.
KeyScope = KeyReach


class ApiKey(models.Model):
    """A service's key to the API; only the SHA-256 of the key is stored."""

    name = models.CharField(_("name"), max_length=100)
    # The readable part of the key (fc_live_<public_id>): how a key is found, and recognised.
    public_id = models.CharField(_("public id"), max_length=24, unique=True, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    # A person's key has an owner; a team's key has a team instead (and its creator in
    # created_by: it works only while they are still in the team, connections.access).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_keys",
        verbose_name=_("owner"),
        help_text=_("The person accountable for this key: it never reaches more than they may."),
    )
    team = models.ForeignKey(
        "teams.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_keys",
        verbose_name=_("team"),
        help_text=_("A team's key: it reaches the team's connections, owned by the team."),
    )
    scope = models.CharField(
        _("reaches"), max_length=20, choices=KeyScope.choices, default=KeyScope.USERS
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        verbose_name=_("users"),
        help_text=_("With “The connections of chosen users”: whose connections the key reaches."),
    )
    connections = models.ManyToManyField(
        Connection,
        blank=True,
        related_name="+",
        verbose_name=_("connections"),
        help_text=_("With “Chosen connections”: the connections the key reaches."),
    )
    permissions = models.JSONField(
        _("permissions"), default=list, help_text=_("What the key may do.")
    )
    return_origins = models.JSONField(
        _("allowed return origins"),
        default=list,
        blank=True,
        help_text=_(
            "With 'authorize': where a finished authorization link may send the browser back to "
            "(its return_url's scheme, host and port must be one of these)."
        ),
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(
        _("last used from"), null=True, blank=True, editable=False
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("revoked by"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # Owned by a person, or by a team (and then reaching exactly that team).
            models.CheckConstraint(
                condition=(
                    models.Q(owner__isnull=False, team__isnull=True)
                    & ~models.Q(scope=KeyReach.TEAM)
                )
                | models.Q(owner__isnull=True, team__isnull=False, scope=KeyReach.TEAM),
                name="apikey_owned_by_person_or_team",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def __repr__(self) -> str:
        return f"<ApiKey {self.pk}: {self.prefix}>"

    @property
    def prefix(self) -> str:
        return KEY_PREFIX + self.public_id

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    def return_url_allowed(self, url: str) -> bool:
        """Whether ``url``'s origin (scheme, host, port) is one of this key's return origins."""
        return url_origin(url) in {url_origin(origin) for origin in self.return_origins} - {""}

    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ApiKeyUsage(models.Model):
    """How often one key used one connection: a counter, not one history row per call."""

    key = models.ForeignKey(
        ApiKey, on_delete=models.CASCADE, related_name="usage", verbose_name=_("API key")
    )
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="+", verbose_name=_("connection")
    )
    count = models.PositiveBigIntegerField(_("count"), default=0)
    last_used_at = models.DateTimeField(_("last used at"), default=timezone.now)

    class Meta:
        verbose_name = _("API key usage")
        verbose_name_plural = _("API key usage")
        constraints = [
            models.UniqueConstraint(fields=["key", "connection"], name="apikeyusage_key_connection")
        ]

    def __str__(self) -> str:
        return gettext("%(key)s used %(connection)s: %(count)s") % {
            "key": self.key_id,
            "connection": self.connection_id,
            "count": self.count,
        }


class ProxySlot(models.Model):
    """One of a key's places for a proxied call in flight (api/slots.py), held under a lease.

    A call takes a free slot (or one whose lease ran out: its process died) with a conditional
    UPDATE and frees it when its answer is closed, so every process shares one bound per key.
    """

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=32, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "number"], name="proxyslot_key_number")
        ]

    def __str__(self) -> str:
        return f"{self.key_id} slot {self.number}"
