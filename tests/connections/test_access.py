"""connections.access: who sees and changes which connections, and the owner lookup."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission as AuthPermission
from django.core.management import call_command
from rest_framework.test import APIClient

from api.keys import apikey_create
from connections import access
from connections.models import Connection
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(db):
    """Staff who may view, not change, connections."""
    user = get_user_model().objects.create_user("viewer", "v@example.com", PASSWORD)
    user.is_staff = True
    user.save()
    user.user_permissions.add(AuthPermission.objects.get(codename="view_connection"))
    return user


def test_members_see_and_change_their_own(owner, stranger, token_connection):
    theirs = Connection.objects.create(name="Theirs", company_name="X", owner=stranger)
    assert list(access.connections_visible_to(owner)) == [token_connection]
    assert list(access.connections_changeable_by(owner)) == [token_connection]
    assert access.user_may_view(owner, token_connection)
    assert access.user_may_change(owner, token_connection)
    assert not access.user_may_view(owner, theirs)
    assert not access.user_may_change(owner, theirs)


def test_operators_see_all_and_change_all_only_with_change(
    viewer, operator, owner, token_connection
):
    assert access.user_may_view(viewer, token_connection)
    assert not access.user_may_change(viewer, token_connection)
    assert access.user_may_change(operator, token_connection)
    # Without staff, permissions make nobody an operator; nor does an inactive account.
    viewer.is_staff = False
    viewer.save()
    viewer = get_user_model().objects.get(pk=viewer.pk)
    assert not access.user_may_view(viewer, token_connection)
    operator.is_active = False
    operator.save()
    assert not access.connections_visible_to(operator).exists()


def test_the_member_pages_show_operators_their_own_only(client, operator, token_connection):
    client.force_login(operator)
    assert client.get(f"/connections/{token_connection.pk}/").status_code == 404
    assert client.get(f"/connections/{token_connection.pk}/edit/").status_code == 404


def test_acting_for_others_needs_superuser_or_user_change(viewer, operator, owner):
    assert access.user_may_act_for(owner, owner)
    assert not access.user_may_act_for(owner, viewer)
    assert not access.user_may_act_for(viewer, owner)
    assert access.user_may_act_for(operator, owner)
    viewer.user_permissions.add(AuthPermission.objects.get(codename="change_user"))
    viewer = get_user_model().objects.get(pk=viewer.pk)
    assert access.user_may_act_for(viewer, owner)


@pytest.mark.parametrize("value", ["", "a\x00b", "x" * 300, "ghost"])
def test_the_owner_lookup_never_queries_what_no_username_can_be(value, owner):
    assert access.owner_by_username(value) is None
    assert access.owner_by_username("alice") == owner


def test_every_owner_lookup_goes_through_one_function(monkeypatch, tmp_path, owner, operator):
    asked: list[str] = []
    real = access.owner_by_username

    def spy(username: str):
        asked.append(username)
        return real(username)

    monkeypatch.setattr(access, "owner_by_username", spy)
    out = StringIO()
    call_command("createapikey", "K", "--owner", "alice", stdout=out)
    call_command("exportconnections", "--owner", "alice", stdout=out)
    call_command("testconnections", "--owner", "alice", stdout=out)
    path = tmp_path / "in.csv"
    path.write_text("name,company_name,auth_type,api_token,oauth_client,scopes,owner\n")
    call_command("importconnections", str(path), "--owner", "alice", stdout=out)
    path.write_text(
        "name,company_name,auth_type,api_token,oauth_client,scopes,owner\n"
        "Row,Acme,token,tok-123456,,,alice\n"
    )
    call_command("importconnections", str(path), "--owner", "alice", stdout=out)
    assert asked == ["alice"] * 6
    made = apikey_create(name="A", owner=owner, permissions=["read", "write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {made.plaintext}")
    assert client.get("/api/v1/connections/", {"owner": "alice"}).status_code == 200
    body = {"name": "B", "company_name": "Acme", "auth_type": "token", "api_token": "tok-999999"}
    assert (
        client.post("/api/v1/connections/", {**body, "owner": "alice"}, format="json").status_code
        == 201
    )
    assert asked[6:] == ["alice", "alice"]
