from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from common.crypto import EncryptedTextField, UndecryptableSecret
from common.text import PlainTextValidator, name_key
from common.wording import SaidField
from oauthclients.models import OAuthClient


class Scope(models.Model):
    """A Front permission code such as ``conversations:read``."""

    code = models.CharField(_("code"), max_length=100, unique=True)
    description = models.CharField(
        _("description"), max_length=255, blank=True, validators=[PlainTextValidator()]
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("scope")
        verbose_name_plural = _("scopes")

    def __str__(self) -> str:
        return self.code


class AuthType(models.TextChoices):
    TOKEN = "token", _("Token")
    OAUTH2 = "oauth2", _("OAuth 2.0")


class Status(models.TextChoices):
    NOT_AUTHORIZED = "not_authorized", _("Not authorized")
    # A credential saved but not yet checked against Front (a new or changed API token).
    UNCHECKED = "unchecked", _("Not checked yet")
    ONLINE = "online", _("Online")
    OFFLINE = "offline", _("Offline")
    REAUTHORIZE = "reauthorize", _("Needs reauthorization")


NAME_KEY_MAX_LENGTH = 400


class NameKeyField(models.CharField):
    """The normalised form of ``name`` (``common.text.name_key``), set whenever a row is written.

    Derived in ``pre_save`` so that ``save()`` and ``bulk_create`` both keep it true; the unique
    constraint on (owner, name_key) then means the same on SQLite and PostgreSQL.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max_length", NAME_KEY_MAX_LENGTH)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        key = name_key(getattr(model_instance, "name", ""))
        setattr(model_instance, self.attname, key)
        return key


class Connection(models.Model):
    """One sign-in to Front's API, by API token or by OAuth 2.0."""

    SECRET_FIELDS = ("api_token", "access_token", "refresh_token")
    # What an OAuth 2.0 grant leaves on the row; forgetting the grant resets every one of them.
    GRANT_FIELDS = (
        "access_token",
        "refresh_token",
        "access_token_expires_at",
        "refresh_token_digest",
        "refresh_lease_id",
        "refresh_lease_until",
        "refresh_interrupted_at",
        "unreachable_since",
    )

    name = models.CharField(
        _("Name your connection"), max_length=100, validators=[PlainTextValidator()]
    )
    name_key = NameKeyField()
    company_name = models.CharField(
        _("Company name"), max_length=200, validators=[PlainTextValidator()]
    )
    auth_type = models.CharField(
        _("Auth type"), max_length=10, choices=AuthType.choices, default=AuthType.TOKEN
    )
    # The one declaration of the token's limit: the rules, the form and the API read it.
    api_token = EncryptedTextField(_("API token"), max_length=4096)
    api_token_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    oauth_client = models.ForeignKey(
        OAuthClient,
        verbose_name=_("OAuth 2.0 client"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="connections",
    )
    scopes = models.ManyToManyField(Scope, verbose_name=_("Scopes"), blank=True)
    access_token = EncryptedTextField(_("access token"))
    refresh_token = EncryptedTextField(_("refresh token"))
    access_token_expires_at = models.DateTimeField(
        _("access token expires at"), null=True, blank=True
    )
    authorized_at = models.DateTimeField(_("authorized at"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=Status.choices,
        default=Status.NOT_AUTHORIZED,
        db_index=True,
    )
    front_company_id = models.CharField(_("Front company ID"), max_length=100, blank=True)
    front_company_name = models.CharField(_("Front company"), max_length=200, blank=True)
    last_checked_at = models.DateTimeField(_("last check"), null=True, blank=True)
    # A sentence stored as a code and its parameters (common.wording), shown in the reader's words.
    last_check_result = SaidField(_("last check result"))
    # Set by the access-token and proxy paths: the worker refreshes ahead only what is in use.
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    # Front's refresh token lives 6 months from here; the worker keeps the grant alive near its end.
    refresh_token_obtained_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set on the first check that could not reach Front, cleared by any definite answer.
    unreachable_since = models.DateTimeField(null=True, blank=True, editable=False)
    # A refresh is claimed with a short lease (a conditional UPDATE), so that Front is called
    # outside any transaction and by one process only; the write-back compares the digest of
    # the refresh token it started from (the encrypted column cannot be compared in SQL).
    refresh_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    refresh_lease_id = models.CharField(max_length=32, blank=True, editable=False)
    # A periodic check run claims the due connections it will check (connections.upkeep), so
    # overlapping runs (two schedulers, a run longer than its schedule) check each one once.
    check_claim = models.CharField(max_length=32, blank=True, editable=False)
    check_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    refresh_token_digest = models.CharField(max_length=64, blank=True, editable=False)
    # Set when a refresh finds the lease of an earlier one expired and never written back nor
    # released (its worker died between Front's answer and the write-back); cleared by any new
    # grant. A refusal of the grant after that is reported as an interrupted refresh.
    refresh_interrupted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Bumped by every change of the sign-in (token saved, auth type or client changed,
    # authorized, disconnected): each verdict and token write-back names the version it was
    # made for, and one made for an older version goes into the history, never into the row.
    credential_version = models.PositiveIntegerField(default=0, editable=False)
    # The person the connection belongs to or, for a team's connection, who created it (or was
    # handed it by an offboarding). Deleting a user who still owns connections is refused
    # (teams.departures); PROTECT keeps that true for any other path.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="front_connections",
    )
    # A team's connection: its members see and use it, its admins (and its creator) change it
    # (connections.access). A team holding connections cannot be deleted.
    team = models.ForeignKey(
        "teams.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="connections",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            # Names are unique among a person's own connections, and within a team.
            models.UniqueConstraint(
                fields=["owner", "name_key"],
                condition=models.Q(team__isnull=True),
                name="connection_name_key_unique_per_owner",
                violation_error_message=_("You already have a connection with this name."),
            ),
            models.UniqueConstraint(
                fields=["team", "name_key"],
                condition=models.Q(team__isnull=False),
                name="connection_name_key_unique_per_team",
                violation_error_message=_("This team already has a connection with this name."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Connection {self.pk}: {self.name}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # "Not authorized" means nothing for a token: a new Token row starts Not checked yet.
        if self._state.adding and self.auth_type == AuthType.TOKEN:
            if self.status == Status.NOT_AUTHORIZED:
                self.status = Status.UNCHECKED
        super().save(*args, **kwargs)
        # A bumped version (``credential_change``) is read back as the number stored.
        if isinstance(self.credential_version, models.expressions.Combinable):
            self.refresh_from_db(fields=["credential_version"])

    def get_absolute_url(self) -> str:
        return reverse("connections:detail", args=[self.pk])

    @property
    def is_oauth(self) -> bool:
        return self.auth_type == AuthType.OAUTH2

    @property
    def undecryptable_fields(self) -> list[str]:
        """Names of the secrets that no configured key can decrypt."""
        return [
            field
            for field in self.SECRET_FIELDS
            if isinstance(getattr(self, field), UndecryptableSecret)
        ]

    def tokens_clear(self) -> list[str]:
        """Forget the OAuth 2.0 tokens (fields only, no save); return the fields it set.

        The digest and lease go too: a refresh in flight compares them before writing back, so
        it cannot bring the forgotten tokens back.
        """
        for field in self._meta.concrete_fields:
            if field.name in self.GRANT_FIELDS:
                setattr(self, field.name, field.get_default())
        return list(self.GRANT_FIELDS)

    def credential_change(self) -> list[str]:
        """Mark the sign-in as changed (fields only, no save); return the fields it set.

        The version is bumped in SQL (``F() + 1``) so that two writers never both claim one
        version; ``save()`` reads the stored number back.
        """
        if self.pk is None:
            return []
        self.credential_version = models.F("credential_version") + 1
        return ["credential_version"]

    def access_token_expires_within(self, seconds: int) -> bool:
        if self.access_token_expires_at is None:
            return True
        return (self.access_token_expires_at - timezone.now()).total_seconds() < seconds


class Action(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    AUTHORIZED = "authorized", _("Authorized")
    REFRESHED = "refreshed", _("Token refreshed")
    TESTED = "tested", _("Tested")
    DISCONNECTED = "disconnected", _("Disconnected")
    IMPORTED = "imported", _("Imported")
    DELETED = "deleted", _("Deleted")
    KEY_ROTATED = "key_rotated", _("Key rotated")
    # A verdict (check, refresh, authorization) made for a sign-in that changed meanwhile.
    SUPERSEDED = "superseded", _("Superseded")
    # An authorization link made or revoked (its use is recorded as "authorized").
    LINK = "link", _("Authorization link")


class Source(models.TextChoices):
    ADMIN = "admin", _("Admin")
    SELF_SERVICE = "self_service", _("Self-service")
    COMMAND = "command", _("Command")
    WORKER = "worker", _("Worker")
    API = "api", _("Service API")
    # The Front admin who followed an authorization link (no FrontConnect account).
    LINK = "link", _("Authorization link")
    # Consequences nobody asked for directly, such as a cascade from deleting a user account.
    SYSTEM = "system", _("System")


class Event(models.Model):
    """An append-only history entry: who did what to a connection, and how it went."""

    connection = models.ForeignKey(
        Connection,
        verbose_name=_("connection"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    # Kept so that the history of a deleted connection still says which one it was.
    connection_name = models.CharField(_("connection name"), max_length=100)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    success = models.BooleanField(_("success"), default=True)
    message = SaidField(_("message"))
    fields = models.JSONField(_("changed fields"), default=list, blank=True)
    # The API key an action was done with (actor: the key's creator); plain values, so the
    # history keeps naming a key that was deleted, and connections never depends on the api app.
    api_key_id = models.PositiveBigIntegerField(
        _("API key id"), null=True, blank=True, editable=False
    )
    api_key_name = models.CharField(_("API key"), max_length=100, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("event")
        verbose_name_plural = _("events")

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.connection_name}"

    @property
    def who(self) -> str:
        """Who did it, as history pages show it: the person, and the API key they acted with."""
        person = self.actor.get_username() if self.actor is not None else gettext("System")
        if self.api_key_name:
            return gettext("%(person)s with API key “%(key)s”") % {
                "person": person,
                "key": self.api_key_name,
            }
        return person


class Transition(models.Model):
    """One change of a connection's status, written only by ``connections.status``.

    Alerts, webhooks and the dashboard read these rows; nothing else records a status change.
    """

    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="transitions"
    )
    connection_name = models.CharField(max_length=100)
    old_status = models.CharField(max_length=20, choices=Status.choices)
    new_status = models.CharField(max_length=20, choices=Status.choices)
    reason = SaidField(_("reason"))
    source = models.CharField(max_length=20, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The API key an action was done with (actor: the key's creator); plain values, so the
    # history keeps naming a key that was deleted, and connections never depends on the api app.
    api_key_id = models.PositiveBigIntegerField(
        _("API key id"), null=True, blank=True, editable=False
    )
    api_key_name = models.CharField(_("API key"), max_length=100, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["connection", "-created_at"], name="transition_conn_time")]

    def __str__(self) -> str:
        return f"{self.connection_name}: {self.old_status} -> {self.new_status}"


class Removal(models.Model):
    """What a deleted connection leaves for the status chart: when it existed, in which status.

    Written by ``connections.history`` for every deletion; the connection's own transitions lose
    their link when it goes, so its first and last status are copied here.
    """

    connection_name = models.CharField(max_length=100)
    created_at = models.DateTimeField(help_text=_("When the deleted connection was created."))
    first_status = models.CharField(max_length=20, choices=Status.choices)
    last_status = models.CharField(max_length=20, choices=Status.choices)
    deleted_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-deleted_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.connection_name} (deleted)"


class PendingAuthorization(models.Model):
    """Server-side state of one OAuth 2.0 authorization started with Save and authorize."""

    # Only a hash of the state is stored: a database leak must not let anyone finish a flow.
    state_hash = models.CharField(max_length=64, unique=True)
    # Who started it; none when started from an authorization link, which is then the binding.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    link = models.ForeignKey(
        "AuthorizationLink", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    session_key_hash = models.CharField(max_length=64)
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="pending_authorizations"
    )
    oauth_client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.CharField(max_length=500)
    code_verifier = EncryptedTextField()
    return_url = models.CharField(max_length=500)
    source = models.CharField(max_length=20, choices=Source.choices)
    # The connection's credential version when the flow started: a callback for an older one is
    # refused ("the connection changed while you were in Front").
    credential_version = models.PositiveIntegerField(default=0)
    # The scheme and host the flow was started at: Front returns to FRONTCONNECT_BASE_URL, and
    # a start on another host (localhost for 127.0.0.1) has no session there; the callback says so.
    started_at = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Authorization of {self.connection_id} started {self.created_at:%Y-%m-%d %H:%M}"


class LinkResult(models.TextChoices):
    AUTHORIZED = "authorized", _("Authorized")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Failed")


class AuthorizationLink(models.Model):
    """A single-use link that lets a Front admin without an account authorize one connection.

    Only a hash of its secret is stored. It is bound to the connection, to the connection's
    credential version when it was made (``connections.links`` refuses it once that changed) and
    to the Front company the connection had then, if any.
    """

    secret_hash = models.CharField(max_length=64, unique=True)
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="authorization_links"
    )
    credential_version = models.PositiveIntegerField()
    front_company_id = models.CharField(max_length=100, blank=True)
    front_company_name = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requester_name = models.CharField(_("requested by"), max_length=200)
    # The API key it was made with (plain values: connections never imports api).
    api_key_id = models.PositiveBigIntegerField(_("API key id"), null=True, blank=True)
    api_key_name = models.CharField(_("API key"), max_length=100, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    note = models.CharField(max_length=500, blank=True, validators=[PlainTextValidator()])
    emailed_to = models.EmailField(blank=True)
    return_url = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    result = models.CharField(max_length=20, choices=LinkResult.choices, blank=True)
    result_reason = SaidField(_("result reason"))
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set once the expiry was announced (webhook connection.authorization_link.expired).
    expiry_announced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Authorization link for {self.connection_id} by {self.requester_name}"

    def is_open(self) -> bool:
        return self.used_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class EncryptionKeyFingerprint(models.Model):
    """The fingerprint of the key that this database's secrets are written with."""

    fingerprint = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.fingerprint


class RateBudget(models.Model):
    """FrontConnect's share of one Front rate-limit bucket (a company, or a token until known).

    Shared by every process and host through the database; ``connections.ratelimit`` is the only
    code that reads or writes it.
    """

    key = models.CharField(max_length=200, unique=True)
    limit = models.PositiveIntegerField(help_text=_("Front's limit per window, as last learned."))
    allowance = models.PositiveIntegerField(
        help_text=_("How many FrontConnect may use per window.")
    )
    used = models.PositiveIntegerField(default=0)
    proxy_used = models.PositiveIntegerField(
        default=0, help_text=_("How many of ``used`` the API proxy took in this window.")
    )
    window_reset = models.DateTimeField(help_text=_("When the current window ends."))
    blocked_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.used}/{self.allowance} of {self.limit}"


class WorkerHeartbeat(models.Model):
    """The last time a background worker proved it runs tasks; /healthz reads it."""

    name = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class SchedulerLock(models.Model):
    """Which scheduler (celery beat) may send the periodic tasks; one row per schedule.

    The holder renews its lease every few seconds (``connections.beat``); another scheduler is
    refused while the lease is live, judged by the database clock, and records itself as the
    contender so /healthz and the dashboard can name both.
    """

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    held_since = models.DateTimeField(null=True, blank=True)
    contender = models.CharField(max_length=200, blank=True)
    contender_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.holder or 'nobody'}"
