from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from alerts.charts import status_chart_svg
from alerts.dashboard import dashboard_build, status_counts, status_history
from connections.models import AuthType, Connection, Removal, Source, Status, Transition
from connections.services import connection_delete
from connections.status import connection_status_set
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def make(owner, name: str, status: Status | None = None, **fields) -> Connection:
    connection = Connection(name=name, company_name="Acme", owner=owner, **fields)
    connection.api_token = "tok-SECRET-9999"
    connection.save()
    if status is not None:
        connection_status_set(
            connection=connection,
            status=status,
            reason=f"{name} became {status.label}.",
            source=Source.WORKER,
        )
    return connection


def test_counts_by_status_link_to_the_filtered_list(operator_client, owner):
    make(owner, "A", Status.OFFLINE)
    make(owner, "B", Status.OFFLINE)
    make(owner, "C", Status.ONLINE, last_checked_at=timezone.now())
    make(owner, "D")

    page = operator_client.get("/admin/").content.decode()

    for status, count in (
        ("offline", 2),
        ("online", 1),
        ("unchecked", 1),
        ("not_authorized", 0),
        ("reauthorize", 0),
    ):
        link = f'href="/admin/connections/connection/?status__exact={status}"'
        assert link in page
        assert f'data-status="{status}"><strong>{count}</strong>' in page
    assert "4 in all" in page
    listed = operator_client.get("/admin/connections/connection/?status__exact=offline")
    assert listed.status_code == 200
    assert [c.name for c in listed.context["cl"].result_list] == ["A", "B"]


def test_attention_lists_broken_then_expiring_then_unchecked(owner, oauth_client, settings):
    settings.FRONTCONNECT_CHECK_INTERVAL_HOURS = 6
    now = timezone.now()
    make(owner, "Fine", Status.ONLINE, last_checked_at=now - timedelta(hours=11))
    make(owner, "Stale", Status.ONLINE, last_checked_at=now - timedelta(hours=13))
    make(owner, "Never", Status.ONLINE)
    make(owner, "Reauth", Status.REAUTHORIZE)
    make(owner, "Down", Status.OFFLINE)
    make(owner, "Unused")
    make(
        owner,
        "Old grant",
        Status.ONLINE,
        auth_type=AuthType.OAUTH2,
        oauth_client=oauth_client,
        authorized_at=now - timedelta(days=175),
        refresh_token_digest="digest-of-the-refresh-token",
        last_checked_at=now,
    )
    # Authorized as long ago, but its tokens were forgotten: there is no grant left to lapse.
    make(
        owner,
        "Disconnected",
        Status.ONLINE,
        auth_type=AuthType.OAUTH2,
        oauth_client=oauth_client,
        authorized_at=now - timedelta(days=175),
        last_checked_at=now,
    )

    attention = dashboard_build(now=now).attention

    assert [item.connection.name for item in attention] == [
        "Down",
        "Reauth",
        "Old grant",
        "Never",
        "Stale",
    ]
    assert attention[0].reasons == ["Offline"]
    assert attention[2].reasons[0].startswith("Authorization lapses around")
    assert attention[3].reasons == ["Never checked"]
    assert attention[4].reasons[0].startswith("Not checked since")


def test_a_new_refresh_token_takes_a_grant_off_the_attention_list(owner, oauth_client):
    now = timezone.now()
    connection = make(
        owner,
        "Kept alive",
        Status.ONLINE,
        auth_type=AuthType.OAUTH2,
        oauth_client=oauth_client,
        authorized_at=now - timedelta(days=175),
        refresh_token_digest="digest-of-the-refresh-token",
        last_checked_at=now,
    )
    (item,) = dashboard_build(now=now).attention
    lapses = connection.authorized_at + timedelta(days=182)
    assert item.reasons == [f"Authorization lapses around {lapses:%Y-%m-%d}: authorize it again"]

    Connection.objects.filter(pk=connection.pk).update(refresh_token_obtained_at=now)

    assert dashboard_build(now=now).attention == []


