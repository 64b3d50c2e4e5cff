"""The demo speaks French: its banner, its help page and what rundemo prints."""

from __future__ import annotations

import html
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

FR = {"accept-language": "fr"}
NBSP = "\u00a0"


@pytest.fixture(autouse=True)
def english_afterwards():
    """A French request leaves French active in this thread: the next tests expect English."""
    yield
    translation.deactivate()


def test_the_banner_is_in_french(settings, client, db):
    settings.FRONTCONNECT_DEMO = True
    text = html.unescape(client.get(reverse("login"), headers=FR).content.decode())
    assert f"Démo{NBSP}: non connectée au vrai Front." in text
    assert 'aria-label="Mode démo"' in text and "Jetons et étapes de la démo" in text
    assert "Demo: not connected to the real Front." not in text


def test_the_help_page_is_in_french(settings, client, db):
    settings.FRONTCONNECT_DEMO = True
    text = html.unescape(client.get(reverse("demo:help"), headers=FR).content.decode())
    assert "<h1>Essayer FrontConnect</h1>" in text
    assert "appuyez sur <strong>Enregistrer et autoriser</strong>" in text
    # The stand-in's consent page imitates Front's own and stays in English: its buttons too.
    assert "<strong>Accept</strong>" in text


def test_rundemo_prints_its_welcome_in_french(demo_mode, db):
    out = StringIO()
    with translation.override("fr"):
        call_command("rundemo", "--no-serve", stdout=out)
    text = out.getvalue()
    assert f"Démo{NBSP}: non connectée au vrai Front." in text
    assert "puis connectez-vous en tant que 'demo' avec le mot de passe" in text
    assert "export FRONTCONNECT_DEMO_KEY=" in text


def test_rundemo_refuses_in_french(demo_mode, db):
    demo_mode.DEBUG = False
    with translation.override("fr"), pytest.raises(CommandError) as refused:
        call_command("rundemo", "--no-serve", stdout=StringIO())
    assert str(refused.value).startswith(
        f"Mode démo refusé{NBSP}: DEBUG est désactivé, comme en production"
    )
