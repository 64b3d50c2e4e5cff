from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from api.keys import KEY_PATTERN, apikey_authenticate
from api.models import ApiKey, KeyScope

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("createapikey", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_key_alone_on_the_last_line(owner):
    output = run("CRM sync", "--owner", "alice", "--permission", "read", "token")
    last = output.rstrip("\n").splitlines()[-1]
    assert KEY_PATTERN.match(last)
    key = apikey_authenticate(last)
    assert key is not None and key.name == "CRM sync"
    assert key.permissions == ["read", "token"]
    assert key.scope == KeyScope.USERS and list(key.users.all()) == [owner]
    assert key.expires_at is None
    assert last not in output.rstrip("\n").splitlines()[0]


def test_it_defaults_to_read_and_takes_repeated_permissions(owner):
    run("A", "--owner", "alice")
    run("B", "--owner", "alice", "--permission", "proxy", "--permission", "write")
    assert ApiKey.objects.get(name="A").permissions == ["read"]
    assert ApiKey.objects.get(name="B").permissions == ["proxy", "write"]


def test_all_connections_and_expiry(operator):
    run("Ops", "--owner", "op", "--all-connections", "--expires", "30")
    key = ApiKey.objects.get(name="Ops")
    assert key.scope == KeyScope.ALL
    assert key.expires_at is not None


def test_an_unknown_user_is_refused(db):
    with pytest.raises(CommandError, match="no user is named 'ghost'"):
        run("X", "--owner", "ghost")
    assert not ApiKey.objects.exists()


def test_a_bad_permission_is_refused(owner):
    with pytest.raises(CommandError, match="unknown permission 'admin'"):
        run("X", "--owner", "alice", "--permission", "admin")


@pytest.mark.parametrize("days", ["0", "-3", "soon", "99999"])
def test_bad_days_are_refused(owner, days):
    with pytest.raises(CommandError, match="--expires"):
        run("X", "--owner", "alice", f"--expires={days}")
