from __future__ import annotations

import base64
import secrets
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from connections.keys import encryption_key_check
from connections.models import EncryptionKeyFingerprint


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def test_the_first_check_records_the_key_and_later_checks_pass(db, settings):
    assert encryption_key_check() is None
    fingerprint = EncryptionKeyFingerprint.objects.get().fingerprint
    assert settings.FRONTCONNECT_ENCRYPTION_KEY not in fingerprint
    assert encryption_key_check() is None


def test_a_different_key_is_detected_without_showing_either_key(db, settings):
    encryption_key_check()
    old_key = settings.FRONTCONNECT_ENCRYPTION_KEY
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    problem = encryption_key_check()
    assert problem is not None
    assert "FRONTCONNECT_ENCRYPTION_KEY is not the key" in problem
    assert old_key not in problem and settings.FRONTCONNECT_ENCRYPTION_KEY not in problem
    with pytest.raises(SystemCheckError, match="frontconnect.E001"):
        call_command("check", "--database", "default", stdout=StringIO())


def test_the_old_key_as_a_fallback_is_accepted_during_rotation(db, settings):
    encryption_key_check()
    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = [settings.FRONTCONNECT_ENCRYPTION_KEY]
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    assert encryption_key_check() is None
    call_command("rotateencryptionkey", stdout=StringIO())
    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = []
    assert encryption_key_check() is None  # the rotation recorded the new key


def test_rotation_refuses_to_start_with_the_wrong_key(db, settings):
    encryption_key_check()
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    with pytest.raises(CommandError, match="is not the key"):
        call_command("rotateencryptionkey", stdout=StringIO())
