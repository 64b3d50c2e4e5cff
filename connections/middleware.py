"""Refuse to serve pages while the encryption key cannot read this database's secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from common.wording import Said
from connections.keys import encryption_key_problem

logger = logging.getLogger(__name__)

KEY_MISMATCH_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title} · FrontConnect</title></head>
<body><h1>{heading}</h1>
<p>{explanation}</p></body></html>
"""


def key_mismatch_page() -> str:
    """The 503 page, in the reader's language (LocaleMiddleware runs first)."""
    return format_html(
        KEY_MISMATCH_PAGE,
        lang=get_language(),
        title=_("Unavailable"),
        heading=_("FrontConnect is unavailable"),
        explanation=format_html(
            _(
                "The server's encryption key does not match the key this database's secrets "
                "were written with, so FrontConnect serves nothing until an operator fixes its "
                "configuration (the server log and {command} say what to do)."
            ),
            command=format_html("<code>{}</code>", "manage.py check --database default"),
        ),
    )


class EncryptionKeyMiddleware:
    """Answer 503 to every request while the key check fails; /healthz reports why.

    Serving with the wrong key would ask people to re-enter secrets, which would then be
    stored under a key the other processes cannot read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != reverse("healthz") and self.key_problem() is not None:
            response = HttpResponse(key_mismatch_page(), status=503)
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)

    @staticmethod
    def key_problem() -> Said | None:
        try:
            problem = encryption_key_problem()
        except DatabaseError:
            # Nothing can be read or written without the database anyway; /healthz says so.
            return None
        if problem is not None:
            logger.error("Refusing to serve: %s", problem)
        return problem
