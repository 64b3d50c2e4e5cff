"""Issue 19 item 4: each reader's language and time zone, for their pages and their emails."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.test import Client
from django.utils import timezone, translation

from common.models import Preferences
from common.preferences import preferences_save, reading_as
from connections import links
from connections.models import Connection, Source
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SWITCH = "/i18n/setlang/"
PREFERENCES = "/accounts/preferences/"
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


def page_language(response) -> str:
    found = re.search(r'<html lang="([^"]+)"', response.content.decode())
    assert found is not None
    return found.group(1)


@pytest.fixture
def member(client, owner):
    client.force_login(owner)
    return client


# The switcher


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_every_sign_in_page_offers_the_switcher_back_to_itself(client, url):
    page = client.get(url).content.decode()
    assert f'action="{SWITCH}"' in page
    assert '<label for="fc-language-select">Language</label>' in page
    assert '<option value="fr" lang="fr">Français</option>' in page
    assert f'name="next" value="{url}"' in page
    assert '<button type="submit">Change</button>' in page


@pytest.mark.parametrize("url", ["/connections/", "/accounts/preferences/"])
def test_member_pages_offer_the_switcher_and_link_the_preferences(member, url):
    page = member.get(url).content.decode()
    assert f'action="{SWITCH}"' in page and f'href="{PREFERENCES}"' in page


def test_admin_pages_offer_the_switcher_and_link_the_preferences(operator_client):
    page = operator_client.get("/admin/auth/user/").content.decode()
    assert f'action="{SWITCH}"' in page and f'href="{PREFERENCES}"' in page
    assert 'name="next" value="/admin/auth/user/"' in page


def test_the_switcher_changes_the_language_of_the_next_page(client, db):
    assert page_language(client.get("/accounts/login/")) == "en"
    response = client.post(SWITCH, {"language": "fr", "next": "/accounts/login/?next=/teams/"})
    assert response.status_code == 302 and response.url == "/accounts/login/?next=/teams/"
    page = client.get(response.url)
    assert page_language(page) == "fr"
    assert "<h1>Se connecter</h1>" in page.content.decode()
    assert Preferences.objects.count() == 0  # nobody signed in: the cookie only

    client.post(SWITCH, {"language": "en", "next": "/accounts/login/"})
    assert page_language(client.get("/accounts/login/", **FRENCH)) == "en"  # the cookie wins


def test_a_signed_in_switch_is_saved_for_their_emails(member, owner):
    member.post(SWITCH, {"language": "fr", "next": "/connections/"})
    assert Preferences.objects.get(user=owner).language == "fr"
    assert page_language(member.get("/connections/")) == "fr"


def test_a_switch_posted_from_another_site_saves_nothing(owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    response = browser.post(SWITCH, {"language": "fr", "next": "/connections/"})
    assert response.status_code == 302  # the cookie only: the page's language, nothing stored
    assert not Preferences.objects.filter(user=owner).exists()

    token = browser.get("/connections/").context["csrf_token"]
    browser.post(SWITCH, {"language": "fr", "csrfmiddlewaretoken": str(token)})
    assert Preferences.objects.get(user=owner).language == "fr"


def test_the_switcher_refuses_a_language_it_does_not_offer(member, owner):
    response = member.post(SWITCH, {"language": "de", "next": "/connections/"}, follow=True)
    assert page_language(response) == "en"
    assert "Choose one of the languages in the list; nothing was changed." in (
        response.content.decode()
    )
    assert not Preferences.objects.filter(user=owner).exists()
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_the_switcher_never_echoes_the_oauth_callbacks_code_and_state(client, db):
    page = client.get("/oauth/callback/", {"state": "state-SECRET-7777", "code": "code-SECRET"})
    body = page.content.decode()
    assert 'name="next" value="/oauth/callback/"' in body
    assert "SECRET" not in body


def test_the_switcher_never_writes_an_authorization_links_secret(
    client, oauth_connection, settings
):
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"
    made = links.authorization_link_create(
        connection=oauth_connection, created_by=oauth_connection.owner, source=Source.SELF_SERVICE
    )
    path = made.url.removeprefix("https://fc.example.com")
    secret = path.rstrip("/").rsplit("/", 1)[-1]
    page = client.get(path).content.decode()
    assert 'name="next" value=""' in page and "frontconnect/language.js" in page
    assert secret not in page
    # The browser fills the address in (language.js); the server sends it back there.
    response = client.post(SWITCH, {"language": "fr", "next": path})
    assert response.url == path
    assert page_language(client.get(path)) == "fr"


def test_the_switcher_goes_nowhere_but_this_site(client, db):
    response = client.post(SWITCH, {"language": "fr", "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil" not in response.url


# The saved language


def test_the_saved_language_is_used_after_sign_in(owner):
    preferences_save(user=owner, language="fr")
    browser = Client(**ENGLISH)
    assert page_language(browser.get("/accounts/login/")) == "en"
    response = browser.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/connections/"
    assert page_language(response) == "fr"
    assert response["Content-Language"] == "fr"
    assert "Se déconnecter" in response.content.decode()


def test_without_a_saved_language_the_browser_decides(member, owner):
    preferences_save(user=owner, language="", time_zone="Europe/Paris")
    assert page_language(member.get("/connections/", **FRENCH)) == "fr"
    assert page_language(member.get("/connections/", **ENGLISH)) == "en"


# The time zone


def created_at_noon(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        created_at=datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    )


def test_the_time_zone_changes_how_a_date_shows(member, owner, token_connection):
    created_at_noon(token_connection)
    url = token_connection.get_absolute_url()
    assert "2025-01-15 12:00" in member.get(url).content.decode()

    preferences_save(user=owner, time_zone="Europe/Paris")
    page = member.get(url).content.decode()
    assert "2025-01-15 13:00" in page and "2025-01-15 12:00" not in page

    preferences_save(user=owner, time_zone="Asia/Tokyo")
    assert "2025-01-15 21:00" in member.get(url).content.decode()


def test_anonymous_pages_are_in_utc_and_no_zone_outlives_its_request(member, owner):
    preferences_save(user=owner, time_zone="Asia/Tokyo")
    page = member.get(PREFERENCES).content.decode()
    assert "Times are shown in the Asia/Tokyo time zone: it is now" in page
    assert re.search(r"it is now \d{4}-\d\d-\d\d \d\d:\d\d JST", page)
    assert timezone.get_current_timezone_name() == "UTC"
    member.logout()
    assert "Asia/Tokyo" not in member.get("/accounts/login/").content.decode()


def test_a_time_zone_this_server_no_longer_knows_falls_back_to_utc(member, owner):
    Preferences.objects.create(user=owner, time_zone="Atlantis/Capital")
    assert "Times are shown in the UTC time zone" in member.get(PREFERENCES).content.decode()


# The preferences page


def test_the_preferences_page_saves_language_and_time_zone(member, owner):
    page = member.get(PREFERENCES).content.decode()
    assert '<option value="Europe/Paris">Europe/Paris</option>' in page
    assert '<optgroup label="Europe">' in page
    assert '<label for="id_time_zone">Time zone:</label>' in page

    response = member.post(PREFERENCES, {"language": "fr", "time_zone": "Europe/Paris"})
    assert response.status_code == 302 and response.url == PREFERENCES
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    saved = Preferences.objects.get(user=owner)
    assert (saved.language, saved.time_zone) == ("fr", "Europe/Paris")
    after = member.get(PREFERENCES).content.decode()
    assert "Vos préférences sont enregistrées." in after
    assert "Europe/Paris" in after and '<html lang="fr">' in after


def test_following_the_browser_again_forgets_the_switchers_cookie(member, owner):
    member.post(SWITCH, {"language": "fr", "next": "/connections/"})
    response = member.post(PREFERENCES, {"language": "", "time_zone": "UTC"}, **ENGLISH)
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""  # deleted
    assert Preferences.objects.get(user=owner).language == ""
    after = member.get(PREFERENCES, **ENGLISH).content.decode()
    assert "Your preferences are saved." in after and '<html lang="en">' in after


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"language": "fr", "time_zone": "Mars/Olympus_Mons"},
            "“Mars/Olympus_Mons” is not a time zone name; choose one in the list, such as "
            "Europe/Paris.",
        ),
        ({"language": "fr", "time_zone": ""}, "Choose a time zone."),
        ({"language": "fr", "time_zone": "localtime"}, "“localtime” is not a time zone name"),
        (
            {"language": "de", "time_zone": "UTC"},
            "“de” is not a language FrontConnect offers; choose one in the list.",
        ),
    ],
)
def test_a_bad_value_is_refused_and_nothing_saved(member, owner, data, message):
    response = member.post(PREFERENCES, data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Please correct the following; nothing was saved." in page
    assert message in page
    assert not Preferences.objects.filter(user=owner).exists()
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_the_refusal_is_in_french_for_a_french_reader(member, owner):
    page = member.post(PREFERENCES, {"language": "", "time_zone": "Mars/Base"}, **FRENCH)
    text = html.unescape(page.content.decode())
    assert "«\u00a0Mars/Base\u00a0» n'est pas un nom de fuseau horaire\u00a0; choisissez-en" in text


def test_the_preferences_page_needs_a_sign_in(client, db):
    response = client.get(PREFERENCES)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_the_model_refuses_an_unknown_zone_and_language(owner):
    with pytest.raises(ValidationError) as refused:
        Preferences(user=owner, language="xx", time_zone="Nowhere/Land").full_clean()
    assert set(refused.value.message_dict) == {"language", "time_zone"}
    with pytest.raises(ValidationError):
        preferences_save(user=owner, time_zone="Nowhere/Land")
    assert not Preferences.objects.filter(user=owner).exists()


# The user admin


def test_the_user_admin_shows_and_saves_language_and_time_zone(operator_client, owner):
    url = f"/admin/auth/user/{owner.pk}/change/"
    page = operator_client.get(url).content.decode()
    assert "Language and time zone" in page
    assert 'name="preferences-0-time_zone"' in page and 'name="preferences-0-language"' in page

    response = operator_client.post(url, admin_user_form(page, language="fr", zone="Asia/Tokyo"))
    errors = re.findall(r'class="errorlist[^>]*>(.*?)</ul>', response.content.decode())
    assert response.status_code == 302, errors
    saved = Preferences.objects.get(user=owner)
    assert (saved.language, saved.time_zone) == ("fr", "Asia/Tokyo")


def test_the_user_admin_refuses_an_unknown_zone(operator_client, owner):
    url = f"/admin/auth/user/{owner.pk}/change/"
    page = operator_client.get(url).content.decode()
    response = operator_client.post(url, admin_user_form(page, language="fr", zone="Mars/Base"))
    assert response.status_code == 200
    assert "“Mars/Base” is not a time zone name" in response.content.decode()
    assert not Preferences.objects.filter(user=owner).exists()


def admin_user_form(page: str, *, language: str, zone: str) -> dict[str, str]:
    """The user admin's change form as the page filled it, with the given preferences."""
    data: dict[str, str] = {}
    for name, value in re.findall(r'<input type="(?:text|hidden|email|number)" name="([^"]+)"'
                                  r'(?: value="([^"]*)")?', page):  # fmt: skip
        data[name] = value
    for name in re.findall(r'<input type="checkbox" name="([^"]+)"[^>]*checked', page):
        data[name] = "on"
    data.pop("csrfmiddlewaretoken", None)
    data.update({"preferences-0-language": language, "preferences-0-time_zone": zone})
    data["date_joined_0"], data["date_joined_1"] = "2025-01-01", "00:00:00"
    return data


