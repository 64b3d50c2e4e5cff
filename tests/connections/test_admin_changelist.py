"""Issue 9 item 10: changelists accept only their declared filters and a bounded search."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from connections.models import Action, Event, Source

CHANGELISTS = [
    "/admin/connections/connection/",
    "/admin/connections/event/",
    "/admin/oauthclients/oauthclient/",
]


@pytest.fixture
def staff(client, stranger):
    """Any staff user who may view the three lists: the lookups are not only the superuser's."""
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_connection", "view_event", "view_oauthclient"]
        )
    )
    client.force_login(stranger)
    return client


@pytest.mark.parametrize("url", CHANGELISTS)
@pytest.mark.parametrize(
    "query",
    [
        "name__regex=(a%2B)%2B$",
        "name__regex=(",
        "connection_name__regex=(a%2B)%2B$",
        "fields__contains=x",
        "owner__password__startswith=pbkdf2",
        "client_id__startswith=client",
        "pk__in=1,2",
    ],
)
def test_undeclared_lookups_are_refused(staff, url, query, token_connection, oauth_client):
    response = staff.get(f"{url}?{query}")
    assert response.status_code == 400


@pytest.mark.parametrize("url", CHANGELISTS)
def test_a_search_of_1200_terms_is_refused_in_words(staff, url, token_connection):
    response = staff.get(url, {"q": " ".join(["a"] * 1200)})
    assert response.status_code == 200
    assert "Search for at most 10 words" in response.content.decode()


@pytest.mark.parametrize(
    "source",
    [
        ("api", "apikey", "connections"),
        ("api", "apikey", "owner"),
        ("api", "apikey", "users"),
        ("connections", "connection", "owner"),
    ],
)
@pytest.mark.parametrize("term", ["Support\x00inbox", " ".join(["a"] * 1200)])
def test_the_admins_autocomplete_search_is_bounded_too(
    operator_client, token_connection, source, term
):
    # The autocomplete endpoint searches without the changelist's form: a NUL (refused by
    # PostgreSQL) or 1200 words (too deep an expression for SQLite) must not be a server error.
    app_label, model_name, field_name = source
    response = operator_client.get(
        "/admin/autocomplete/",
        {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": term},
    )
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_the_admins_autocomplete_still_finds_a_few_words(operator_client, token_connection):
    found = operator_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "api",
            "model_name": "apikey",
            "field_name": "connections",
            "term": "Support inbox",
        },
    ).json()
    assert [item["text"] for item in found["results"]] == ["Support inbox"]


@pytest.mark.parametrize("url", CHANGELISTS)
def test_a_search_of_a_few_words_works(staff, url, token_connection):
    response = staff.get(url, {"q": "Support inbox"})
    assert response.status_code == 200
    assert "Search for at most" not in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "auth_type__exact=token",
        "status__exact=online",
        "oauth_client__id__exact=1",
        "oauth_client__isnull=True",
        "o=2.-6",
        "p=1",
        "all=",
        "_facets=True",
    ],
)
def test_the_declared_connection_filters_still_work(staff, query, token_connection):
    assert staff.get(f"/admin/connections/connection/?{query}").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "oauth_client__id__exact=abc",
        "status__exact=%00",
        "oauth_client__isnull=maybe",
        "q=%00",
        "q=a%00b",
    ],
)
def test_a_malformed_value_of_a_declared_filter_is_no_server_error(staff, query):
    response = staff.get(f"/admin/connections/connection/?{query}")
    assert response.status_code in (200, 302, 400)


@pytest.mark.parametrize(
    "query",
    [
        "action__exact=tested",
        "source__exact=admin",
        "success__exact=1",
        "created_at__year=2026",
        "created_at__year=2026&created_at__month=1&created_at__day=2",
    ],
)
def test_the_declared_event_filters_still_work(staff, query, token_connection):
    assert staff.get(f"/admin/connections/event/?{query}").status_code == 200


def test_the_event_list_filters_by_connection(staff, token_connection, oauth_connection):
    for connection in (token_connection, oauth_connection):
        Event.objects.create(
            connection=connection,
            connection_name=connection.name,
            action=Action.TESTED,
            source=Source.ADMIN,
            message=f"checked {connection.name}",
        )
    response = staff.get(f"/admin/connections/event/?connection={token_connection.pk}")
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert [event.message for event in shown] == ["checked Support inbox"]
    assert staff.get("/admin/connections/event/?connection=abc")["Location"].endswith("?e=1")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/auth/user/?username__regex=(a%2B)%2B%24",
        "/admin/auth/group/?name__regex=x",
        "/admin/django_celery_beat/periodictask/?task__regex=(a%2B)%2B%24",
        "/admin/django_celery_beat/intervalschedule/?every__gt=1",
    ],
)
def test_third_party_lists_refuse_undeclared_lookups_too(operator_client, path):
    assert operator_client.get(path).status_code == 400


def test_third_party_lists_keep_their_declared_filters(operator_client, operator):
    response = operator_client.get("/admin/auth/user/?is_staff__exact=1")
    assert response.status_code == 200
    assert operator.username in response.content.decode()
