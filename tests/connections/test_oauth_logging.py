"""With every logger at DEBUG, authorize and refresh leave no secret in the logs (D5)."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from connections import authorization, services
from connections.models import PendingAuthorization, Source, Status
from tests.conftest import API_TOKEN, CLIENT_SECRET
from tests.front_standin import standin_accept


@pytest.fixture
def every_logger_at_debug():
    loggers = [logging.getLogger(name) for name in ["", *logging.root.manager.loggerDict]]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def test_no_secret_reaches_the_logs_at_debug(
    caplog, every_logger_at_debug, front_settings, oauth_connection, owner
):
    caplog.set_level(logging.DEBUG)
    client = Client()
    client.force_login(owner)

    url = authorization.connection_authorize_start(
        connection=oauth_connection,
        user=owner,
        session=client.session,
        return_url=f"/connections/{oauth_connection.pk}/",
        source=Source.SELF_SERVICE,
    )
    verifier = PendingAuthorization.objects.get().code_verifier
    state = parse_qs(urlsplit(url).query)["state"][0]
    callback = standin_accept(url)
    assert client.get(callback).status_code == 303
    assert client.get(callback).status_code == 303  # reused: refused
    assert client.get("/oauth/callback/?code=x&state=unknown").status_code == 403

    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.ONLINE
    first_access, first_refresh = oauth_connection.access_token, oauth_connection.refresh_token
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.save()
    services.connection_access_token(connection=oauth_connection)
    oauth_connection.refresh_from_db()
    services.connection_test(connection=oauth_connection, actor=owner, source=Source.ADMIN)

    logs = "\n".join(
        f"{record.name} {record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )
    assert "urllib3" in logs  # the HTTP library really logged at DEBUG
    secrets = [
        CLIENT_SECRET,
        API_TOKEN,
        state,
        verifier,
        *front_settings.issued_codes,
        first_access,
        first_refresh,
        oauth_connection.access_token,
        oauth_connection.refresh_token,
    ]
    assert len(front_settings.issued_codes) == 1 and all(secrets)
    for secret in secrets:
        assert secret not in logs
    assert "Authorization" not in logs and "Basic " not in logs and "Bearer" not in logs
