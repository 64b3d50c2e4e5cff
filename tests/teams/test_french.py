"""The team pages, the offboarding admin page and the team commands speak French."""

from __future__ import annotations

import html
from io import StringIO

import pytest
from django.core.management import CommandError, call_command, load_command_class
from django.urls import reverse
from django.utils import translation

from api.keys import apikey_create
from teams import departures

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_afterwards():
    """A French request leaves French active in this thread: the next tests expect English."""
    yield
    translation.deactivate()


FR = {"accept-language": "fr"}
NBSP = "\u00a0"


def test_my_teams_page_is_in_french(signed_in, cat, sales):
    text = signed_in(cat).get(reverse("teams:list"), headers=FR).content.decode()
    assert "<h1>Mes équipes</h1>" in text
    assert ">Votre rôle</th>" in text and '<td data-label="Votre rôle">Membre</td>' in text
    assert "Unique parmi les équipes" in text and "Créer l'équipe" in text
    assert "Create the team" not in text


def test_a_team_page_is_in_french_for_its_admin(signed_in, dan, sales, sales_inbox):
    text = signed_in(dan).get(reverse("teams:detail", args=[sales.pk]), headers=FR)
    text = text.content.decode()
    assert "Équipe Sales" in text and "Vous êtes administrateur de cette équipe." in text
    assert "1 connexion." in text and "Ajouter un membre" in text
    assert "Vide" + NBSP + ": jamais. Au plus 3650 jours." in text
    assert '<option value="admin">Administrateur</option>' in text
    assert "Create an API key" not in text


def test_a_team_flash_message_is_in_french(signed_in, dan, sales):
    client = signed_in(dan)
    url = reverse("teams:member_add", args=[sales.pk])
    client.post(url, {"person": "nobody", "role": "member"}, headers=FR)
    page = client.get(reverse("teams:detail", args=[sales.pk]), headers=FR)
    assert "Personne n'a ce nom d'utilisateur ou cette adresse e-mail." in html.unescape(
        page.content.decode()
    )


def test_a_new_team_name_error_is_in_french(signed_in, cat, sales):
    response = signed_in(cat).post(reverse("teams:list"), {"name": "SALES"}, headers=FR)
    assert "Une équipe porte déjà ce nom" in response.content.decode()


def test_createteam_prints_its_summary_and_errors_in_french(ann, bob, cat):
    out = StringIO()
    with translation.override("fr"):
        call_command("createteam", "Ops", "--admin", "ann", "--member", "bob", "--member", "cat",
                     stdout=out)  # fmt: skip
        assert f"Équipe 'Ops' créée{NBSP}: 1 administrateur, 2 membres." in out.getvalue()
        with pytest.raises(CommandError, match="Indiquez au moins un --admin"):
            call_command("createteam", "Other")
        with pytest.raises(CommandError, match="L'équipe 'Ops' existe déjà"):
            call_command("createteam", "ops", "--admin", "ann")


def test_offboarduser_prints_its_summary_in_french(bob, cat, bobs_own):
    out = StringIO()
    with translation.override("fr"):
        call_command("offboarduser", "bob", "--to-user", "cat", stdout=out)
    assert (
        f"Départ de bob traité, tout est confié à cat{NBSP}: 1 connexion et 0 clé d'API "
        "transférées, 0 connexion d'équipe et 0 clé d'API d'équipe transmises, 0 session "
        "fermée, utilisateur désactivé."
    ) in out.getvalue()


def test_the_refused_deletion_is_explained_in_french(bob, bobs_own):
    for n in range(2):
        apikey_create(name=f"Sync {n}", owner=bob, permissions=["read"])
    with translation.override("fr"):
        sentence = departures.deletion_refusal(bob)
    assert sentence is not None
    assert sentence.startswith(
        f"Impossible de supprimer bob{NBSP}: ce compte possède encore 1 connexion "
        f"(«{NBSP}Bob's inbox{NBSP}») et 2 clés d'API («{NBSP}Sync 0{NBSP}», "
        f"«{NBSP}Sync 1{NBSP}»)."
    )


def test_more_names_than_shown_are_counted_in_french():
    names = [f"n{i}" for i in range(departures.NAMES_SHOWN + 2)]
    with translation.override("fr"):
        assert departures.names_listed(names).endswith(f"«{NBSP}n4{NBSP}» et 2 autres")
    assert departures.names_listed(names[:6]).endswith("\u201cn4\u201d and 1 more")


def test_the_offboard_admin_page_is_in_french(operator_client, bob):
    response = operator_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "offboard", "_selected_action": [bob.pk]},
        headers=FR,
    )
    text = response.content.decode()
    assert "Départ de 1 utilisateur" in text and "Tout transmettre à cette personne" in text
    assert 'value="Traiter le départ"' in text


def test_the_team_commands_explain_themselves_in_french():
    with translation.override("fr"):
        create = load_command_class("teams", "createteam").create_parser("manage.py", "createteam")
        offboard = load_command_class("teams", "offboarduser").create_parser(
            "manage.py", "offboarduser"
        )
        create_help, offboard_help = create.format_help(), offboard.format_help()
    assert "Crée une équipe avec ses administrateurs" in create_help
    assert "Le nom de l'équipe." in create_help
    assert "Traite le départ d'une personne" in offboard_help
    assert "Tout transférer dans cette équipe." in offboard_help
