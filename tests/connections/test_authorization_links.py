"""Authorization links: made on the pages, used without an account, bound and single use."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core import mail
from django.test import Client
from django.utils import timezone

from connections import links
from connections.models import (
    Action,
    AuthorizationLink,
    Connection,
    Event,
    LinkResult,
    Source,
    Status,
)
from tests.conftest import CLIENT_SECRET

TOKEN_URL = "https://app.frontapp.com/oauth/token"
ME_URL = "https://api2.frontapp.com/me"
CODE = "auth-code-SECRET-6666"
ACCESS = "access-SECRET-7777"
REFRESH = "refresh-SECRET-8888"
BASE = "https://fc.example.com"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_OAUTH_AUTHORIZE_URL = "https://app.frontapp.com/oauth/authorize"
    settings.FRONT_OAUTH_TOKEN_URL = TOKEN_URL
    settings.FRONT_API_URL = "https://api2.frontapp.com"
    settings.FRONTCONNECT_BASE_URL = BASE


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def make(connection: Connection, **options) -> links.NewLink:
    return links.authorization_link_create(
        connection=connection,
        created_by=options.pop("created_by", connection.owner),
        source=options.pop("source", Source.SELF_SERVICE),
        **options,
    )


def path_of(made: links.NewLink) -> str:
    return made.url.removeprefix(BASE)


def press(recipient: Client, path: str):
    """Open the link's page and press its button, as a browser does."""
    token = recipient.get(path).context["start_token"]
    return recipient.post(path, {"start": token})


def start(recipient: Client, made: links.NewLink) -> str:
    """Press "Authorize with Front" on the link's page; return the state Front would echo."""
    response = press(recipient, path_of(made))
    assert response.status_code == 302, response.content.decode()
    assert response["Location"].startswith("https://app.frontapp.com/oauth/authorize?")
    assert response["Referrer-Policy"] == "no-referrer"
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    return query["state"][0]


def front_accepts(company_id: str = "cmp_1", name: str = "Dunder Mifflin") -> None:
    responses.post(
        TOKEN_URL,
        json={
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "token_type": "Bearer",
            "expires_at": int(timezone.now().timestamp()) + 3600,
        },
    )
    responses.get(ME_URL, json={"_links": {"self": ME_URL}, "id": company_id, "name": name})


def secret_of(made: links.NewLink) -> str:
    return made.url.rstrip("/").rsplit("/", 1)[-1]


def assert_no_secret_anywhere(made: links.NewLink, *texts: str) -> None:
    secret = secret_of(made)
    stored = " ".join(
        f"{event.message} {event.fields}" for event in Event.objects.all()
    ) + " ".join(str(row) for row in AuthorizationLink.objects.values())
    for text in (stored, *texts):
        for value in (secret, CODE, ACCESS, REFRESH, CLIENT_SECRET):
            assert value not in text


