"""Issue 16 item 2: a wrong encryption key never marks connections Offline or emails owners.

Every process that reads secrets (web, worker, commands) refuses to act on a key mismatch with
one sentence naming FRONTCONNECT_ENCRYPTION_KEY; an undecryptable secret is never taken as
Front refusing the credential; the first fingerprint is checked against the stored secrets;
the fingerprint names the key's bytes, however they are spelt in base64.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import responses
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from common import crypto
from connections import keys, services
from connections.health import CheckResult
from connections.models import (
    Connection,
    EncryptionKeyFingerprint,
    Event,
    Source,
    Status,
    Transition,
)
from tests.conftest import API_TOKEN

ME_URL = "https://api2.frontapp.com/me"
TOKEN_URL = "https://app.frontapp.com/oauth/token"
KEY_NAME = "FRONTCONNECT_ENCRYPTION_KEY"


def key_with_both_alphabets() -> tuple[str, str]:
    """One key spelt in URL-safe and in standard base64 (the spellings differ)."""
    while True:
        raw = secrets.token_bytes(32)
        standard = base64.b64encode(raw).decode()
        if "+" in standard or "/" in standard:
            return base64.urlsafe_b64encode(raw).decode(), standard


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_API_URL = "https://api2.frontapp.com"
    settings.FRONT_OAUTH_TOKEN_URL = TOKEN_URL


@pytest.fixture
def online(token_connection):
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.ONLINE)
    token_connection.refresh_from_db()
    return token_connection


@pytest.fixture
def online_oauth(oauth_connection):
    oauth_connection.access_token = "access-SECRET"
    oauth_connection.refresh_token = "refresh-SECRET"
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    return oauth_connection


@pytest.fixture
def wrong_key(online, online_oauth, settings):
    """The database's key is recorded; the process now runs with another one."""
    assert keys.encryption_key_check() is None
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    return settings.FRONTCONNECT_ENCRYPTION_KEY


def nothing_recorded(*connections: Connection) -> None:
    for connection in connections:
        stored = Connection.objects.get(pk=connection.pk)
        assert stored.status == Status.ONLINE
        assert stored.last_checked_at is None
        assert stored.last_check_result == ""
    assert not Transition.objects.exists()
    assert not Event.objects.exists()
    assert mail.outbox == []


# The fingerprint names the key's bytes.


def test_the_same_key_in_standard_base64_reads_everything_and_pages_are_served(
    client, token_connection, settings
):
    urlsafe, standard = key_with_both_alphabets()
    settings.FRONTCONNECT_ENCRYPTION_KEY = urlsafe
    token_connection.api_token = API_TOKEN
    token_connection.save()
    assert keys.encryption_key_check() is None
    settings.FRONTCONNECT_ENCRYPTION_KEY = standard
    keys.encryption_key_forget()
    assert keys.encryption_key_check() is None
    assert Connection.objects.get(pk=token_connection.pk).api_token == API_TOKEN
    assert client.get("/accounts/login/").status_code == 200


def test_the_fingerprint_is_the_same_for_both_spellings_and_never_holds_the_key():
    urlsafe, standard = key_with_both_alphabets()
    assert crypto.key_fingerprint(urlsafe) == crypto.key_fingerprint(standard)
    assert crypto.key_fingerprint(urlsafe) != crypto.key_fingerprint(new_key())
    assert urlsafe[:16] not in crypto.key_fingerprint(urlsafe)


def test_a_fingerprint_recorded_by_an_older_version_is_accepted_and_upgraded(db, settings):
    key = settings.FRONTCONNECT_ENCRYPTION_KEY
    legacy = hashlib.sha256(b"frontconnect key fingerprint" + key.encode("ascii")).hexdigest()
    EncryptionKeyFingerprint.objects.create(fingerprint=legacy[:16])
    assert keys.encryption_key_check() is None
    assert EncryptionKeyFingerprint.objects.get().fingerprint == crypto.key_fingerprint(key)


def test_an_older_fingerprint_of_another_key_is_still_a_mismatch(db, settings):
    other = new_key()
    legacy = hashlib.sha256(b"frontconnect key fingerprint" + other.encode("ascii")).hexdigest()
    EncryptionKeyFingerprint.objects.create(fingerprint=legacy[:16])
    assert keys.encryption_key_check() is not None


# The first fingerprint is checked against the stored secrets.


def test_on_an_older_database_a_wrong_key_does_not_become_the_key(token_connection, settings):
    # Secrets written before fingerprints existed: no fingerprint row.
    assert not EncryptionKeyFingerprint.objects.exists()
    right = settings.FRONTCONNECT_ENCRYPTION_KEY
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    problem = keys.encryption_key_check()
    assert problem is not None and str(problem).startswith(KEY_NAME)
    assert not EncryptionKeyFingerprint.objects.exists()
    with pytest.raises(CommandError, match=KEY_NAME):
        call_command("testconnections", stdout=StringIO())
    settings.FRONTCONNECT_ENCRYPTION_KEY = right
    keys.encryption_key_forget()
    assert keys.encryption_key_check() is None
    assert EncryptionKeyFingerprint.objects.get().fingerprint == crypto.key_fingerprint(right)


def test_a_fallback_that_reads_the_stored_secrets_lets_the_first_fingerprint_be_recorded(
    token_connection, settings
):
    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = [settings.FRONTCONNECT_ENCRYPTION_KEY]
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    assert keys.encryption_key_check() is None


def test_an_empty_database_records_the_first_key(db):
    assert keys.encryption_key_check() is None
    assert EncryptionKeyFingerprint.objects.count() == 1


