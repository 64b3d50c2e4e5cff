"""Teams: a name and members with a role. Connections and API keys name their team (a nullable
``team`` on ``connections.Connection`` and ``api.ApiKey``); who may do what with them is
answered in ``connections.access`` alone."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from common.text import PlainTextValidator
from connections.models import NameKeyField


class Role(models.TextChoices):
    # The values are read by connections.access (TEAM_ADMIN): keep them in step.
    ADMIN = "admin", pgettext_lazy("team role", "Admin")
    MEMBER = "member", pgettext_lazy("team role", "Member")


class Team(models.Model):
    """A group of people who share connections and API keys."""

    name = models.CharField(_("name"), max_length=100, validators=[PlainTextValidator()])
    # The normalised name (common.text.name_key): "Support" and "ＳＵＰＰＯＲＴ" are one team.
    name_key = NameKeyField(unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("teams:detail", args=[self.pk])


class Membership(models.Model):
    """One person in one team, with a role; ``alerts`` is their per-team alert setting."""

    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("team")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="team_memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    alerts = models.BooleanField(
        _("email me about this team's connections"),
        default=False,
        help_text=_("Team admins always get the alerts; members who tick this get them too."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["team", "user__username"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_team_user_unique")
        ]
        indexes = [models.Index(fields=["user", "role"], name="membership_user_role")]

    def __str__(self) -> str:
        return gettext("%(user)s in %(team)s (%(role)s)") % {
            "user": self.user,
            "team": self.team,
            "role": self.get_role_display(),
        }
