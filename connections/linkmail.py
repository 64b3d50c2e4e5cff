"""The email that carries an authorization link to a Front admin, sent as every alert is
(``common.mail``).

The link's URL holds its secret: it is put in this one email body and nowhere else (no log, no
history entry, no notice row), and the email is sent at once rather than queued, so the secret
never waits in the broker or the database.
"""

from __future__ import annotations

import logging
from smtplib import SMTPException

from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from common.mail import Alert, alert_send, one_line
from connections.links import NewLink, scopes_in_words

logger = logging.getLogger(__name__)


@sensitive_variables("made")
def link_email(made: NewLink) -> Alert:
    """The email: who asks, for which connection and Front company, the note, the link."""
    link = made.link
    connection = link.connection
    body = render_to_string(
        "connections/email/authorization_link.txt",
        {
            "requester": one_line(link.requester_name),
            "name": one_line(connection.name),
            "company": one_line(link.front_company_name or connection.company_name),
            "scopes": scopes_in_words(connection),
            "note": one_line(link.note),
            "url": made.url,
            "expires_at": link.expires_at,
        },
    )
    who, name = one_line(link.requester_name), one_line(connection.name)
    subject = _("FrontConnect: %(who)s asks you to authorize “%(name)s”") % {
        "who": who,
        "name": name,
    }
    return Alert(subject=subject[:200], body=body, to=link.emailed_to)


@sensitive_variables("made")
def link_email_send(made: NewLink) -> bool:
    """Send the link to ``made.link.emailed_to``; False (logged, without the link) on failure."""
    try:
        alert_send(link_email(made))
    except (SMTPException, OSError):
        logger.warning("Could not email authorization link %s.", made.link.pk)
        return False
    return True
