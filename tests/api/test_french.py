"""Issue 19 item 4: the API key admin, createapikey and the API's error sentences read in French.

An API error's sentence follows Accept-Language; its status, its JSON keys and the field names
in ``fields`` are the contract and stay the same in every language.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from api.management.commands.createapikey import Command as CreateApiKey
from api.models import KeyScope

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_after():
    """A French request leaves French active in this thread (LocaleMiddleware never switches
    back): the tests after these must start in the default language again."""
    yield
    translation.deactivate()


FR = {"accept-language": "fr"}
NBSP = "\u00a0"
ADD = "/admin/api/apikey/add/"


def test_the_add_key_page_is_french(operator_client):
    page = operator_client.get(ADD, headers=FR).content.decode()

    assert "Origines de retour autorisées" in page
    assert "Lire le détail des connexions" in page
    assert "Allowed return origins" not in page and "Read connection details" not in page


def test_the_created_key_page_is_french(operator_client, owner):
    made = operator_client.post(
        ADD,
        {
            "name": "CRM",
            "owner": owner.pk,
            "permissions": ["read"],
            "scope": KeyScope.USERS,
            "usage-TOTAL_FORMS": "0",
            "usage-INITIAL_FORMS": "0",
        },
        headers=FR,
    )
    page = operator_client.get(made["Location"], headers=FR).content.decode()

    assert re.search(r'value="fc_live_[^"]+"', page)
    assert f"Clé d'API «{NBSP}CRM{NBSP}» créée" in page
    assert "Copiez la clé maintenant" in page
    assert f"nécessite «{NBSP}Lire le détail des connexions{NBSP}», que cette clé possède" in page
    for english in ("Copy the key now", "which this key", "Examples", ">Done<"):
        assert english not in page


def test_a_form_refusal_is_french(operator_client, owner):
    page = operator_client.post(
        ADD,
        {"name": "X", "owner": owner.pk, "permissions": ["read"], "scope": KeyScope.CONNECTIONS},
        headers=FR,
    ).content.decode()

    assert "Choisissez les connexions que cette clé atteint." in page


def test_a_missing_permission_reads_in_french_with_the_same_status_and_shape(
    api, make_key, token_connection
):
    key = make_key(["read"])
    path = f"/api/v1/connections/{token_connection.pk}/access-token/"

    english = api(key.plaintext).post(path)
    french = api(key.plaintext).post(path, HTTP_ACCEPT_LANGUAGE="fr")

    assert english.status_code == french.status_code == 403
    assert set(english.json()) == set(french.json()) == {"error", "fields"}
    assert "lacks the 'token' permission" in english.json()["error"]
    assert french.json()["error"] == (
        f"Cette clé d'API ne peut pas obtenir de jetons d'accès (il lui manque la permission "
        f"«{NBSP}token{NBSP}»)."
    )


def test_not_found_and_bad_keys_read_in_french(api, full_key):
    missing = api(full_key.plaintext).get("/api/v1/connections/999/", HTTP_ACCEPT_LANGUAGE="fr")
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("Aucune connexion portant cet identifiant")

    refused = api("fc_live_0123456789ab_" + "x" * 43).get(
        "/api/v1/connections/", HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert refused.status_code == 401
    assert refused.json()["error"].startswith("Cette clé d'API n'est pas valide")


def test_field_errors_keep_their_field_names_in_french(full_api):
    response = full_api.post("/api/v1/connections/", {}, format="json", HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == f"La requête comporte des erreurs{NBSP}: voir les champs."
    assert {"name", "company_name", "auth_type"} <= set(body["fields"])


def test_createapikey_speaks_french_under_french(owner):
    out = StringIO()
    with translation.override("fr"):
        call_command("createapikey", "CRM", "--owner", "alice", stdout=out)
        with pytest.raises(CommandError, match=f"--expires{NBSP}: indiquez un nombre entier"):
            call_command("createapikey", "CRM", "--owner", "alice", "--expires", "0")

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Clé d'API 'CRM'")
    assert "les connexions de alice" in lines[0] and "sans expiration" in lines[0]
    assert lines[1] == f"Conservez la clé maintenant{NBSP}: elle n'est affichée que cette fois-ci."
    assert lines[2].startswith("fc_live_")


def test_createapikey_help_is_french_under_french():
    with translation.override("fr"):
        text = CreateApiKey().create_parser("manage.py", "createapikey").format_help()

    assert "Crée une clé d'API de service" in text
    assert "Atteindre toutes les connexions" in text
    assert "Create a service API key" not in text
