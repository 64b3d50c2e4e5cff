"""Issue 9 item 6: behind a proxy, sign-in throttling counts per client, not per proxy."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from common.proxy import forwarded_client_ip
from tests.conftest import PASSWORD
from tests.frontconnect.test_settings import GOOD_KEY, GOOD_SECRET, start

PROXY = "10.0.0.2"
ALICE_HOME = "203.0.113.5"
ALICE_OFFICE = "198.51.100.7"


@pytest.fixture
def behind_proxy(settings):
    settings.AXES_CLIENT_IP_CALLABLE = "common.proxy.forwarded_client_ip"
    settings.PROXY_HOPS = 1
    settings.AXES_FAILURE_LIMIT = 3


def sign_in(client, password: str, forwarded_for: str):
    return client.post(
        "/accounts/login/",
        {"username": "alice", "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_failures_from_one_address_do_not_lock_out_another(client, owner, behind_proxy):
    for _ in range(3):
        sign_in(client, "wrong", ALICE_HOME)
    assert sign_in(client, PASSWORD, ALICE_HOME).status_code == 429
    assert sign_in(client, PASSWORD, ALICE_OFFICE).status_code == 302


def test_a_spoofed_entry_on_the_left_does_not_change_the_address(client, owner, behind_proxy):
    for _ in range(3):
        sign_in(client, "wrong", ALICE_HOME)
    # The attacker claims another address; the proxy appends the one it really saw.
    assert sign_in(client, PASSWORD, f"{ALICE_OFFICE}, {ALICE_HOME}").status_code == 429


def test_without_the_proxy_setting_the_header_is_ignored(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        sign_in(client, "wrong", ALICE_HOME)
    assert sign_in(client, PASSWORD, ALICE_OFFICE).status_code == 429


@pytest.mark.parametrize(
    ("hops", "header", "expected"),
    [
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "1.1.1.1, 203.0.113.5", "203.0.113.5"),
        (2, "1.1.1.1, 203.0.113.5, 10.0.0.9", "203.0.113.5"),
        (2, "203.0.113.5", "203.0.113.5"),
        (1, "2001:db8::1", "2001:db8::1"),
        (1, "", PROXY),
        (1, "not-an-address", PROXY),
        (1, "1.1.1.1, <script>", PROXY),
    ],
)
def test_the_client_address_is_the_trusted_entry(settings, hops, header, expected):
    settings.PROXY_HOPS = hops
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=header)
    assert forwarded_client_ip(request) == expected


BOOT_PRINT = (
    "import environ; environ.Env.read_env = lambda *a, **k: None; "
    "import django; django.setup(); from django.conf import settings; "
    "print(getattr(settings, 'AXES_CLIENT_IP_CALLABLE', None), settings.PROXY_HOPS)"
)


def test_the_proxy_variables_configure_axes(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.frontconnect.test_settings.BOOT", BOOT_PRINT)
    base = {"DJANGO_SECRET_KEY": GOOD_SECRET, "FRONTCONNECT_ENCRYPTION_KEY": GOOD_KEY}
    direct = start(tmp_path, **base)
    assert direct.stdout.split() == ["None", "1"], direct.stderr
    proxied = start(tmp_path, **base, DJANGO_BEHIND_PROXY="true", DJANGO_PROXY_HOPS="2")
    assert proxied.stdout.split() == ["common.proxy.forwarded_client_ip", "2"], proxied.stderr
    refused = start(tmp_path, **base, DJANGO_BEHIND_PROXY="true", DJANGO_PROXY_HOPS="0")
    assert refused.returncode != 0 and "DJANGO_PROXY_HOPS must be" in refused.stderr
