"""Shared test setup: users, an OAuth client, and headless Chromium for browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model

from connections.models import AuthType, Connection, Scope, Status
from oauthclients.models import OAuthClient

pytest_plugins = ["tests.front_standin"]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright's sync API runs a loop

PASSWORD = "correct-horse-battery-staple-42"
API_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.api-token-SECRET-1111"
CLIENT_SECRET = "client-secret-SECRET-2222"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting to it is refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def store_unreadable(instance, field: str, settings) -> None:
    """Store ``field`` of ``instance`` under a key this process lacks: one damaged value.

    The database's key is recorded first (as `migrate` does), so only this value is unreadable;
    switching the whole process to another key would be a key mismatch, which serves nothing.
    """
    import base64
    import secrets

    from connections.keys import encryption_key_check

    assert encryption_key_check() is None
    right = settings.FRONTCONNECT_ENCRYPTION_KEY
    settings.FRONTCONNECT_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        secrets.token_bytes(32)
    ).decode()
    setattr(instance, field, "written-under-a-key-this-process-lacks")
    instance.save(update_fields=[field])
    settings.FRONTCONNECT_ENCRYPTION_KEY = right


@pytest.fixture(autouse=True)
def fresh_key_verdict():
    """Each test starts without the web process's remembered encryption key verdict."""
    from connections.keys import encryption_key_forget

    encryption_key_forget()
    yield
    encryption_key_forget()


@pytest.fixture
def checks_not_queued():
    """Record (instead of running in-process) the checks a committed change queues for the worker.

    The test settings run tasks eagerly, so a test that commits a new API token would otherwise
    check it against Front on commit.
    """
    from unittest import mock

    from connections import tasks

    with mock.patch.object(tasks.check_unchecked, "apply_async") as queued:
        yield queued


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("op", "op@example.com", PASSWORD)


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def stranger(db):
    return get_user_model().objects.create_user("mallory", "mallory@example.com", PASSWORD)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def oauth_client(db, operator):
    client = OAuthClient(name="Front app", client_id="client-id-123")
    client.client_secret = CLIENT_SECRET
    client.save()
    return client


@pytest.fixture
def front_scopes(db):
    """Front's scopes as the migration installs them; a transactional test's flush removes them."""
    from importlib import import_module

    codes = import_module("connections.migrations.0002_front_scopes").FRONT_SCOPES
    for code, description in codes.items():
        Scope.objects.get_or_create(code=code, defaults={"description": description})
    return Scope.objects.count()


@pytest.fixture
def scopes(front_scopes):
    return list(Scope.objects.filter(code__in=["conversations:read", "contacts:read"]))


@pytest.fixture
def token_connection(owner):
    connection = Connection(
        name="Support inbox", company_name="Acme", auth_type=AuthType.TOKEN, owner=owner
    )
    connection.api_token = API_TOKEN
    connection.save()
    return connection


@pytest.fixture
def online_token_connection(token_connection):
    """A Token connection Front accepted: Online, with its Front company and check sentence."""
    Connection.objects.filter(pk=token_connection.pk).update(
        status=Status.ONLINE,
        front_company_id="cmp_1",
        front_company_name="Acme",
        last_check_result="Online: Front company Acme.",
    )
    token_connection.refresh_from_db()
    return token_connection


@pytest.fixture
def oauth_connection(owner, oauth_client, scopes):
    connection = Connection.objects.create(
        name="Sales inbox",
        company_name="Acme",
        auth_type=AuthType.OAUTH2,
        oauth_client=oauth_client,
        owner=owner,
    )
    connection.scopes.set(scopes)
    return connection


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        if os.environ.get("FRONTCONNECT_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here but was not found on PATH.")
        pytest.skip(
            "Browser tests skipped: no Chromium found. Install the Debian package 'chromium' "
            "(apt-get install chromium) to run them."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, settings):
    # The live server speaks plain http, so secure cookies would never come back.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def axe():
    """``axe(page)`` fails the test on any serious or critical accessibility violation.

    The same check as ``tests.a11y.assert_accessible``: axe-core from the installed package,
    injected into the page, nothing fetched from the network.
    """
    from tests.a11y import assert_accessible

    return assert_accessible


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@pytest.fixture(autouse=True)
def english_and_utc_after_each_test():
    """A French request or a time zone a test switched to never leaks into the next test."""
    from django.utils import timezone, translation

    yield
    translation.activate("en")
    timezone.deactivate()


@pytest.fixture(autouse=True)
def rate_budget_cache():
    """Each test's database starts empty, so the budget's per-process memory must too."""
    from connections.ratelimit import budget_cache_clear

    budget_cache_clear()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Refuse every name lookup and connection that leaves this machine.

    Tests never talk to the real Front, and a DNS query is already talking to the outside. The
    code under test may swallow the refusal (a failed test call is a normal outcome), so every
    attempt is also recorded and fails the test at teardown.
    """
    import ipaddress
    import socket

    attempts: list[str] = []

    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in LOCAL_HOSTS:
            attempts.append(f"name lookup of {name}")
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not look up {name}")
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None:
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                attempts.append(f"connection to {host}")
                raise ConnectionRefusedError(f"tests may not connect to {host}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield attempts
    if attempts:
        pytest.fail(f"the test tried to reach outside this machine: {', '.join(attempts)}")


@pytest.fixture
def expired_oauth_connection(front_settings, oauth_connection):
    """An Online OAuth connection whose access token expired a minute ago, tokens from the
    stand-in, whose token endpoint answers slowly to keep a race window open."""
    from datetime import timedelta

    from django.utils import timezone

    from connections.models import Status

    seeded = front_settings.issue()
    oauth_connection.access_token = str(seeded["access_token"])
    oauth_connection.refresh_token = str(seeded["refresh_token"])
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    front_settings.refresh_delay = 0.3
    return oauth_connection
