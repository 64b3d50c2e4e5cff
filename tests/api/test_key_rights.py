"""Issue 15 item 1: issuing or changing an API key never grants more than its issuer holds."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission as AuthPermission
from django.core.exceptions import ValidationError

from api.keys import apikey_authenticate, apikey_create
from api.models import ApiKey, KeyScope
from connections.models import Connection, Event, Status, Transition
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ADD = "/admin/api/apikey/add/"
INLINE = {"usage-TOTAL_FORMS": "0", "usage-INITIAL_FORMS": "0"}


def grant(user, *codenames):
    user.user_permissions.add(*AuthPermission.objects.filter(codename__in=codenames))


@pytest.fixture
def key_clerk(client, db):
    """Staff with add/change permission on API keys and nothing else."""
    clerk = get_user_model().objects.create_user("clerk", "clerk@example.com", PASSWORD)
    clerk.is_staff = True
    clerk.save()
    grant(clerk, "add_apikey", "change_apikey", "view_apikey")
    client.force_login(clerk)
    return client


@pytest.fixture
def staff_operator(db):
    """Staff (not superuser) who may view and change every connection."""
    user = get_user_model().objects.create_user("ops", "ops@example.com", PASSWORD)
    user.is_staff = True
    user.save()
    grant(user, "view_connection", "change_connection")
    return user


def test_a_key_clerk_cannot_mint_a_superuser_owned_all_connections_token_key(
    key_clerk, operator, token_connection
):
    response = key_clerk.post(
        ADD,
        {
            "name": "Everything",
            "owner": operator.pk,
            "permissions": ["read", "token"],
            "scope": KeyScope.ALL,
            **INLINE,
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Select a valid choice" in page  # the owner is not among the clerk's choices
    assert "This key would reach connections you may not see." in page
    assert not ApiKey.objects.exists()
    # The service refuses it too, whatever form is used.
    clerk = get_user_model().objects.get(username="clerk")
    with pytest.raises(ValidationError) as refused:
        apikey_create(
            name="X",
            owner=operator,
            permissions=["token"],
            scope=KeyScope.ALL,
            created_by=clerk,
        )
    assert set(refused.value.message_dict) == {"owner", "scope"}
    assert not ApiKey.objects.exists()


def test_a_key_clerk_cannot_widen_a_members_read_only_key(key_clerk, owner, token_connection):
    made = apikey_create(name="Reader", owner=owner, permissions=["read"], users=[owner])
    widened = {
        "name": "Reader",
        "owner": owner.pk,
        "permissions": ["read", "token"],
        "scope": KeyScope.USERS,
        "users": [owner.pk],
        **INLINE,
    }
    # The member's key reaches connections the clerk may not view: not even theirs to open.
    response = key_clerk.post(f"/admin/api/apikey/{made.key.pk}/change/", widened)
    assert response.status_code == 302
    made.key.refresh_from_db()
    assert made.key.permissions == ["read"]
    # Staff who may view (not change) every connection see the key, and the form refuses.
    clerk = get_user_model().objects.get(username="clerk")
    grant(clerk, "view_connection", "change_user", "view_user")
    response = key_clerk.post(f"/admin/api/apikey/{made.key.pk}/change/", widened)
    assert response.status_code == 200
    made.key.refresh_from_db()
    assert made.key.permissions == ["read"]
    # May see but not change them: `token` is refused on the form.
    assert response.context["adminform"].form.errors


def test_a_clerk_manages_only_their_own_keys(key_clerk, operator):
    theirs = apikey_create(name="Ops", owner=operator, permissions=["read"], scope=KeyScope.ALL)
    assert key_clerk.get(f"/admin/api/apikey/{theirs.key.pk}/change/").status_code == 302
    assert "Ops" not in key_clerk.get("/admin/api/apikey/").content.decode()
    key_clerk.post("/admin/api/apikey/", {"action": "revoke", "_selected_action": [theirs.key.pk]})
    theirs.key.refresh_from_db()
    assert theirs.key.revoked_at is None


def test_a_key_clerk_sees_no_key_reaching_connections_they_may_not_view(
    client, owner, operator, token_connection
):
    # A key's page names what it reaches (users, connections, usage by connection): a staff user
    # who may view API keys but not those connections does not see the key at all.
    theirs = apikey_create(
        name="Alices sync",
        owner=owner,
        permissions=["read"],
        scope=KeyScope.CONNECTIONS,
        connections=[token_connection],
    )
    wide = apikey_create(name="Ops wide", owner=operator, permissions=["read"], scope=KeyScope.ALL)
    viewer = get_user_model().objects.create_user("viewer", "viewer@example.com", PASSWORD)
    viewer.is_staff = True
    viewer.save()
    grant(viewer, "view_apikey")
    mine = apikey_create(name="Viewers own", owner=viewer, permissions=["read"])
    client.force_login(viewer)
    listed = client.get("/admin/api/apikey/").content.decode()
    assert "Viewers own" in listed
    assert "Alices sync" not in listed and "Ops wide" not in listed
    for key in (theirs.key, wide.key):
        page = client.get(f"/admin/api/apikey/{key.pk}/change/", follow=True).content.decode()
        assert "Support inbox" not in page and "alice" not in page
    assert client.get(f"/admin/api/apikey/{mine.key.pk}/change/").status_code == 200
    # Who may view every connection sees every key.
    client.force_login(operator)
    listed = client.get("/admin/api/apikey/").content.decode()
    assert all(name in listed for name in ("Alices sync", "Ops wide", "Viewers own"))


def test_the_owner_choices_of_a_clerk_are_only_themselves(key_clerk, owner, operator):
    page = key_clerk.get(ADD).content.decode()
    owner_select = re.search(r'<select name="owner".*?</select>', page, re.S).group(0)
    assert "clerk" in owner_select
    assert "alice" not in owner_select and ">op<" not in owner_select
    # Without the right to see connections, the connection search answers nothing.
    search = key_clerk.get(
        "/admin/autocomplete/",
        {"app_label": "api", "model_name": "apikey", "field_name": "connections", "term": ""},
    )
    assert search.status_code == 403


def test_a_clerk_may_still_make_a_key_for_their_own_connections(key_clerk):
    clerk = get_user_model().objects.get(username="clerk")
    Connection.objects.create(name="Mine", company_name="X", owner=clerk)
    response = key_clerk.post(
        ADD,
        {
            "name": "Own",
            "owner": clerk.pk,
            "permissions": ["read", "token"],
            "scope": KeyScope.USERS,
            **INLINE,
        },
    )
    assert response.status_code == 302
    key = ApiKey.objects.get()
    assert key.owner == clerk and list(key.users.all()) == [clerk]
    assert key.created_by == clerk


def test_an_operator_may_issue_for_a_member_within_the_members_rights(
    operator_client, owner, stranger, token_connection
):
    base = {"name": "K", "owner": owner.pk, "permissions": ["read", "token"], **INLINE}
    # Beyond the member's own connections: refused, although the operator may see them.
    wide = operator_client.post(ADD, {**base, "scope": KeyScope.ALL})
    assert wide.status_code == 200
    assert "The owner may not see every connection this key would reach." in (wide.content.decode())
    theirs = operator_client.post(ADD, {**base, "scope": KeyScope.USERS, "users": [stranger.pk]})
    assert theirs.status_code == 200
    assert not ApiKey.objects.exists()
    own = operator_client.post(ADD, {**base, "scope": KeyScope.USERS, "users": [owner.pk]})
    assert own.status_code == 302
    assert ApiKey.objects.get().owner == owner


def test_token_needs_the_right_to_change_what_the_key_reaches(client, stranger, token_connection):
    viewer = get_user_model().objects.create_user("viewer", "v@example.com", PASSWORD)
    viewer.is_staff = True
    viewer.save()
    grant(viewer, "view_connection", "add_apikey", "view_apikey", "change_user")
    client.force_login(viewer)
    base = {"name": "K", "owner": viewer.pk, "scope": KeyScope.ALL, **INLINE}
    refused = client.post(ADD, {**base, "permissions": ["read", "proxy"]})
    assert refused.status_code == 200
    assert "need that you may change every connection" in refused.content.decode()
    assert client.post(ADD, {**base, "permissions": ["read"]}).status_code == 302


def test_the_add_page_lists_no_connection_and_searches_on_demand(operator_client, owner):
    Connection.objects.bulk_create(
        Connection(name=f"Conn {n}", company_name="X", owner=owner) for n in range(300)
    )
    page = operator_client.get(ADD).content.decode()
    assert "Conn 1" not in page and "alice" not in page
    assert "admin-autocomplete" in page
    found = operator_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "api",
            "model_name": "apikey",
            "field_name": "connections",
            "term": "Conn 29",
        },
    ).json()
    assert {item["text"] for item in found["results"]} >= {"Conn 29", "Conn 290"}


def test_reloading_the_new_key_page_never_makes_or_shows_a_second_key(operator_client, owner):
    response = operator_client.post(
        ADD,
        {
            "name": "Once",
            "owner": owner.pk,
            "permissions": ["read"],
            "scope": KeyScope.USERS,
            **INLINE,
        },
    )
    shown = operator_client.get(response["Location"]).content.decode()
    plaintext = re.search(r'value="(fc_live_[^"]+)"', shown).group(1)
    again = operator_client.get(response["Location"], follow=True)
    assert plaintext not in again.content.decode()
    assert "shown once" in again.content.decode()
    assert ApiKey.objects.count() == 1
    assert apikey_authenticate(plaintext) is not None


def test_a_wide_key_stops_at_once_when_its_owner_is_demoted(api, staff_operator, owner):
    Connection.objects.create(name="Theirs", company_name="X", owner=owner)
    made = apikey_create(
        name="Ops", owner=staff_operator, permissions=["read", "token"], scope=KeyScope.ALL
    )
    client = api(made.plaintext)
    assert client.get("/api/v1/connections/").status_code == 200
    # Losing "change" is enough for a key with 'token'.
    staff_operator.user_permissions.remove(AuthPermission.objects.get(codename="change_connection"))
    assert api(made.plaintext).get("/api/v1/connections/").status_code == 401
    staff_operator.user_permissions.add(AuthPermission.objects.get(codename="change_connection"))
    assert api(made.plaintext).get("/api/v1/connections/").status_code == 200
    staff_operator.is_staff = False
    staff_operator.save()
    assert api(made.plaintext).get("/api/v1/connections/").status_code == 401


def test_a_chosen_users_key_beyond_the_owner_stops_on_demotion(api, staff_operator, owner):
    made = apikey_create(
        name="Theirs", owner=staff_operator, permissions=["read"], users=[owner, staff_operator]
    )
    assert api(made.plaintext).get("/api/v1/connections/").status_code == 200
    staff_operator.is_staff = False
    staff_operator.save()
    assert api(made.plaintext).get("/api/v1/connections/").status_code == 401


def test_a_key_for_ones_own_connections_needs_no_staff_rights(api, owner, token_connection):
    made = apikey_create(name="Own", owner=owner, permissions=["read", "token", "write"])
    assert api(made.plaintext).get("/api/v1/connections/").json()["count"] == 1


def test_actions_with_a_key_name_the_key_and_its_creator(
    api, operator, owner, token_connection, front_settings
):
    made = apikey_create(
        name="CRM sync", owner=owner, permissions=["read", "write"], created_by=operator
    )
    client = api(made.plaintext)
    url = f"/api/v1/connections/{token_connection.pk}/"
    assert client.patch(url, {"name": "Renamed"}, format="json").status_code == 200
    event = Event.objects.get(action="updated")
    assert event.actor == operator
    assert (event.api_key_id, event.api_key_name) == (made.key.pk, "CRM sync")
    # Front accepted the token before: a test that finds it Online again changes nothing, so
    # start from Offline to have a transition to look at.
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.OFFLINE)
    assert client.post(f"{url}test/").status_code == 200
    transition = Transition.objects.get(connection=token_connection)
    assert transition.actor == operator
    assert (transition.api_key_id, transition.api_key_name) == (made.key.pk, "CRM sync")
    # The history pages say it: the member's page and the operators' event list.
    page = api(None)
    page.force_login(owner)
    assert (
        "op with API key \u201cCRM sync\u201d"
        in page.get(f"/connections/{token_connection.pk}/").content.decode()
    )
    # Outside a key's request nothing is attributed to a key.
    assert Event.objects.filter(api_key_id__isnull=True).count() == 0
    from connections.services import event_record

    plain = event_record(connection=token_connection, action="tested", source="command")
    assert plain.api_key_id is None and plain.api_key_name == ""


def test_a_key_made_by_a_command_acts_as_its_owner(api, owner, token_connection):
    made = apikey_create(name="Shell", owner=owner, permissions=["write", "read"])
    url = f"/api/v1/connections/{token_connection.pk}/"
    assert api(made.plaintext).patch(url, {"name": "R"}, format="json").status_code == 200
    event = Event.objects.get(action="updated")
    assert event.actor == owner and event.api_key_name == "Shell"


def test_the_api_reach_and_proxy_lookup_come_from_one_rule(owner, operator, token_connection):
    from connections import access

    made = apikey_create(
        name="Chosen",
        owner=operator,
        permissions=["read"],
        scope=KeyScope.CONNECTIONS,
        connections=[token_connection],
    )
    key = ApiKey.objects.get(pk=made.key.pk)
    assert list(access.connections_for_key(key)) == [token_connection]
    assert access.connection_in_reach(key, token_connection.pk, ["name"]).name == "Support inbox"
    other = Connection.objects.create(name="Other", company_name="X", owner=owner)
    assert access.connection_in_reach(key, other.pk, ["name"]) is None
