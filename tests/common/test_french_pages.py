"""Issue 19 item 4: the project's pages, its emails and common's texts read in French."""

from __future__ import annotations

import html

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from common.admin import BoundedSearchForm
from common.preferences import preferences_save
from common.text import PlainTextValidator, SecretTextValidator, seconds_text
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr"}
NB = "\u00a0"


def text_of(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"


def test_the_sign_in_page_is_in_french(client):
    page = text_of(client.get("/accounts/login/", **FRENCH))
    assert '<html lang="fr">' in page
    assert "<title>Se connecter · FrontConnect</title>" in page
    assert "Connectez-vous pour gérer vos connexions à Front." in page
    assert f"Mot de passe oublié{NB}?" in page
    assert "Aller au contenu" in page
    assert '<label for="fc-language-select">Langue</label>' in page
    assert '<button type="submit">Changer</button>' in page
    assert "Nom d’utilisateur" in page  # Django's own form, in French too


def test_a_failed_sign_in_says_why_in_french(client, owner):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"}, **FRENCH)
    assert "Saisissez un nom d’utilisateur et un mot de passe valides" in text_of(response)


def test_the_lockout_page_is_in_french(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 1
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"}, **FRENCH)
    page = text_of(response)
    assert response.status_code == 429
    assert "<h1>Trop de connexions échouées</h1>" in page
    assert "suspendue après 1 tentative échouée. Réessayez dans 15 minutes" in page


def test_the_header_of_a_signed_in_page_is_in_french(client, owner, operator):
    client.force_login(operator)
    page = text_of(client.get("/connections/", **FRENCH))
    for words in ("Mes connexions", "Mes équipes", "Administration", "Se déconnecter"):
        assert f">{words}<" in page
    assert "Connecté en tant que <strong>op</strong>" in page
    assert 'aria-label="Principale"' in page
    assert ">Préférences</a>" in page


def test_the_not_found_page_is_in_french(client, owner):
    client.force_login(owner)
    page = text_of(client.get("/connections/999999/", **FRENCH))
    assert "<h1>Cette page n'existe pas</h1>" in page


def test_the_password_reset_pages_and_email_are_in_french(client, owner, mailoutbox):
    form = text_of(client.get("/accounts/password-reset/", **FRENCH))
    assert "<h1>Réinitialiser votre mot de passe</h1>" in form
    response = client.post(
        "/accounts/password-reset/", {"email": "alice@example.com"}, follow=True, **FRENCH
    )
    assert "<h1>Consultez vos e-mails</h1>" in text_of(response)
    (email,) = mailoutbox
    assert email.subject == f"FrontConnect{NB}: choisir un nouveau mot de passe"
    assert "pour le compte FrontConnect alice. Pour en choisir un, ouvrez ce lien" in email.body
    assert "https://fc.example.com/accounts/reset/" in email.body
    assert f"lien «{NB}Mot de passe oublié{NB}?{NB}» de la page de connexion" in email.body


def test_the_reset_email_follows_the_recipients_saved_language(client, owner, mailoutbox):
    preferences_save(user=owner, language="en")
    client.post("/accounts/password-reset/", {"email": "alice@example.com"}, **FRENCH)
    preferences_save(user=owner, language="fr")
    client.post("/accounts/password-reset/", {"email": "alice@example.com"})
    english, french = mailoutbox
    assert english.subject == "FrontConnect: set a new password"
    assert french.subject == f"FrontConnect{NB}: choisir un nouveau mot de passe"


def test_the_admin_groups_third_party_models_under_systeme(operator_client):
    page = text_of(operator_client.get("/admin/", **FRENCH))
    assert '<html lang="fr"' in page
    assert ">Système</a>" in page and "Connexions à Front" in page
    assert ">Préférences</a> /" in page  # the user tools link


def test_the_admin_user_page_titles_the_preferences_in_french(operator_client, owner):
    page = text_of(operator_client.get(f"/admin/auth/user/{owner.pk}/change/", **FRENCH))
    assert "Langue et fuseau horaire" in page and "La langue du navigateur" in page


def test_the_validators_and_durations_speak_french():
    with translation.override("fr"):
        with pytest.raises(ValidationError) as secret:
            SecretTextValidator()("two words")
        assert secret.value.messages == [
            "Cette valeur ne peut contenir que des caractères ASCII imprimables, sans espace "
            f"(lettres, chiffres et ponctuation){NB}; collez de nouveau la valeur exactement "
            "telle que Front l'affiche."
        ]
        with pytest.raises(ValidationError) as plain:
            PlainTextValidator()("tab\there")
        assert plain.value.messages[0].startswith("Retirez les caractères de contrôle")
        assert seconds_text(1) == "1 seconde"
        assert seconds_text(30) == "30 secondes"


def test_the_admin_search_limit_is_said_in_french():
    with translation.override("fr"):
        form = BoundedSearchForm({"q": "a " * 11})
        assert not form.is_valid()
        assert form.errors["q"] == [
            f"Recherchez au plus 10 mots et 200 caractères{NB}; cette recherche n'a pas été lancée."
        ]


def test_the_server_error_page_is_in_french(client, owner):
    from django.template.loader import render_to_string

    with translation.override("fr"):
        page = html.unescape(render_to_string("500.html"))
    assert '<html lang="fr">' in page
    assert "Une erreur s'est produite du côté de FrontConnect" in page


def test_english_stays_the_default(client, owner):
    page = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}, follow=True)
    assert '<html lang="en">' in page.content.decode()
