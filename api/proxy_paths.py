"""Which proxy paths may reach Front: only plain paths under Front's API base, nothing else."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

MAX_PATH_LENGTH = 2048
MAX_QUERY_LENGTH = 8192
# RFC 3986 unreserved and sub-delims, plus ":" and "@": every character a Front API path uses.
# No "%" (so nothing is decoded twice), no "\", no "/" inside a segment, no space or control.
# Both patterns are used with fullmatch: "$" would let a trailing newline through.
SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")
# In the raw request line: an encoded "/", "\", ".", "%" or control character is refused before
# the server's decoding could turn it into a path separator or a dot segment.
RAW_ENCODED = re.compile(r"%(?:2[EeFf5]|5[Cc]|[01][0-9A-Fa-f]|7[Ff])")
# A query string goes to Front as it came, so it may hold no space, control character or "#".
QUERY = re.compile(r"[\x21-\x7e]*")


class PathRefused(ValueError):
    """The requested path could leave Front's API base; ``str()`` says why."""


def front_path(path: str, *, raw: str | None = None) -> str:
    """The path to send to Front, relative to its API base, or PathRefused."""
    if raw is not None and RAW_ENCODED.search(raw):
        raise PathRefused(
            _("The path contains an encoded '/', '\\', '.', '%' or control character.")
        )
    if not path or len(path) > MAX_PATH_LENGTH:
        raise PathRefused(_("The path is empty or too long."))
    segments = path.split("/")
    # A trailing slash is a real difference for some APIs; an empty segment anywhere else is not.
    inner = segments[:-1] if len(segments) > 1 and segments[-1] == "" else segments
    for segment in inner:
        if not SEGMENT.fullmatch(segment):
            raise PathRefused(
                _(
                    "The path may contain only letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = "
                    ": @ between single slashes."
                )
            )
        if segment.strip(".") == "":
            raise PathRefused(_("The path may not contain '.' or '..' segments."))
    if ":" in segments[0]:
        raise PathRefused(_("The path must be relative to Front's API base, not a URL."))
    return path


def front_query(query: str) -> str:
    """The query string to send to Front as it came, or PathRefused."""
    if len(query) > MAX_QUERY_LENGTH or not QUERY.fullmatch(query) or "#" in query:
        raise PathRefused(_("The query string contains spaces, control characters or '#'."))
    return query


def front_url(base: str, path: str, query: str = "") -> str:
    """Join Front's API base and a path that ``front_path`` accepted."""
    url = base.rstrip("/") + "/" + path
    return f"{url}?{query}" if query else url
