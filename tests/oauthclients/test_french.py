"""The OAuth 2.0 client admin speaks French: labels, help texts and form errors."""

from __future__ import annotations

import html

import pytest
from django.utils import translation

from oauthclients.models import OAuthClient

ADD_URL = "/admin/oauthclients/oauthclient/add/"
FR = {"accept-language": "fr"}


@pytest.fixture(autouse=True)
def english_afterwards():
    """A French request leaves French active in this thread: the next tests expect English."""
    yield
    translation.deactivate()


def test_a_missing_secret_is_refused_in_french(operator_client):
    response = operator_client.post(ADD_URL, {"name": "Front app", "client_id": "abc"}, headers=FR)
    text = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert (
        "Saisissez le secret client indiqué dans les réglages OAuth de l'application Front."
    ) in text
    assert "Enter the client secret" not in text
    assert not OAuthClient.objects.exists()


def test_the_add_page_labels_and_help_are_in_french(operator_client):
    text = html.unescape(operator_client.get(ADD_URL, headers=FR).content.decode())
    assert "Secret client" in text and "ID client" in text and "Dans Front" in text
    assert "Sur la même page OAuth de Front. Stocké chiffré et plus jamais affiché." in text
    assert "Saisissez cette URL telle quelle" in text


def test_the_change_page_tells_the_secret_state_in_french(operator_client, oauth_client):
    url = f"/admin/oauthclients/oauthclient/{oauth_client.pk}/change/"
    operator_client.post(
        url,
        {"name": "Front app", "client_id": "client-id-123", "client_secret": "new-SECRET-9"},
        headers=FR,
    )
    text = html.unescape(operator_client.get(url, headers=FR).content.decode())
    assert "Défini, modifié pour la dernière fois le" in text and "UTC par op" in text
    assert "Laissez vide pour garder le secret actuel." in text
