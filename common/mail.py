"""One email FrontConnect sends (an alert, an authorization link), and how it is sent."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage


@dataclass(frozen=True)
class Alert:
    subject: str
    body: str
    to: str


def one_line(text: str) -> str:
    """``text`` on one line: a header may not contain line breaks; names are validated, but
    older rows may predate that."""
    return " ".join(text.split())


def alert_send(alert: Alert) -> None:
    """Send one email through the configured email backend (EMAIL_URL)."""
    EmailMessage(
        subject=alert.subject,
        body=alert.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[alert.to],
    ).send()
