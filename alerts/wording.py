"""The sentences the alerts app stores as codes (``common.wording``), shown in the reader's
words."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from common.wording import NOTHING, Said, said, sentences

__all__ = ["NOTHING", "SENTENCES", "Said", "said"]

SENTENCES = sentences(
    {
        # Why a notice was not sent (Notification.note, LapseWarning.note).
        "notice.changed_again": _(
            "The connection changed status again before this email went out."
        ),
        "notice.no_outage_email": _(
            "No email was sent about the outage, so none is sent about the recovery."
        ),
        "lapse.lapsed": _("The authorization lapsed before this email went out."),
        "lapse.settled": _(
            "Front no longer accepts this authorization; its status change was alerted."
        ),
        "lapse.renewed": _(
            "The connection was authorized again, or got a new refresh token, before this went."
        ),
        # How a webhook call went (WebhookDelivery.error): fixed sentences, never an address,
        # port, banner or URL from the failure.
        "delivery.paused": _("skipped: the webhook is paused"),
        "delivery.not_public": _("refused: not a public address"),
        "delivery.url_refused": _("refused: the URL is not allowed for webhooks"),
        "delivery.not_resolved": _("could not resolve the host name"),
        "delivery.connect_timeout": _("could not connect (timed out)"),
        "delivery.connect_failed": _("could not connect"),
        "delivery.no_answer": _("no answer in time"),
        "delivery.failed": _("the call failed"),
        "delivery.http_status": _("HTTP %(status)s"),
        "delivery.redirect": _("HTTP %(status)s (redirects are not followed)"),
        "webhook.paused": ngettext_lazy(
            "Paused after %(limit)d failed call in a row (the last: %(error)s).",
            "Paused after %(limit)d failed calls in a row (the last: %(error)s).",
            "limit",
        ),
    }
)