# reading_as


EMAIL = Template("{% load i18n %}{% translate 'Sign in' %} {{ when|date:'Y-m-d H:i T' }}")
WHEN = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def test_reading_as_renders_in_the_users_language_and_zone(owner):
    preferences_save(user=owner, language="fr", time_zone="Asia/Tokyo")
    with translation.override("en"):
        with reading_as(owner):
            assert EMAIL.render(Context({"when": WHEN})) == "Se connecter 2025-01-15 21:00 JST"
        assert translation.get_language() == "en"
        assert timezone.get_current_timezone_name() == "UTC"


def test_reading_as_someone_without_preferences_uses_the_defaults(owner, settings):
    with translation.override("fr"), reading_as(owner):
        assert EMAIL.render(Context({"when": WHEN})) == "Sign in 2025-01-15 12:00 UTC"
    settings.LANGUAGE_CODE = "fr"
    with reading_as(owner):
        assert EMAIL.render(Context({"when": WHEN})) == "Se connecter 2025-01-15 12:00 UTC"


def test_reading_as_takes_a_default_only_when_nothing_is_saved(owner, stranger):
    preferences_save(user=owner, language="en", time_zone="Europe/Paris")
    with reading_as(owner, language_default="fr"):
        assert EMAIL.render(Context({"when": WHEN})) == "Sign in 2025-01-15 13:00 CET"
    with reading_as(stranger, language_default="fr"):
        assert EMAIL.render(Context({"when": WHEN})) == "Se connecter 2025-01-15 12:00 UTC"


def test_an_alert_email_is_written_in_its_readers_language(
    owner, token_connection, mailoutbox, settings, django_capture_on_commit_callbacks
):
    from connections.models import Status
    from connections.status import connection_status_set

    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"
    preferences_save(user=owner, language="fr", time_zone="Europe/Paris")

    def change(status: Status) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            connection_status_set(
                connection=token_connection, status=status, reason="Checked.", source=Source.WORKER
            )

    change(Status.ONLINE)
    with translation.override("en"):  # whatever the language of the process that sends it
        change(Status.OFFLINE)
    (email,) = mailoutbox
    assert email.subject == "FrontConnect\u00a0: la connexion Support inbox est hors ligne"
    assert "La connexion Support inbox ne fonctionne plus" in email.body
    # "on 2026-… 13:00 CET": the moment in the reader's zone, named.
    assert re.search(r" \d{4}-\d\d-\d\d \d\d:\d\d CES?T\.", email.body), email.body