# Commands refuse to act.


@responses.activate
@pytest.mark.parametrize(
    "command",
    [
        ["testconnections"],
        ["testconnections", "Support inbox"],
        ["refreshtokens", "--within", "60"],
    ],
)
def test_commands_that_read_secrets_refuse_with_one_sentence(wrong_key, online, online_oauth,
                                                             command):  # fmt: skip
    with pytest.raises(CommandError) as refused:
        call_command(*command, stdout=StringIO(), stderr=StringIO())
    assert refused.value.returncode == 1
    message = str(refused.value)
    assert message.startswith(KEY_NAME) and message.count(". ") == 0
    assert wrong_key not in message
    assert len(responses.calls) == 0
    nothing_recorded(online, online_oauth)


@responses.activate
@pytest.mark.parametrize("options", [["--update"], ["--update", "--test"], ["--dry-run"]])
def test_the_import_refuses_with_a_wrong_key(wrong_key, online, online_oauth, tmp_path: Path,
                                             options):  # fmt: skip
    path = tmp_path / "in.csv"
    path.write_text(
        "name,company_name,auth_type,api_token,oauth_client,scopes,owner\n"
        "Support inbox,Acme,token,,,,alice\n"
    )
    with pytest.raises(CommandError) as refused:
        call_command("importconnections", str(path), *options, stdout=StringIO(),
                     stderr=StringIO())  # fmt: skip
    assert refused.value.returncode == 1
    assert len(responses.calls) == 0
    nothing_recorded(online, online_oauth)


def test_the_command_refusal_exits_1_from_the_command_line(wrong_key, monkeypatch, capsys):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "testconnections"]).execute()
    assert exited.value.code == 1
    assert KEY_NAME in capsys.readouterr().err


# The worker refuses to act.


@responses.activate
def test_worker_tasks_do_nothing_and_log_the_sentence_once(wrong_key, online, online_oauth,
                                                           caplog):  # fmt: skip
    from alerts import tasks as alert_tasks
    from connections import tasks

    caplog.set_level(logging.ERROR)
    Connection.objects.filter(pk__in=[online.pk, online_oauth.pk]).update(
        last_checked_at=None, refresh_token_obtained_at=None
    )
    tasks.check_due.delay()
    tasks.check_connection.delay(online.pk)
    tasks.refresh_connection.delay(online_oauth.pk)
    tasks.refresh_due.delay()
    tasks.heartbeat.delay()
    alert_tasks.transitions_redispatch.delay()
    assert len(responses.calls) == 0
    nothing_recorded(online, online_oauth)
    from connections.models import WorkerHeartbeat

    assert not WorkerHeartbeat.objects.exists()
    sentences = [r.getMessage() for r in caplog.records if KEY_NAME in r.getMessage()]
    assert len(sentences) == 1, sentences
    assert wrong_key not in sentences[0]


@pytest.fixture
def right_key(settings):
    return settings.FRONTCONNECT_ENCRYPTION_KEY


@responses.activate
def test_worker_tasks_run_again_once_the_key_is_fixed(right_key, wrong_key, online, settings):
    from connections import tasks

    responses.get(ME_URL, json={"id": "cmp_1", "name": "Acme"})
    tasks.check_connection.delay(online.pk)
    assert len(responses.calls) == 0
    settings.FRONTCONNECT_ENCRYPTION_KEY = right_key
    tasks.check_connection.delay(online.pk)
    assert len(responses.calls) == 1
    assert Connection.objects.get(pk=online.pk).last_checked_at is not None


# An undecryptable secret is never taken as Front refusing the credential.


def unreadable(connection: Connection, field: str, settings) -> None:
    """Store ``field`` under a key this process does not have (a damaged or foreign value)."""
    right = settings.FRONTCONNECT_ENCRYPTION_KEY
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    setattr(connection, field, "written-under-another-key")
    connection.save(update_fields=[field])
    settings.FRONTCONNECT_ENCRYPTION_KEY = right


@responses.activate
def test_an_undecryptable_api_token_is_not_checked_and_the_status_stays(online, settings):
    unreadable(online, "api_token", settings)
    outcome = services.connection_check(
        connection=Connection.objects.get(pk=online.pk), actor=None, source=Source.WORKER
    )
    assert outcome.result == CheckResult.UNCHECKED and not outcome.retryable
    assert str(outcome.message).startswith("Could not check: cannot decrypt")
    stored = Connection.objects.get(pk=online.pk)
    assert stored.status == Status.ONLINE
    assert stored.unreachable_since is None
    assert str(stored.last_check_result).startswith("Could not check: cannot decrypt")
    assert not Transition.objects.exists()
    assert len(responses.calls) == 0


@responses.activate
@pytest.mark.parametrize("field", ["refresh_token", "client_secret"])
def test_an_undecryptable_oauth_secret_is_not_checked_and_the_status_stays(
    online_oauth, oauth_client, settings, field
):
    unreadable(oauth_client if field == "client_secret" else online_oauth, field, settings)
    outcome = services.connection_check(
        connection=Connection.objects.select_related("oauth_client").get(pk=online_oauth.pk),
        actor=None,
        source=Source.WORKER,
    )
    assert outcome.result == CheckResult.UNCHECKED and not outcome.retryable
    assert str(outcome.message).startswith("Could not check: cannot decrypt")
    stored = Connection.objects.get(pk=online_oauth.pk)
    assert stored.status == Status.ONLINE
    assert not Transition.objects.exists()
    assert len(responses.calls) == 0
    assert mail.outbox == []