def test_recent_transitions_link_to_the_connection_and_escape_names(operator_client, owner):
    connection = make(owner, "<script>alert(1)</script>", Status.OFFLINE)

    page = operator_client.get("/admin/").content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'href="/admin/connections/connection/{connection.pk}/change/"' in page
    assert "Not checked yet → Offline" in page


def test_status_history_walks_back_from_todays_counts(owner):
    now = timezone.now()
    a = make(owner, "A", Status.ONLINE)
    b = make(owner, "B", Status.ONLINE)
    Connection.objects.update(created_at=now - timedelta(days=40))
    connection_status_set(connection=a, status=Status.OFFLINE, reason="x", source=Source.WORKER)
    # A: online 10 days ago, offline 2 days ago; B: online 5 days ago.
    first_a, second_a = Transition.objects.filter(connection=a).order_by("pk")
    Transition.objects.filter(pk=first_a.pk).update(created_at=now - timedelta(days=10))
    Transition.objects.filter(pk=second_a.pk).update(created_at=now - timedelta(days=2))
    Transition.objects.filter(connection=b).update(created_at=now - timedelta(days=5))

    history = status_history(counts=status_counts(), now=now)

    assert len(history) == 30
    assert history[-1].day == timezone.localdate(now)
    by_age = {(history[-1].day - day.day).days: day.counts for day in history}
    assert by_age[0]["offline"] == 1 and by_age[0]["online"] == 1
    assert by_age[2]["offline"] == 1 and by_age[2]["online"] == 1
    assert by_age[3]["offline"] == 0 and by_age[3]["online"] == 2
    assert by_age[5]["online"] == 2
    assert by_age[6]["online"] == 1 and by_age[6]["unchecked"] == 1
    assert by_age[10]["online"] == 1
    assert by_age[11]["online"] == 0 and by_age[11]["unchecked"] == 2
    assert all(sum(day.counts.values()) == 2 for day in history)


def test_the_chart_is_rebuilt_exactly_from_creations_deletions_and_transitions(owner):
    now = timezone.now()

    def back(connection, days):
        Connection.objects.filter(pk=connection.pk).update(created_at=now - timedelta(days=days))

    def moved(connection, days):
        Transition.objects.filter(connection=connection).update(
            created_at=now - timedelta(days=days)
        )

    old = make(owner, "Old", Status.ONLINE)
    back(old, 40)
    moved(old, 20)
    # Several changes in one day: offline, then online again, today.
    make_offline = connection_status_set(
        connection=old, status=Status.OFFLINE, reason="x", source=Source.WORKER
    )
    connection_status_set(connection=old, status=Status.ONLINE, reason="y", source=Source.WORKER)
    assert make_offline is not None
    gone = make(owner, "Gone", Status.ONLINE)
    back(gone, 10)
    moved(gone, 8)
    gone.refresh_from_db()
    connection_delete(connection=gone, actor=None, source=Source.ADMIN)
    Removal.objects.update(deleted_at=now - timedelta(days=3))
    mid = make(owner, "Mid")
    back(mid, 5)
    for n in range(12):  # created today, half of them online already
        make(owner, f"New {n}", Status.ONLINE if n % 2 else None)

    history = status_history(counts=status_counts(), now=now)

    by_age = {(history[-1].day - day.day).days: day.counts for day in history}
    # Token connections start Not checked yet (the model's rule for a new API token).
    expected = {
        0: (7, 7),  # (online, not checked yet)
        1: (1, 1),
        3: (1, 1),  # Gone was deleted that day
        4: (2, 1),
        5: (2, 1),  # Mid created that day
        6: (2, 0),
        8: (2, 0),  # Gone online that day
        9: (1, 1),
        10: (1, 1),  # Gone created that day
        11: (1, 0),
        20: (1, 0),  # Old online that day
        21: (0, 1),
        29: (0, 1),
    }
    for age, (online, unchecked) in expected.items():
        counts = by_age[age]
        assert (counts["online"], counts["unchecked"]) == (online, unchecked), age
        assert counts["offline"] == counts["reauthorize"] == counts["not_authorized"] == 0, age
    assert all(min(day.counts.values()) >= 0 for day in history)


