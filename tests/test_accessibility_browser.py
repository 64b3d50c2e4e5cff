"""Issue 19 item 6: axe-core finds no serious or critical violation on any page type.

Every page a person can reach is opened in Chromium and checked with ``tests.a11y``
(axe-core from the installed package, nothing fetched). A new page type adds one line:
``axe(page)`` (the conftest fixture) or ``assert_accessible(page)``.
"""

from __future__ import annotations

import re

import pytest

from connections.models import AuthType, Connection, Source, Status
from connections.status import connection_status_set
from tests.a11y import assert_accessible, axe_violations
from tests.conftest import API_TOKEN, PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user, *, admin: bool = False) -> None:
    page.goto(f"{live_server.url}{'/admin/login/' if admin else '/accounts/login/'}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in" if admin else "Sign in").click()
    page.wait_for_url(re.compile(r"/admin/$" if admin else r"/connections/$"))


def visit(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status < 400, f"{url} answered {response}"
    page.wait_for_load_state("load")
    assert_accessible(page)


def with_status(owner, name: str, status: Status) -> Connection:
    connection = Connection(name=name, company_name="Acme", owner=owner)
    connection.api_token = API_TOKEN
    connection.save()
    connection_status_set(
        connection=connection, status=status, reason="Checked.", source=Source.COMMAND
    )
    return connection


def test_the_check_fails_on_a_page_with_an_unlabelled_field(page):
    page.set_content(
        '<!doctype html><html lang="en"><head><title>Bad</title></head><body><main>'
        '<h1>Bad</h1><input type="text" name="nameless"></main></body></html>'
    )
    violations = axe_violations(page)
    assert [v["id"] for v in violations] == ["label"]
    with pytest.raises(AssertionError, match=r"label \(critical\)"):
        assert_accessible(page)


def test_sign_in_and_lockout_pages(page, live_server, owner, settings):
    visit(page, f"{live_server.url}/accounts/login/")
    visit(page, f"{live_server.url}/admin/login/")
    settings.AXES_FAILURE_LIMIT = 1
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Too many failed sign-ins").wait_for()
    assert_accessible(page)


def test_member_pages_list_detail_forms_and_authorize(
    page, live_server, owner, oauth_connection, front_settings, settings, checks_not_queued
):
    settings.FRONTCONNECT_BASE_URL = live_server.url
    sign_in(page, live_server, owner)
    assert_accessible(page)  # the empty list
    token = with_status(owner, "Support inbox", Status.ONLINE)
    offline = with_status(owner, "Billing inbox", Status.OFFLINE)
    base = f"{live_server.url}/connections"
    for path in (
        "/",
        "/new/",
        f"/{token.pk}/",
        f"/{offline.pk}/",
        f"/{oauth_connection.pk}/",
        f"/{token.pk}/edit/",
        f"/{oauth_connection.pk}/edit/",
        f"/{token.pk}/delete/",
    ):
        visit(page, base + path)
    # The form with the OAuth 2.0 fields shown (the two-list scope selector).
    page.goto(f"{base}/new/")
    page.get_by_label("Auth type").select_option(AuthType.OAUTH2)
    assert_accessible(page)
    # A form sent back with errors.
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator(".has-error").first.wait_for()
    assert_accessible(page)
    # Authorize: Front's consent page (the stand-in's), then a refused callback.
    page.goto(f"{base}/{oauth_connection.pk}/")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    assert_accessible(page)
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(re.compile(rf"/connections/{oauth_connection.pk}/$"))
    assert_accessible(page)
    visit_refused = page.goto(f"{live_server.url}/oauth/callback/?state=unknown&code=x")
    assert visit_refused is not None and visit_refused.status in (400, 403)
    assert_accessible(page)


def test_operator_pages_dashboard_admin_lists_forms_and_api_keys(
    page, live_server, operator, owner, oauth_connection, checks_not_queued
):
    with_status(owner, "Support inbox", Status.ONLINE)
    with_status(owner, "Billing inbox", Status.OFFLINE)
    sign_in(page, live_server, operator, admin=True)
    assert_accessible(page)  # the dashboard, with counts, attention list and chart
    admin = f"{live_server.url}/admin"
    for path in (
        "/connections/connection/",
        "/connections/connection/?status__exact=offline",
        "/connections/connection/add/",
        f"/connections/connection/{oauth_connection.pk}/change/",
        f"/connections/connection/{oauth_connection.pk}/history/",
        "/connections/event/",
        "/oauthclients/oauthclient/",
        f"/oauthclients/oauthclient/{oauth_connection.oauth_client_id}/change/",
        "/oauthclients/oauthclient/add/",
        "/api/apikey/",
        "/api/apikey/add/",
        "/alerts/",
        "/auth/user/",
        "/auth/user/add/",
        "/teams/team/",
        "/teams/team/add/",
        "/alerts/webhook/",
    ):
        visit(page, admin + path)
    # The page that shows a new API key once.
    page.goto(f"{admin}/api/apikey/add/")
    page.get_by_label("Name").fill("CRM sync")
    page.get_by_label("Read connection details").check()
    page.locator("#id_scope").select_option("all")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/api/apikey/\d+/created/$"))
    assert_accessible(page)


def test_demo_pages_with_the_banner(page, live_server, operator, settings):
    settings.FRONTCONNECT_DEMO = True
    visit(page, f"{live_server.url}/accounts/login/")
    assert page.locator(".demo-banner").is_visible()
    visit(page, f"{live_server.url}/demo/")
    sign_in(page, live_server, operator, admin=True)
    assert page.locator(".demo-banner").is_visible()
    assert_accessible(page)


def test_member_pages_on_a_phone_sized_screen(page, live_server, owner, checks_not_queued):
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, live_server, owner)
    token = with_status(owner, "Support inbox", Status.ONLINE)
    for path in ("/connections/", f"/connections/{token.pk}/", "/connections/new/"):
        visit(page, live_server.url + path)


def test_team_and_authorization_link_pages(
    page, live_server, owner, stranger, oauth_connection, settings
):
    """The pages issues 17 and 18 added: teams (member pages and admin) and authorization links
    (the maker's page and the recipient's, who has no account)."""
    from connections.links import authorization_link_create
    from teams.services import team_create

    team = team_create(name="Support team", admins=[owner], members=[stranger])
    made = authorization_link_create(
        connection=oauth_connection,
        created_by=owner,
        source=Source.SELF_SERVICE,
        note="Please accept.",
    )
    # The recipient needs no account: the link's page, then a result page.
    visit(page, made.url.replace(settings.FRONTCONNECT_BASE_URL, live_server.url))
    sign_in(page, live_server, owner)
    visit(page, f"{live_server.url}/teams/")
    visit(page, f"{live_server.url}/teams/{team.pk}/")
    visit(page, f"{live_server.url}/connections/{oauth_connection.pk}/")  # with its open link
    visit(page, f"{live_server.url}/connections/{oauth_connection.pk}/move/")
