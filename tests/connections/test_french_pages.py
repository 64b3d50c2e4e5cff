"""The connections pages, admin pages, forms and link email read in French for a French reader.

The browser asks with Accept-Language: fr (LocaleMiddleware); the email is rendered under
``translation.override("fr")``. Each test also names an English text that must be gone, so a
text left unmarked or a catalogue left uncompiled fails here.
"""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.utils import translation

from connections import links
from connections.linkmail import link_email
from connections.models import Source

pytestmark = pytest.mark.django_db

FR = {"accept-language": "fr"}
NBSP = "\u00a0"


@pytest.fixture
def member(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def main_of(content: bytes) -> str:
    """The page's own part (<main>), without the site's menus, which other catalogues hold."""
    text = html.unescape(content.decode())
    return text[text.index("<main") : text.index("</main>")]


def french_page(client: Client, url: str) -> str:
    response = client.get(url, headers=FR)
    assert response.status_code == 200
    assert response["Content-Language"] == "fr"
    return main_of(response.content)


def test_the_connection_list_is_in_french(member, token_connection):
    text = french_page(member, "/connections/")

    assert "Mes connexions" in text and "My connections" not in text
    assert "Ajouter une connexion" in text
    assert "Type d'authentification" in text
    # The count is a plural form, and the status badge its French label.
    assert "1 connexion." in text and "1 connection" not in text
    assert "Non vérifiée" in text and "Not checked yet" not in text
    assert "Moi uniquement" in text and "Just me" not in text


def test_the_empty_list_and_a_count_of_several_are_in_french(member, token_connection):
    token_connection.delete()
    assert "Aucune connexion pour l'instant" in french_page(member, "/connections/")

    for name in ["First inbox", "Second inbox"]:
        token_connection.pk = None
        token_connection.name = name
        token_connection.save()
    assert "2 connexions." in french_page(member, "/connections/")


def test_the_connection_page_is_in_french(member, oauth_connection):
    text = french_page(member, oauth_connection.get_absolute_url())

    for french in [
        "Tester la connexion",
        "Autoriser",
        "Appartient à",
        "alice seulement",
        "Entreprise Front",
        "Historique des vérifications",
        "Demander à un administrateur Front d'autoriser",
        # The lifetimes of a link count hours with a plural form.
        "1 heure<",
        "72 heures<",
    ]:
        assert french in text, french
    for english in ["Test connection", "Belongs to", "Check history", "1 hour", "72 hours"]:
        assert english not in text, english


def test_the_connection_form_is_in_french(member, token_connection):
    text = french_page(member, f"/connections/{token_connection.pk}/edit/")

    assert "Nom de votre connexion" in text and "Name your connection" not in text
    assert "Nom de l'entreprise" in text
    assert "Enregistrer et autoriser" in text and "Save and authorize" not in text
    assert "Annuler" in text and ">Cancel<" not in text
    assert "Créez un jeton et collez-le ici" in text


def test_a_refused_form_explains_in_french(member):
    response = member.post("/connections/new/", {"name": "", "company_name": ""}, headers=FR)

    assert response.status_code == 200
    text = main_of(response.content)
    assert f"Veuillez corriger les problèmes suivants{NBSP};" in text
    assert "Please correct" not in text
    assert "Ce champ est obligatoire." in text


def test_an_admin_connection_page_is_in_french(operator_client, oauth_connection):
    change = f"/admin/connections/connection/{oauth_connection.pk}/change/"
    text = french_page(operator_client, change)

    for french in [
        "Enregistrer et autoriser",
        "Tester la connexion",
        "Déconnecter",
        "Historique des vérifications",
        "Nom de votre connexion",
        "Propriétaire",
        "Jetons OAuth 2.0",
    ]:
        assert french in text, french
    for english in ["Save and authorize", "Test connection", "Name your connection"]:
        assert english not in text, english


def test_the_admin_list_and_its_action_are_in_french(operator_client, token_connection):
    text = french_page(operator_client, "/admin/connections/connection/")

    assert "Dernière vérification" in text and "Last check" not in text
    assert "Tester la connexion" in text
    assert "Non vérifiée" in text


def test_the_admin_disconnect_confirmation_is_in_french(operator_client, oauth_connection):
    url = f"/admin/connections/connection/{oauth_connection.pk}/disconnect/confirm/"
    text = french_page(operator_client, url)

    assert f"Déconnecter «{NBSP}Sales inbox{NBSP}»{NBSP}?" in text
    assert "Oui, la déconnecter" in text


def test_the_authorization_link_email_is_in_french(oauth_connection, settings):
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"
    made = links.authorization_link_create(
        connection=oauth_connection,
        created_by=oauth_connection.owner,
        source=Source.SELF_SERVICE,
        note="Pour la synchronisation",
        emailed_to="admin@acme.example",
    )

    with translation.override("fr"):
        email = link_email(made)

    assert email.subject == (
        f"FrontConnect{NBSP}: alice vous demande d'autoriser «{NBSP}Sales inbox{NBSP}»"
    )
    assert "vous demande, en tant qu'administrateur de l'entreprise Front Acme" in email.body
    assert f"Sa note{NBSP}: Pour la synchronisation" in email.body
    assert f"FrontConnect pourra{NBSP}:" in email.body
    assert "Le lien ne sert qu'une fois" in email.body
    assert made.url in email.body
    assert "asks you" not in email.body

    with translation.override("en"):
        english = link_email(made)
    assert english.subject == "FrontConnect: alice asks you to authorize \u201cSales inbox\u201d"
    assert "The link works once" in english.body


def test_the_recipients_link_page_is_in_french(oauth_connection, settings):
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"
    made = links.authorization_link_create(
        connection=oauth_connection, created_by=oauth_connection.owner, source=Source.SELF_SERVICE
    )

    text = french_page(Client(), made.url.removeprefix(settings.FRONTCONNECT_BASE_URL))

    assert "Autoriser une connexion à Front" in text
    assert f"pour la connexion <strong>«{NBSP}Sales inbox{NBSP}»</strong>" in text
    assert "Autoriser avec Front" in text and "Authorize with Front" not in text
