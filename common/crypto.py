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
from django.db.models.query_utils import DeferredAttribute
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_cryptography.core.signing import FernetSigner
from django_cryptography.utils.crypto import FernetBytes, InvalidToken

from common.keyformat import key_bytes

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


class SealedSecret:
    """Ciphertext read from the database and not decrypted yet.

    Model attributes never show it: the field's descriptor opens it on first read. Only
    ``values()``/``values_list()`` on an encrypted column return it; call ``open()`` there.
    """

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: bytes) -> None:
        self.ciphertext = ciphertext

    def open(self) -> str | UndecryptableSecret:
        return decrypt(self.ciphertext)

    def __repr__(self) -> str:
        return "<SealedSecret>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SealedSecret) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


class SecretState(models.TextChoices):
    """What a page may say about a stored secret: never its value, only this.

    Code compares members (``state is SecretState.SET``); pages render a state as its label.
    """

    SET = "set", pgettext_lazy("secret", "Set")
    NOT_SET = "not_set", pgettext_lazy("secret", "Not set")
    UNREADABLE = "unreadable", _("Cannot be decrypted: enter it again.")

    def __str__(self) -> str:
        return str(self.label)


def secret_state(value: object) -> SecretState:
    """Describe a stored secret without revealing it: set, not set, or unreadable."""
    if isinstance(value, UndecryptableSecret):
        return SecretState.UNREADABLE
    return SecretState.SET if value else SecretState.NOT_SET


@functools.lru_cache(maxsize=16)
def _fernet(key: str) -> FernetBytes:
    material = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=HKDF_INFO).derive(
        key_bytes(key)
    )
    return FernetBytes(key=material[:32], signer=FernetSigner(key=material[32:]))


def key_fingerprint(key: str) -> str:
    """A short, non-reversible name for a key's bytes (however spelt), safe to log or store."""
    return hashlib.sha256(b"frontconnect key fingerprint v2" + key_bytes(key)).hexdigest()[:16]


def key_fingerprints_legacy(key: str) -> set[str]:
    """What versions before the v2 fingerprint stored for this key: a hash of its spelling.

    Every usual spelling (as configured, URL-safe and standard base64) is listed, so a database
    that recorded the key in one spelling accepts it in another.
    """
    raw = key_bytes(key)
    spellings = {key, base64.urlsafe_b64encode(raw).decode(), base64.b64encode(raw).decode()}
    return {
        hashlib.sha256(b"frontconnect key fingerprint" + s.encode("ascii")).hexdigest()[:16]
        for s in spellings
    }


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


class EncryptedAttribute(DeferredAttribute):
    """Decrypts a secret on its first read, so loading a row never decrypts anything.

    The instance keeps a ``SealedSecret`` until code reads the attribute; the plaintext (or an
    ``UndecryptableSecret``) then replaces it.
    """

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, SealedSecret):
            value = value.open()
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        # A data descriptor, so that reads always pass through __get__.
        instance.__dict__[self.field.attname] = value


def sealed_value(instance: models.Model, name: str) -> Any:
    """The stored form of an encrypted attribute without decrypting it (SealedSecret if unread)."""
    return instance.__dict__.get(name)


class EncryptedTextField(models.Field):
    """Text stored encrypted in a binary column; only ``isnull`` lookups make sense on it.

    Values are decrypted lazily (see ``EncryptedAttribute``); a value never read is written back
    as the same ciphertext, without decrypting or re-encrypting it.
    """

    description = "Encrypted text"
    empty_strings_allowed = True
    descriptor_class = EncryptedAttribute

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
        if isinstance(value, SealedSecret):
            return value.open()
        return str(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        raw = bytes(value)
        if not raw:
            return ""
        return SealedSecret(raw)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # Reading the attribute would decrypt it only to encrypt it again.
        if self.attname in model_instance.__dict__:
            return model_instance.__dict__[self.attname]
        return super().pre_save(model_instance, add)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if isinstance(value, (UndecryptableSecret, SealedSecret)):
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