def test_a_link_made_on_the_page_is_shown_once_and_stored_only_as_a_hash(
    owner_client, oauth_connection
):
    page = owner_client.get(oauth_connection.get_absolute_url()).content.decode()
    assert "Ask a Front admin to authorize" in page and "No open links." in page

    response = owner_client.post(
        f"/connections/{oauth_connection.pk}/links/", {"hours": "24", "note": "Thanks!"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/connections/{oauth_connection.pk}/links/created/"
    shown = owner_client.get(response["Location"])
    url = shown.context["url"]
    assert url.startswith(f"{BASE}/authorization-links/") and url in shown.content.decode()
    assert shown["Referrer-Policy"] == "no-referrer"
    again = owner_client.get(response["Location"]).content.decode()
    assert url not in again and "shown once" in again

    link = AuthorizationLink.objects.get()
    secret = url.rstrip("/").rsplit("/", 1)[-1]
    assert link.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (
        timedelta(hours=23, minutes=59) < link.expires_at - link.created_at <= timedelta(hours=24)
    )
    assert (link.requester_name, link.note, link.source) == ("alice", "Thanks!", "self_service")
    event = Event.objects.get(action=Action.LINK)
    assert event.actor_id == oauth_connection.owner_id and secret not in event.message
    listed = owner_client.get(oauth_connection.get_absolute_url()).content.decode()
    assert "Open links" in listed and "Revoke" in listed and secret not in listed


def test_the_recipient_page_needs_no_account_and_says_who_asks_for_what(oauth_connection):
    Connection.objects.filter(pk=oauth_connection.pk).update(
        front_company_id="cmp_1", front_company_name="Dunder Mifflin"
    )
    oauth_connection.refresh_from_db()
    made = make(oauth_connection, note="Please accept before Friday")

    response = Client().get(path_of(made))

    assert response.status_code == 200
    page = response.content.decode()
    assert "alice" in page and "Sales inbox" in page and "Dunder Mifflin" in page
    assert "Please accept before Friday" in page
    for scope in oauth_connection.scopes.all():
        assert scope.description and scope.description in page
    assert "Authorize with Front" in page
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "no-store" in response["Cache-Control"]
    assert_no_secret_anywhere(made, page)


@responses.activate
def test_a_link_authorizes_the_connection_once_and_is_then_spent(oauth_connection):
    made = make(oauth_connection)
    recipient = Client()
    state = start(recipient, made)
    front_accepts()

    response = recipient.get("/oauth/callback/", {"code": CODE, "state": state})

    assert response.status_code == 303 and response["Location"] == "/authorization-links/result/"
    assert response["Referrer-Policy"] == "no-referrer"
    done = recipient.get(response["Location"])
    text = done.content.decode()
    assert "Done: FrontConnect can now use “Sales inbox” for Dunder Mifflin." in text
    assert done["X-Robots-Tag"] == "noindex, nofollow"
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.ONLINE and oauth_connection.access_token == ACCESS
    link = AuthorizationLink.objects.get()
    assert link.used_at is not None and link.result == LinkResult.AUTHORIZED
    authorized = Event.objects.get(action=Action.AUTHORIZED)
    assert authorized.source == Source.LINK and authorized.actor is None
    assert "authorization link made by alice" in authorized.message

    second = recipient.get(path_of(made))
    assert second.status_code == 410 and "already used" in second.content.decode()
    refused = Client().post(path_of(made))
    assert refused.status_code == 410 and "already used" in refused.content.decode()
    assert len(responses.calls) == 2  # nothing more was asked of Front
    assert_no_secret_anywhere(made, text, second.content.decode())


@responses.activate
def test_a_cancel_at_front_says_so_and_spends_the_link(oauth_connection):
    made = make(oauth_connection)
    recipient = Client()
    state = start(recipient, made)

    response = recipient.get("/oauth/callback/", {"error": "access_denied", "state": state})

    page = recipient.get(response["Location"]).content.decode()
    assert "Cancelled" in page and "Front did not authorize the connection" in page
    link = AuthorizationLink.objects.get()
    assert link.result == LinkResult.CANCELLED
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.NOT_AUTHORIZED
    assert Client().get(path_of(made)).status_code == 410


def test_the_button_works_only_from_the_page_in_the_same_browser(oauth_connection):
    made = make(oauth_connection)
    token = Client().get(path_of(made)).context["start_token"]

    for forged in ({}, {"start": token}, {"start": token + "x"}):
        response = Client().post(path_of(made), forged)
        assert response.status_code == 403 and "sent from elsewhere" in response.content.decode()
    assert AuthorizationLink.objects.get().used_at is None
    assert not oauth_connection.pending_authorizations.exists()


def test_an_expired_link_says_so_and_changes_nothing(oauth_connection):
    made = make(oauth_connection, expires_in=timedelta(hours=1))
    AuthorizationLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    page = Client().get(path_of(made))
    post = Client().post(path_of(made))

    assert page.status_code == 410 and "expired" in page.content.decode()
    assert post.status_code == 410 and "Authorize with Front" not in post.content.decode()
    assert AuthorizationLink.objects.get().used_at is None
    assert not oauth_connection.pending_authorizations.exists()


def test_a_revoked_link_says_so_and_changes_nothing(owner_client, oauth_connection):
    made = make(oauth_connection)
    link = made.link

    response = owner_client.post(f"/connections/{oauth_connection.pk}/links/{link.pk}/revoke/")

    assert response.status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None and link.revoked_by == oauth_connection.owner
    page = Client().post(path_of(made))
    assert page.status_code == 410 and "revoked" in page.content.decode()
    assert not oauth_connection.pending_authorizations.exists()
    assert (
        "No open links." in owner_client.get(oauth_connection.get_absolute_url()).content.decode()
    )


def test_another_user_cannot_see_make_or_revoke_links(client, stranger, oauth_connection):
    made = make(oauth_connection)
    client.force_login(stranger)

    assert (
        client.post(f"/connections/{oauth_connection.pk}/links/", {"hours": "1"}).status_code == 404
    )
    revoke = client.post(f"/connections/{oauth_connection.pk}/links/{made.link.pk}/revoke/")
    assert revoke.status_code == 404
    assert AuthorizationLink.objects.count() == 1 and made.link.revoked_at is None
    with pytest.raises(links.AuthorizationError):
        make(oauth_connection, created_by=stranger)


def test_a_link_for_a_connection_changed_since_is_refused(oauth_connection):
    made = make(oauth_connection)
    oauth_connection.credential_change()
    oauth_connection.save()

    page = Client().post(path_of(made))

    assert page.status_code == 410 and "changed since this link was made" in page.content.decode()
    assert not oauth_connection.pending_authorizations.exists()
    assert AuthorizationLink.objects.get().used_at is None


@responses.activate
def test_a_connection_changed_during_the_flow_keeps_its_sign_in(oauth_connection):
    made = make(oauth_connection)
    recipient = Client()
    state = start(recipient, made)
    oauth_connection.credential_change()
    oauth_connection.save()
    front_accepts()

    response = recipient.get("/oauth/callback/", {"code": CODE, "state": state})

    page = recipient.get(response["Location"]).content.decode()
    assert "Not authorized" in page and "changed while you were in Front" in page
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.NOT_AUTHORIZED and not oauth_connection.access_token
    assert AuthorizationLink.objects.get().result == LinkResult.FAILED


@responses.activate
def test_a_different_front_company_is_refused_and_the_old_tokens_kept(oauth_connection):
    Connection.objects.filter(pk=oauth_connection.pk).update(
        front_company_id="cmp_1", front_company_name="Dunder Mifflin", status=Status.REAUTHORIZE
    )
    oauth_connection.refresh_from_db()
    oauth_connection.access_token, oauth_connection.refresh_token = "old-access", "old-refresh"
    oauth_connection.save()
    made = make(oauth_connection)
    assert made.link.front_company_id == "cmp_1"
    recipient = Client()
    state = start(recipient, made)
    front_accepts(company_id="cmp_2", name="Vance Refrigeration")

    response = recipient.get("/oauth/callback/", {"code": CODE, "state": state})

    page = recipient.get(response["Location"]).content.decode()
    assert "Vance Refrigeration" in page and "belongs to “Dunder Mifflin”" in page
    oauth_connection.refresh_from_db()
    assert oauth_connection.access_token == "old-access"
    assert oauth_connection.refresh_token == "old-refresh"
    assert oauth_connection.front_company_id == "cmp_1"
    assert oauth_connection.status == Status.REAUTHORIZE
    link = AuthorizationLink.objects.get()
    assert link.result == LinkResult.FAILED and "Vance Refrigeration" in link.result_reason


def test_the_callback_of_a_link_flow_is_refused_in_another_browser(oauth_connection):
    made = make(oauth_connection)
    state = start(Client(), made)

    response = Client().get("/oauth/callback/", {"code": CODE, "state": state})

    assert response.status_code == 403
    assert "another browser session" in response.content.decode()
    assert AuthorizationLink.objects.get().result == ""


def test_link_creation_is_rate_limited_per_person(
    settings, owner_client, oauth_connection, operator
):
    settings.FRONTCONNECT_AUTHORIZATION_LINKS_PER_HOUR = 2
    url = f"/connections/{oauth_connection.pk}/links/"
    for _ in range(2):
        assert owner_client.post(url, {"hours": "1"}).status_code == 302

    refused = owner_client.post(url, {"hours": "1"}, follow=True)

    assert "made 2 authorization links in the last hour" in refused.content.decode()
    assert AuthorizationLink.objects.count() == 2
    # Another person's allowance is their own.
    make(oauth_connection, created_by=operator)
    assert AuthorizationLink.objects.count() == 3
    # An hour later there is room again.
    AuthorizationLink.objects.update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    assert owner_client.post(url, {"hours": "1"}).status_code == 302


def test_a_lifetime_beyond_the_setting_is_refused(settings, oauth_connection):
    settings.FRONTCONNECT_AUTHORIZATION_LINK_HOURS = 4
    assert links.link_hours_choices() == [1, 4]
    with pytest.raises(links.ValidationError, match="at most 4 hours"):
        make(oauth_connection, expires_in=timedelta(hours=5))
    assert make(oauth_connection).link.expires_at <= timezone.now() + timedelta(hours=4)


def test_a_token_connection_offers_no_link(owner_client, token_connection):
    page = owner_client.get(token_connection.get_absolute_url()).content.decode()
    assert "authorization-links" not in page
    with pytest.raises(links.AuthorizationError):
        make(token_connection)


def test_a_connection_that_needs_reauthorization_offers_a_reauthorization_link(
    owner_client, oauth_connection
):
    Connection.objects.filter(pk=oauth_connection.pk).update(status=Status.REAUTHORIZE)
    page = owner_client.get(oauth_connection.get_absolute_url()).content.decode()
    assert "Send a reauthorization link" in page
    lapsing = timezone.now() - timedelta(days=180 - 10)
    Connection.objects.filter(pk=oauth_connection.pk).update(
        status=Status.ONLINE, refresh_token_obtained_at=lapsing, refresh_token_digest="d" * 64
    )
    oauth_connection.refresh_from_db()
    assert links.connection_needs_reauthorization(oauth_connection)
    page = owner_client.get(oauth_connection.get_absolute_url()).content.decode()
    assert "Send a reauthorization link" in page
    Connection.objects.filter(pk=oauth_connection.pk).update(
        refresh_token_obtained_at=timezone.now()
    )
    page = owner_client.get(oauth_connection.get_absolute_url()).content.decode()
    assert "Send a reauthorization link" not in page and "Ask a Front admin" in page


def test_the_link_can_be_emailed_with_the_requesters_name_and_note(owner_client, oauth_connection):
    response = owner_client.post(
        f"/connections/{oauth_connection.pk}/links/",
        {"hours": "72", "email": "admin@acme.example", "note": "Needed for the helpdesk sync"},
        follow=True,
    )

    (message,) = mail.outbox
    assert message.to == ["admin@acme.example"]
    assert "alice" in message.subject and "Sales inbox" in message.subject
    url = response.context["url"]
    assert url in message.body and "Needed for the helpdesk sync" in message.body
    assert "emailed to admin@acme.example" in response.content.decode()
    assert AuthorizationLink.objects.get().emailed_to == "admin@acme.example"


def test_an_operator_makes_and_revokes_links_in_the_admin(operator_client, oauth_connection):
    change = f"/admin/connections/connection/{oauth_connection.pk}/change/"
    assert "Ask a Front admin to authorize" in operator_client.get(change).content.decode()

    response = operator_client.post(
        f"/admin/connections/connection/{oauth_connection.pk}/links/", {"hours": "1"}
    )
    shown = operator_client.get(response["Location"])
    assert shown.context["url"].startswith(f"{BASE}/authorization-links/")
    assert shown.context["url"] not in operator_client.get(response["Location"]).content.decode()
    link = AuthorizationLink.objects.get()
    assert link.source == Source.ADMIN
    operator_client.post(
        f"/admin/connections/connection/{oauth_connection.pk}/links/{link.pk}/revoke/"
    )
    link.refresh_from_db()
    assert link.revoked_at is not None


def test_expired_links_are_announced_once(oauth_connection):
    made = make(oauth_connection, expires_in=timedelta(hours=1))
    AuthorizationLink.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    assert links.links_expired_announce() == 1
    assert links.links_expired_announce() == 0
    assert AuthorizationLink.objects.get(pk=made.link.pk).expiry_announced_at is not None
