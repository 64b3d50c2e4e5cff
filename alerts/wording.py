"""The sentences the alerts app stores as codes (``common.wording``), shown in the reader's
words."""

from __future__ import annotations

from django.utils.translation import ngettext_lazy

from common.wording import sentences

SENTENCES = sentences(
    {
        "webhook.paused": ngettext_lazy(
            "Paused after %(limit)d failed call in a row (the last: %(error)s).",
            "Paused after %(limit)d failed calls in a row (the last: %(error)s).",
            "limit",
        ),
    }
)
