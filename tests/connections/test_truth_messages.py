"""Messages follow what happened (issue 16 item 7): every sentence matches the CheckOutcome."""

from __future__ import annotations

import pytest
import requests
import responses
from django.contrib.messages import get_messages
from django.urls import reverse

from connections import front, rules
from connections.checking import connections_check
from connections.models import AuthType, Connection, Source, Status
from connections.services import connection_disconnect
from oauthclients.models import OAuthClient
from tests.conftest import API_TOKEN, closed_port

ME_URL = "https://api2.frontapp.com/me"


def test_a_hanging_front_is_reported_as_a_timeout_not_as_unreachable(settings, front_settings):
    # Three attempts that each time out (GET /me is retried on lost reads) are a timeout.
    settings.FRONT_HTTP_TIMEOUT = 0.2
    front_settings.me_latency = 1.0
    with pytest.raises(front.FrontError) as info:
        front.me(token=API_TOKEN)
    assert info.value.kind == front.FrontErrorKind.TIMEOUT
    assert "did not answer" in str(info.value) and "0.2 seconds" in str(info.value)
    assert "check the network" not in str(info.value)


def test_a_refused_connection_stays_unreachable_not_a_timeout(settings):
    # urllib3's connection errors subclass its timeout: they must still read as unreachable.
    settings.FRONT_API_URL = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(front.FrontError) as info:
        front.me(token=API_TOKEN)
    assert info.value.kind == front.FrontErrorKind.UNREACHABLE
    assert "check the network" in str(info.value)


@pytest.fixture
def token_connection(online_token_connection):
    return online_token_connection


@responses.activate
@pytest.mark.django_db
def test_test_connection_during_an_outage_warns_could_not_check(operator_client, token_connection):
    responses.get(ME_URL, body=requests.ConnectionError("refused"))
    url = reverse("admin:connections_connection_test", args=[token_connection.pk])
    response = operator_client.post(url)
    sent = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert len(sent) == 1
    level, text = sent[0]
    assert level == "warning"
    assert text.startswith("Could not check \u201cSupport inbox\u201d")
    assert "Could not reach Front" in text
    assert "accepted" not in text and "did not accept" not in text


@responses.activate
@pytest.mark.django_db
def test_a_check_front_never_answered_is_counted_not_checked(token_connection):
    responses.get(ME_URL, body=requests.ConnectionError("refused"))
    report = connections_check([token_connection.pk], concurrency=1, source=Source.COMMAND)
    assert (report.online, report.not_online, report.not_checked) == (0, 0, 1)


@responses.activate
@pytest.mark.django_db
def test_the_admin_bulk_test_counts_unreachable_ones_as_not_checked(
    operator_client, token_connection
):
    responses.get(ME_URL, body=requests.ConnectionError("refused"))
    response = operator_client.post(
        reverse("admin:connections_connection_changelist"),
        {"action": "test_connections", "_selected_action": [token_connection.pk]},
        follow=True,
    )
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "0 online, 0 not online, 1 not checked" in text


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["disconnect", "client change"])
def test_voiding_a_sign_in_replaces_the_old_online_sentence(owner, oauth_client, scopes, how):
    connection = Connection(
        name="Inbox", company_name="Acme", owner=owner, auth_type=AuthType.OAUTH2,
        oauth_client=oauth_client,
    )  # fmt: skip
    connection.access_token = "access-SECRET"
    connection.save()
    connection.scopes.set(scopes)
    Connection.objects.filter(pk=connection.pk).update(
        status=Status.ONLINE, last_check_result="Online: Front company Acme."
    )
    connection.refresh_from_db()
    if how == "disconnect":
        connection_disconnect(connection=connection, actor=None, source=Source.ADMIN)
    else:
        other = OAuthClient(name="Other app", client_id="other-id")
        other.client_secret = "other-SECRET"
        other.save()
        data = rules.ConnectionInput(
            name="Inbox", company_name="Acme", auth_type=AuthType.OAUTH2, owner=owner,
            oauth_client=other, scopes=frozenset(scopes),
        )  # fmt: skip
        rules.connection_apply(
            connection=connection, data=data, token_policy=rules.TokenPolicy.KEEP_IF_BLANK,
            actor=None, source=Source.API,
        )  # fmt: skip
    connection.refresh_from_db()
    assert connection.status == Status.NOT_AUTHORIZED
    assert "Online" not in connection.last_check_result
