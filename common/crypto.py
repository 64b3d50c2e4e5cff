"""Encrypted model fields for every secret FrontConnect stores.

Values are encrypted with django-cryptography's Fernet-style construction: AES-256-CBC for
secrecy and an HMAC-SHA256 signature for integrity. Both 32-byte keys are derived with HKDF from
``FRONTCONNECT_ENCRYPTION_KEY``, which is independent of ``SECRET_KEY``. Older keys listed in
``FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS`` are tried for reading only, so a key can be rotated
without downtime.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django import forms
from django.conf import settings
from django.core.signing import BadSignature
from django.db import models
from django_cryptography.core.signing import FernetSigner
from django_cryptography.utils.crypto import FernetBytes, InvalidToken

HKDF_INFO = b"frontconnect field encryption v1"


class UndecryptableSecret:
    """A stored secret that no configured key can decrypt.

    It keeps the ciphertext so that saving the row again writes it back untouched: a failed read
    must never destroy data that the right key could still recover.
    """

    def __init__(self, ciphertext: bytes) -> None:
        self.ciphertext = ciphertext

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "<UndecryptableSecret>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UndecryptableSecret) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


def secret_state(value: object) -> str:
    """Describe a stored secret without revealing it: set, not set, or unreadable."""
    if isinstance(value, UndecryptableSecret):
        return "Cannot be decrypted: enter it again."
    return "Set" if value else "Not set"


@functools.lru_cache(maxsize=16)
def _fernet(key: str) -> FernetBytes:
    material = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=HKDF_INFO).derive(
        base64.urlsafe_b64decode(key.encode("ascii"))
    )
    return FernetBytes(key=material[:32], signer=FernetSigner(key=material[32:]))


def key_fingerprint(key: str) -> str:
    """A short, non-reversible name for a key, safe to log or store."""
    return hashlib.sha256(b"frontconnect key fingerprint" + key.encode("ascii")).hexdigest()[:16]


def current_key() -> str:
    return settings.FRONTCONNECT_ENCRYPTION_KEY


def all_keys() -> list[str]:
    """The current key first, then every fallback still accepted for reading."""
    return [current_key(), *settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS]


def encrypt(plaintext: str) -> bytes:
    """Encrypt text under the current key."""
    return _fernet(current_key()).encrypt(plaintext.encode("utf-8"))


def decrypt(ciphertext: bytes) -> str | UndecryptableSecret:
    """Decrypt with the first configured key whose signature matches."""
    for key in all_keys():
        try:
            return _fernet(key).decrypt(ciphertext).decode("utf-8")
        except (BadSignature, InvalidToken, UnicodeDecodeError):
            continue
    return UndecryptableSecret(ciphertext)


def needs_rotation(ciphertext: bytes) -> bool:
    """True when the value is not readable with the current key alone."""
    try:
        _fernet(current_key()).decrypt(ciphertext)
    except (BadSignature, InvalidToken):
        return True
    return False


class EncryptedTextField(models.Field):
    """Text stored encrypted in a binary column; only ``isnull`` lookups make sense on it."""

    description = "Encrypted text"
    empty_strings_allowed = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def get_internal_type(self) -> str:
        return "BinaryField"

    def get_lookup(self, lookup_name: str) -> Any:
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def get_transform(self, lookup_name: str) -> Any:
        return None

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, (str, UndecryptableSecret)):
            return value
        return str(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        raw = bytes(value)
        if not raw:
            return ""
        return decrypt(raw)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if isinstance(value, UndecryptableSecret):
            return connection.Database.Binary(value.ciphertext)
        if value == "":
            return connection.Database.Binary(b"")
        return connection.Database.Binary(encrypt(str(value)))

    def value_to_string(self, obj: models.Model) -> str:
        # Serializers (dumpdata, admin history) never get the plaintext.
        return ""

    def formfield(
        self,
        form_class: type[forms.Field] | None = None,
        choices_form_class: type[forms.ChoiceField] | None = None,
        **kwargs: Any,
    ) -> None:
        # Forms declare secret fields themselves, as write-only password inputs.
        return None
