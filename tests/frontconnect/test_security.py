from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.conftest import PASSWORD


def test_pages_carry_the_security_headers(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/accounts/login/", secure=True)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "includeSubDomains" in response["Strict-Transport-Security"]


def test_plain_http_is_redirected_to_https(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_session_and_csrf_cookies_are_secure_httponly_and_lax(client, owner, settings):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client.get("/accounts/login/", secure=True)
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, secure=True
    )
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"]
    assert session["samesite"] == "Lax"
    assert client.cookies["csrftoken"]["secure"]


def test_sessions_are_kept_server_side(settings):
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"


def test_the_deploy_check_refuses_a_plain_http_base_url(settings):
    settings.FRONTCONNECT_BASE_URL = "http://connect.example.com"
    with pytest.raises(SystemCheckError, match="frontconnect.W001"):
        call_command("check", "--deploy", "--fail-level", "WARNING", stdout=StringIO())


def test_password_validators_are_the_four_built_in_ones(settings):
    names = {v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS}
    assert names == {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }


def test_an_error_report_stars_the_posted_api_token(client, owner, settings):
    import sys
    from unittest import mock

    from django.core.signals import got_request_exception
    from django.views.debug import ExceptionReporter

    from tests.conftest import API_TOKEN

    settings.DEBUG = False
    client.raise_request_exception = False
    client.force_login(owner)
    caught = {}

    def keep(sender, request, **kwargs):
        caught["request"], caught["exc_info"] = request, sys.exc_info()

    got_request_exception.connect(keep)
    try:
        with mock.patch(
            "connections.forms.connection_apply", side_effect=RuntimeError("forced failure")
        ):
            response = client.post(
                "/connections/new/",
                {"name": "X", "company_name": "Y", "auth_type": "token", "api_token": API_TOKEN},
            )
    finally:
        got_request_exception.disconnect(keep)
    assert response.status_code == 500
    assert API_TOKEN.encode() not in response.content
    report = ExceptionReporter(caught["request"], *caught["exc_info"]).get_traceback_text()
    assert "forced failure" in report
    assert API_TOKEN not in report
    assert "api_token = '********************'" in report


def test_the_admin_path_comes_from_configuration(client, operator, settings):
    import importlib

    from django.urls import clear_url_caches

    import frontconnect.urls

    settings.ADMIN_URL = "operators-only/"
    try:
        importlib.reload(frontconnect.urls)
        clear_url_caches()
        client.force_login(operator)
        assert client.get("/operators-only/").status_code == 200
        assert client.get("/admin/").status_code == 404
    finally:
        settings.ADMIN_URL = "admin/"
        importlib.reload(frontconnect.urls)
        clear_url_caches()