def test_the_chart_is_inline_svg_without_scripts(operator_client, owner):
    make(owner, "A", Status.ONLINE)

    page = operator_client.get("/admin/").content.decode()

    assert '<svg class="fc-chart"' in page
    assert page.count("<polyline") == len(Status)
    assert "<script" not in page.split('id="fc-dashboard"')[1].split("</svg>")[0]
    # No address of another host (a random CSRF token may well spell "cdn").
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]*cdn", page.lower())


def test_the_chart_has_an_honest_scale():
    svg = status_chart_svg(status_history(counts={"online": 3}, now=timezone.now(), days=3))
    assert svg.count("<polyline") == len(Status)
    assert ">4</text>" in svg  # the scale's top


def test_the_dashboard_takes_six_queries_whatever_the_size(django_assert_max_num_queries, owner):
    for i in range(30):
        make(owner, f"C{i}", Status.OFFLINE if i % 2 else Status.ONLINE)

    # Counts, attention, recent transitions, and the chart's transitions, creations, removals.
    with django_assert_max_num_queries(6):
        dashboard = dashboard_build()
        for item in dashboard.attention:
            assert item.connection.owner.username == "alice"
        for transition in dashboard.transitions:
            assert transition.actor is None


def test_the_admin_index_stays_within_a_fixed_query_budget(
    django_assert_max_num_queries, operator_client, owner
):
    for i in range(30):
        make(owner, f"C{i}", Status.OFFLINE)
    # The key is recorded as `migrate` does (the very first check also reads a sample of secrets).
    from connections.keys import encryption_key_check

    encryption_key_check()

    # Two of them read the worker's heartbeat and the scheduler lock (the background states).
    with django_assert_max_num_queries(14):
        assert operator_client.get("/admin/").status_code == 200


def test_staff_without_view_permission_see_no_dashboard(client):
    user = get_user_model().objects.create_user("helper", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_webhook"))
    client.force_login(user)

    page = client.get("/admin/").content.decode()

    assert 'id="fc-dashboard"' not in page


def test_operators_who_may_change_connections_see_the_dashboard(client):
    # Who is an operator is decided by connections.access: "change" includes seeing.
    user = get_user_model().objects.create_user("changer", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_connection"))
    client.force_login(user)

    page = client.get("/admin/").content.decode()

    assert 'id="fc-dashboard"' in page


def test_members_never_reach_the_dashboard(client, owner):
    client.force_login(owner)
    response = client.get("/admin/")
    assert response.status_code == 302


def test_an_empty_dashboard_says_there_are_no_connections_yet(operator_client):
    # Issue 19 item 5: not "Every connection is working" when there is none.
    page = operator_client.get("/admin/").content.decode()
    assert "There are no connections yet." in page
    assert 'href="/admin/connections/connection/add/">Add the first one</a>' in page
    assert "Every connection is working" not in page


def test_the_dashboard_says_when_front_is_unreachable_for_many_connections(operator_client, owner):
    since = timezone.now() - timedelta(minutes=20)
    for n in range(3):
        make(owner, f"U{n}", Status.ONLINE, unreachable_since=since + timedelta(minutes=n))
    make(owner, "Fine", Status.ONLINE)
    page = operator_client.get("/admin/").content.decode()
    assert f"Front has been unreachable for 3 connections since {since:%Y-%m-%d %H:%M} UTC" in page
    assert "There are no connections yet." not in page


def test_one_unreachable_connection_is_not_called_an_outage(operator_client, owner):
    make(owner, "U", Status.ONLINE, unreachable_since=timezone.now())
    assert "Front has been unreachable" not in operator_client.get("/admin/").content.decode()


def test_the_dashboard_shows_what_healthz_knows(operator_client):
    page = operator_client.get("/admin/").content.decode()
    for check in ("worker", "scheduler", "broker"):
        assert f'data-check="{check}"' in page
    assert "What /healthz reports" in page
