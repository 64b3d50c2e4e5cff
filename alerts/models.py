"""Who is told about status changes, and the record of each email and webhook call."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alerts.destinations import webhook_url_validate
from common.crypto import EncryptedTextField, sealed_value
from common.text import PlainTextValidator
from common.wording import SaidField
from connections import lifecycle
from connections.models import Connection, Status, Transition

# A connection in one of these has stopped working: its owner is told, and told again when
# it is back Online.
OUTAGE_STATUSES = (Status.OFFLINE, Status.REAUTHORIZE)


def webhook_statuses_default() -> list[str]:
    return [Status.OFFLINE.value, Status.REAUTHORIZE.value, Status.ONLINE.value]


def webhook_events_default() -> list[str]:
    return [lifecycle.STATUS_CHANGED]


class AlertPreference(models.Model):
    """One user's alert settings; users without a row get their own connections' emails."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="alert_preference",
        verbose_name=_("user"),
    )
    email_enabled = models.BooleanField(
        _("Email alerts"),
        default=True,
        help_text=_(
            "Send this user an email when one of their connections stops or starts working."
        ),
    )
    all_connections = models.BooleanField(
        _("Alerts for every connection"),
        default=False,
        help_text=_("Operators only: also email this user about every other user's connections."),
    )

    class Meta:
        verbose_name = _("alert preference")
        verbose_name_plural = _("alert preferences")

    def __str__(self) -> str:
        return gettext("Alerts for %(user)s") % {"user": self.user}


class NoticeKind(models.TextChoices):
    OUTAGE = "outage", _("Stopped working")
    RECOVERY = "recovery", _("Working again")


class NoticeState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped")


class Notice(models.Model):
    """One email to one user, sent at most once: claimed by a worker, sent, and recorded."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    state = models.CharField(
        _("state"), max_length=10, choices=NoticeState.choices, default="pending"
    )
    # A worker sending this email holds it until then; a crashed worker's claim runs out.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    error = models.CharField(_("error"), max_length=200, blank=True)
    # Why it was not sent, as a code and its parameters (common.wording).
    note = SaidField(_("note"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        abstract = True


class Notification(Notice):
    """One email about one transition to one user; the unique pair is what stops a second send."""

    transition = models.ForeignKey(
        Transition,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("transition"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=NoticeKind.choices)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["transition", "user"], name="notification_once_per_transition_user"
            )
        ]

    def __str__(self) -> str:
        return gettext("%(kind)s email to %(user)s about %(transition)s") % {
            "kind": self.get_kind_display(),
            "user": self.user,
            "transition": self.transition,
        }


class LapseWarning(Notice):
    """One email to one user about one grant lapsing soon; unique per grant, so sent once.

    A grant is named by its connection and the moment it lapses: a new refresh token or a new
    authorization moves that moment, so the next grant is warned about again.
    """

    connection = models.ForeignKey(
        Connection,
        on_delete=models.CASCADE,
        related_name="lapse_warnings",
        verbose_name=_("connection"),
    )
    lapses_at = models.DateTimeField(_("authorization lapses"))

    class Meta:
        verbose_name = _("lapse warning")
        verbose_name_plural = _("lapse warnings")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "lapses_at", "user"], name="lapse_warning_once_per_grant_user"
            )
        ]

    def __str__(self) -> str:
        return gettext("Lapse warning to %(user)s about %(connection)s (%(date)s)") % {
            "user": self.user,
            "connection": self.connection,
            "date": f"{self.lapses_at:%Y-%m-%d}",
        }


class Webhook(models.Model):
    """An https endpoint told about connections' events, with a signing secret it shares with us.

    The URL is stored encrypted (its path and query often carry a token) and only its host is
    shown. After ``FRONTCONNECT_WEBHOOK_PAUSE_AFTER`` failed calls in a row it is paused until
    an operator resumes it.
    """

    name = models.CharField(
        _("name"), max_length=100, unique=True, validators=[PlainTextValidator()]
    )
    url = EncryptedTextField(_("URL"), validators=[webhook_url_validate])
    host = models.CharField(_("host"), max_length=300, blank=True, editable=False)
    secret = EncryptedTextField(_("signing secret"))
    secret_changed_at = models.DateTimeField(
        _("secret changed at"), null=True, blank=True, editable=False
    )
    is_active = models.BooleanField(_("Active"), default=True)
    statuses = models.JSONField(
        _("Send when a connection becomes"),
        default=webhook_statuses_default,
        help_text=_("A call is made for each change of status into one of these."),
    )
    events = models.JSONField(
        _("Send these events"),
        default=webhook_events_default,
        help_text=_("The event types this webhook subscribes to."),
    )
    consecutive_failures = models.PositiveIntegerField(
        _("consecutive failures"), default=0, editable=False
    )
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True, editable=False)
    pause_reason = SaidField(_("pause reason"), editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        url = sealed_value(self, "url")
        if isinstance(url, str):  # a URL set since loading: show its host, never its path
            parts = urlsplit(url)
            try:
                self.host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
            except ValueError:
                self.host = ""
        super().save(*args, **kwargs)

    def wants(self, transition: Transition) -> bool:
        return self.wants_type(lifecycle.STATUS_CHANGED) and transition.new_status in self.statuses

    def wants_type(self, event_type: str) -> bool:
        return self.is_active and event_type in self.events


class WebhookEvent(models.Model):
    """One thing webhooks are told about, with the stable id every call about it carries.

    ``msg_id`` is the Standard Webhooks ``webhook-id``: the same for every attempt and every
    redelivery, so a receiver can drop a call it has processed already. A status change keeps
    its data in its Transition; the other events keep theirs in ``data`` (never a secret).
    """

    msg_id = models.CharField("webhook-id", max_length=40, unique=True)
    type = models.CharField(_("type"), max_length=60, choices=lifecycle.EVENT_TYPES, db_index=True)
    connection = models.ForeignKey(
        Connection,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("connection"),
    )
    connection_name = models.CharField(_("connection name"), max_length=100, blank=True)
    transition = models.OneToOneField(
        Transition,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_event",
        verbose_name=_("transition"),
    )
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.type} {self.msg_id}"


class WebhookDelivery(models.Model):
    """The calls made to one webhook for one transition: how many, and how the last one went."""

    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("webhook")
    )
    event = models.ForeignKey(
        WebhookEvent,
        null=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("event"),
    )
    # Set for status changes (the sweep and the admin find them by it); older rows have no event.
    transition = models.ForeignKey(
        Transition,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_deliveries",
        verbose_name=_("transition"),
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    # How the last call went, as a code and its parameters (common.wording).
    error = SaidField(_("error"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    # Not called because its webhook was paused: an operator resuming it does not send these.
    skipped_at = models.DateTimeField(_("skipped at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "transition"], name="webhook_delivery_once_per_transition"
            ),
            models.UniqueConstraint(
                fields=["webhook", "event"], name="webhook_delivery_once_per_event"
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(webhook)s about %(subject)s") % {
            "webhook": self.webhook,
            "subject": self.event or self.transition,
        }
