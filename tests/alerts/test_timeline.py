from __future__ import annotations

import pytest
from django.utils import timezone

from connections.models import Connection, Source, Status
from connections.status import connection_status_set
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(token_connection):
    for status, reason in (
        (Status.ONLINE, "Front accepted the API token."),
        (Status.OFFLINE, "Front refused the API token <b>401</b>."),
    ):
        connection_status_set(
            connection=token_connection, status=status, reason=reason, source=Source.WORKER
        )
    Connection.objects.filter(pk=token_connection.pk).update(
        last_checked_at=timezone.now(), last_check_result="Could not check: Front timed out."
    )
    return token_connection


def timeline_of(html: str) -> str:
    return html.split('<section class="fc-timeline"')[1].split("</section>")[0]


def test_the_owners_page_shows_the_latest_check_and_status_changes(client, owner, history):
    client.force_login(owner)

    timeline = timeline_of(client.get(f"/connections/{history.pk}/").content.decode())

    assert "Latest check:" in timeline and "Could not check: Front timed out." in timeline
    assert timeline.index("Offline") < timeline.index("Online")  # newest first
    assert "Front refused the API token &lt;b&gt;401&lt;/b&gt;." in timeline
    assert "(was Online; Worker)" in timeline
    assert API_TOKEN not in timeline


def test_the_admin_change_page_shows_the_same_timeline(operator_client, history):
    page = operator_client.get(f"/admin/connections/connection/{history.pk}/change/")

    timeline = timeline_of(page.content.decode())
    assert "Could not check: Front timed out." in timeline
    assert "Front accepted the API token." in timeline


def test_a_connection_never_checked_says_so(client, owner, token_connection):
    client.force_login(owner)

    timeline = timeline_of(client.get(f"/connections/{token_connection.pk}/").content.decode())

    assert "never checked yet" in timeline and "No status changes yet." in timeline


def test_the_admin_add_page_has_no_timeline(operator_client):
    page = operator_client.get("/admin/connections/connection/add/").content.decode()
    assert "fc-timeline" not in page
