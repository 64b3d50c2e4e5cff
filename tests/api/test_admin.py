from __future__ import annotations

import re

import pytest

from api.keys import apikey_authenticate
from api.models import ApiKey, KeyScope

pytestmark = pytest.mark.django_db

ADD = "/admin/api/apikey/add/"
LIST = "/admin/api/apikey/"


def test_adding_a_key_shows_it_once_and_stores_only_its_hash(operator_client, owner):
    response = operator_client.post(
        ADD,
        {
            "name": "CRM <sync>",
            "owner": owner.pk,
            "permissions": ["read", "proxy"],
            "scope": KeyScope.USERS,
            "expires_at_0": "",
            "expires_at_1": "",
            "usage-TOTAL_FORMS": "0",
            "usage-INITIAL_FORMS": "0",
        },
    )
    # POST-redirect-GET: the POST makes the key and sends the browser to the page showing it.
    assert response.status_code == 302
    key_pk = ApiKey.objects.get().pk
    assert response["Location"] == f"/admin/api/apikey/{key_pk}/created/"
    shown = operator_client.get(response["Location"])
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    page = shown.content.decode()
    plaintext = re.search(r'value="(fc_live_[^"]+)"', page).group(1)
    assert "CRM &lt;sync&gt;" in page
    key = apikey_authenticate(plaintext)
    assert key is not None and key.permissions == ["proxy", "read"]
    assert list(key.users.all()) == [owner]
    assert key.created_by.username == "op"
    # Never again: not in the change page, the list, or any message.
    for url in (LIST, f"/admin/api/apikey/{key.pk}/change/"):
        shown = operator_client.get(url).content.decode()
        assert plaintext not in shown
        assert key.key_hash not in shown
        assert key.prefix in shown
    assert plaintext not in str(operator_client.cookies)


def test_a_key_for_chosen_connections_needs_some(operator_client, owner):
    response = operator_client.post(
        ADD,
        {"name": "X", "owner": owner.pk, "permissions": ["read"], "scope": KeyScope.CONNECTIONS},
    )
    assert response.status_code == 200
    assert "Choose the connections this key reaches." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_revoke_action_revokes(operator_client, full_key, api):
    response = operator_client.post(
        LIST, {"action": "revoke", "_selected_action": [full_key.key.pk]}, follow=True
    )
    assert "Revoked 1 API key." in response.content.decode()
    key = ApiKey.objects.get(pk=full_key.key.pk)
    assert key.revoked_at is not None and key.revoked_by.username == "op"
    assert api(full_key.plaintext).get("/api/v1/connections/").status_code == 401


def test_the_list_shows_prefix_permissions_scope_and_use(operator_client, full_key):
    page = operator_client.get(LIST).content.decode()
    assert full_key.key.prefix in page
    assert "proxy, read, token, write" in page
    assert "The connections of chosen users" in page
    assert operator_client.get(LIST, {"q": full_key.key.public_id}).status_code == 200


def test_the_change_page_saves(operator_client, full_key):
    url = f"/admin/api/apikey/{full_key.key.pk}/change/"
    assert operator_client.get(url).status_code == 200
    response = operator_client.post(
        url,
        {
            "name": "Renamed",
            "owner": full_key.key.owner_id,
            "permissions": ["read"],
            "scope": KeyScope.USERS,
            "users": [full_key.key.owner_id],
            "usage-TOTAL_FORMS": "0",
            "usage-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    key = ApiKey.objects.get(pk=full_key.key.pk)
    assert key.name == "Renamed" and key.permissions == ["read"]
    assert key.key_hash == full_key.key.key_hash


def test_the_owner_is_found_by_name(operator_client, owner):
    # Issue 19 item 5: the owner field searches people by first and last name too.
    owner.first_name, owner.last_name = "Alice", "Martin"
    owner.save()
    response = operator_client.get(
        "/admin/autocomplete/",
        {"term": "Martin", "app_label": "api", "model_name": "apikey", "field_name": "owner"},
    )
    assert response.status_code == 200
    assert response.json()["results"] == [{"id": str(owner.pk), "text": "alice (Alice Martin)"}]


def test_the_form_shows_the_reach_fields_by_scope_and_what_each_permission_needs(
    operator_client,
):
    page = operator_client.get(ADD).content.decode()
    assert "api/js/apikey_form.js" in page
    assert "Get an access token: POST /api/v1/connections/ID/access-token/" in page


def test_a_reach_field_the_scope_does_not_use_is_ignored(operator_client, owner, operator):
    # The script only hides fields: the server keeps the rule (all connections: no users).
    operator_client.post(
        ADD,
        {
            "name": "All",
            "owner": operator.pk,
            "permissions": ["read"],
            "scope": KeyScope.ALL,
            "users": [owner.pk],
            "usage-TOTAL_FORMS": "0",
            "usage-INITIAL_FORMS": "0",
        },
    )
    key = ApiKey.objects.get()
    assert key.scope == KeyScope.ALL and not key.users.exists()


def test_the_created_key_page_says_which_permission_each_example_needs(operator_client, owner):
    response = operator_client.post(
        ADD,
        {
            "name": "Reader",
            "owner": owner.pk,
            "permissions": ["read"],
            "scope": KeyScope.USERS,
            "usage-TOTAL_FORMS": "0",
            "usage-INITIAL_FORMS": "0",
        },
    )
    page = operator_client.get(response["Location"]).content.decode()
    assert "needs “Read connection details”, which this key has" in page
    assert "needs “Get an access token”, which this key does not have" in page
    assert "curl -H &quot;Authorization: Bearer $KEY&quot; http" in page
