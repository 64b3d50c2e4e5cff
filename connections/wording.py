"""How a connection's status reads inside a sentence, written once for pages, messages and emails.

A status is a name ("Needs reauthorization"); a sentence needs a predicate ("it needs
reauthorization", never "it is Needs reauthorization").
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from connections.models import Connection, Status

PREDICATES: dict[str, Promise] = {
    Status.NOT_AUTHORIZED: _("is not authorized"),
    Status.UNCHECKED: _("is not checked yet"),
    Status.ONLINE: _("is Online"),
    Status.OFFLINE: _("is Offline"),
    Status.REAUTHORIZE: _("needs reauthorization"),
}


def status_predicate(status: str) -> str:
    """The status as the end of a sentence about a connection: "is Online", "needs …"."""
    predicate = PREDICATES.get(status)
    return str(predicate) if predicate is not None else str(_("is %(status)s") % {"status": status})


def check_note(connection: Connection) -> str:
    """The last check's sentence without the status that the badge beside it already names."""
    return connection.last_check_result.removeprefix(f"{connection.get_status_display()}: ")
