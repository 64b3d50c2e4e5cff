"""Refuse to serve pages while the encryption key cannot read this database's secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from connections.keys import encryption_key_problem

logger = logging.getLogger(__name__)

KEY_MISMATCH_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unavailable · FrontConnect</title></head>
<body><h1>FrontConnect is unavailable</h1>
<p>The server's encryption key does not match the key this database's secrets were written
with, so FrontConnect serves nothing until an operator fixes its configuration (the server
log and <code>manage.py check --database default</code> say what to do).</p></body></html>
"""


class EncryptionKeyMiddleware:
    """Answer 503 to every request while the key check fails; /healthz reports why.

    Serving with the wrong key would ask people to re-enter secrets, which would then be
    stored under a key the other processes cannot read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != reverse("healthz") and self.key_problem() is not None:
            response = HttpResponse(KEY_MISMATCH_PAGE, status=503)
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)

    @staticmethod
    def key_problem() -> str | None:
        try:
            problem = encryption_key_problem()
        except DatabaseError:
            # Nothing can be read or written without the database anyway; /healthz says so.
            return None
        if problem is not None:
            logger.error("Refusing to serve: %s", problem)
        return problem
