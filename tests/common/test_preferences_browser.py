"""The language switcher and the preferences page in Chromium: by keyboard, and accessible."""

from __future__ import annotations

import re

import pytest

from common.models import Preferences
from tests.a11y import assert_accessible
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def plain_http_language_cookie(settings):
    # The live server speaks plain http: a secure cookie would never come back.
    settings.LANGUAGE_COOKIE_SECURE = False


def test_the_switcher_works_by_keyboard_and_the_french_pages_pass_axe(page, live_server, owner):
    page.goto(f"{live_server.url}/accounts/login/")
    switch = page.get_by_label("Language")
    switch.focus()
    switch.select_option("fr")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Se connecter").wait_for()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert_accessible(page)

    page.get_by_label("Nom d’utilisateur").fill(owner.username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(r"/connections/$"))
    assert_accessible(page)
    # Signed in, the same switcher saves the choice for the emails too.
    page.get_by_label("Langue").select_option("en")
    page.get_by_role("button", name="Changer").click()
    page.get_by_role("button", name="Sign out").wait_for()
    assert Preferences.objects.get(user=owner).language == "en"


def test_the_preferences_page_passes_axe_and_saves(page, live_server, owner):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/connections/$"))
    page.get_by_role("link", name="Preferences").click()
    page.get_by_role("heading", name="Preferences").wait_for()
    assert_accessible(page)

    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Your preferences are saved.").wait_for()
    assert_accessible(page)
    assert Preferences.objects.get(user=owner).time_zone == "Europe/Paris"


def test_the_admin_switcher_passes_axe_in_french(page, live_server, operator):
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Change").click()
    page.get_by_role("button", name="Connexion").wait_for()
    assert_accessible(page)


def test_on_an_authorization_link_the_switcher_comes_back_to_the_link(
    page, live_server, oauth_connection, settings
):
    from connections import links
    from connections.models import Source

    settings.FRONTCONNECT_BASE_URL = live_server.url
    made = links.authorization_link_create(
        connection=oauth_connection, created_by=oauth_connection.owner, source=Source.SELF_SERVICE
    )
    page.goto(made.url)
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Change").click()
    page.get_by_label("Langue").wait_for()
    assert page.url == made.url
    assert page.locator("html").get_attribute("lang") == "fr"
    assert_accessible(page)
