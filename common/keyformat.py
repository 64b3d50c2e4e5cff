"""How an encryption key is written: one parser for the settings and for ``common.crypto``.

A key is 32 random bytes in base64. URL-safe (``-_``) and standard (``+/``) base64 of the same
bytes are the same key: both decode here to the same bytes, which is what encrypts and what the
stored fingerprint names. This module imports nothing from Django, so the settings can use it.
"""

from __future__ import annotations

import base64
import binascii

KEY_LENGTH = 32


def key_bytes(key: str) -> bytes:
    """The 32 bytes a key stands for, whichever base64 alphabet wrote them; ValueError if none."""
    try:
        raw = base64.urlsafe_b64decode(key.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError("not base64") from None
    if len(raw) != KEY_LENGTH:
        raise ValueError("not 32 bytes")
    return raw
