"""connections.rules: one place for what a valid connection is and what a change does."""

from __future__ import annotations

import threading
from dataclasses import replace
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db
from django.db import connections
from django.urls import reverse

from connections import rules
from connections.forms import ConnectionForm
from connections.models import Action, AuthType, Connection, Event, Source, Status, Transition
from connections.rules import (
    ConnectionInput,
    TokenPolicy,
    connection_apply,
    name_keys_refill,
    token_policy_for,
)
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db

KEEP, REQUIRE = TokenPolicy.KEEP_IF_BLANK, TokenPolicy.REQUIRE_ON_EDIT


def token_input(user, **overrides) -> ConnectionInput:
    values = {
        "name": "Support inbox",
        "company_name": "Acme",
        "auth_type": AuthType.TOKEN,
        "owner": user,
        "api_token": API_TOKEN,
    }
    values.update(overrides)
    return ConnectionInput(**values)


def oauth_input(owner, client, scopes, **overrides) -> ConnectionInput:
    values = {
        "name": "Support inbox",
        "company_name": "Acme",
        "auth_type": AuthType.OAUTH2,
        "owner": owner,
        "oauth_client": client,
        "scopes": frozenset(scopes),
    }
    values.update(overrides)
    return ConnectionInput(**values)


def codes(excinfo) -> dict[str, list[str]]:
    return {f: [e.code for e in errors] for f, errors in excinfo.value.error_dict.items()}


# The blank-token policy


def test_the_policy_requires_the_token_only_from_members_editing_their_own(
    owner, operator, token_connection
):
    own = token_connection.owner_id
    assert token_policy_for(actor=owner, source=Source.SELF_SERVICE, owner_id=own) is REQUIRE
    assert token_policy_for(actor=operator, source=Source.ADMIN, owner_id=own) is KEEP
    assert token_policy_for(actor=operator, source=Source.ADMIN, owner_id=operator.pk) is REQUIRE
    assert token_policy_for(actor=None, source=Source.COMMAND, owner_id=own) is KEEP
    assert token_policy_for(actor=owner, source=Source.API, owner_id=own) is KEEP


@pytest.mark.parametrize("policy", [KEEP, REQUIRE])
def test_a_new_token_connection_always_needs_a_token(owner, policy):
    with pytest.raises(ValidationError) as excinfo:
        connection_apply(
            connection=None,
            data=token_input(owner, api_token=None),
            token_policy=policy,
            actor=owner,
            source=Source.API,
        )
    assert codes(excinfo) == {"api_token": ["api_token_required"]}


def test_a_blank_token_keeps_the_stored_one_for_operators(owner, operator, token_connection):
    result = connection_apply(
        connection=token_connection,
        data=token_input(owner, name="Renamed", api_token=None),
        token_policy=KEEP,
        actor=operator,
        source=Source.API,
    )
    assert result.changed == ("name",) and not result.created
    stored = Connection.objects.get(pk=token_connection.pk)
    assert stored.api_token == API_TOKEN and stored.name == "Renamed"


def test_a_blank_token_is_refused_for_a_member_editing_their_own(owner, token_connection):
    with pytest.raises(ValidationError) as excinfo:
        connection_apply(
            connection=token_connection,
            data=token_input(owner, name="Renamed", api_token=None),
            token_policy=REQUIRE,
            actor=owner,
            source=Source.SELF_SERVICE,
        )
    assert codes(excinfo) == {"api_token": ["api_token_required_on_edit"]}
    assert Connection.objects.get(pk=token_connection.pk).name == "Support inbox"


def test_switching_to_token_needs_a_token_even_for_operators(owner, operator, oauth_connection):
    with pytest.raises(ValidationError) as excinfo:
        connection_apply(
            connection=oauth_connection,
            data=token_input(owner, name="Sales inbox", api_token=None),
            token_policy=KEEP,
            actor=operator,
            source=Source.ADMIN,
        )
    assert codes(excinfo) == {"api_token": ["api_token_required"]}


# Validation


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"name": ""}, "name", "name_required"),
        ({"name": "n" * 101}, "name", "max_length"),
        ({"name": "Inbox\x1b[2J"}, "name", "control_characters"),
        ({"name": "Inbox\u202e"}, "name", "control_characters"),
        ({"company_name": "Acme\x00"}, "company_name", "control_characters"),
        ({"auth_type": "basic"}, "auth_type", "auth_type_invalid"),
        ({"api_token": "tok\u20acuro"}, "api_token", "secret_text"),
        ({"api_token": "two words"}, "api_token", "secret_text"),
        ({"api_token": "x" * 4097}, "api_token", "max_length"),
        ({"owner": None}, "owner", "owner_required"),
    ],
)
def test_each_rule_is_a_field_error_with_a_code(owner, overrides, field, code):
    with pytest.raises(ValidationError) as excinfo:
        connection_apply(
            connection=None,
            data=token_input(owner, **overrides),
            token_policy=KEEP,
            actor=None,
            source=Source.API,
        )
    assert code in codes(excinfo)[field]
    assert not Connection.objects.exists()


def test_oauth_needs_a_client_and_scopes(owner):
    with pytest.raises(ValidationError) as excinfo:
        connection_apply(
            connection=None,
            data=oauth_input(owner, None, []),
            token_policy=KEEP,
            actor=None,
            source=Source.API,
        )
    assert codes(excinfo) == {
        "oauth_client": ["oauth_client_required"],
        "scopes": ["scopes_required"],
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("\u00c4rzte GmbH", "\u00e4rzte gmbh"),
        ("Acme", "\uff21\uff23\uff2d\uff25"),  # fullwidth ＡＣＭＥ
        ("Acme", "Acme\u200b"),  # zero-width space
        ("Stra\u00dfe", "STRASSE"),
        ("Cafe\u0301", "Caf\u00e9"),  # combining accent vs precomposed
        ("Acme", "\u0410cme"),  # Cyrillic А
        ("Acme", "\u0391cme"),  # Greek Α
        ("Support", "\u0405upp\u043ert"),  # Cyrillic Ѕ and о
    ],
)
def test_look_alike_names_are_one_name(owner, stranger, first, second):
    connection_apply(
        connection=None,
        data=token_input(owner, name=first),
        token_policy=KEEP,
        actor=owner,
        source=Source.API,
    )
    with pytest.raises(ValidationError) as excinfo:
        connection_apply(
            connection=None,
            data=token_input(owner, name=second),
            token_policy=KEEP,
            actor=owner,
            source=Source.API,
        )
    assert codes(excinfo) == {"name": ["name_taken"]}
    # Another owner may use it.
    connection_apply(
        connection=None,
        data=token_input(stranger, name=second),
        token_policy=KEEP,
        actor=stranger,
        source=Source.API,
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Acme1", "Acmel"),
        ("Z\u00fcrich", "Zurich"),
        ("\u041c\u043e\u0441\u043a\u0432\u0430", "Moskva"),
    ],
)
def test_names_that_only_look_different_stay_different(owner, first, second):
    for name in (first, second):
        connection_apply(
            connection=None,
            data=token_input(owner, name=name),
            token_policy=KEEP,
            actor=owner,
            source=Source.API,
        )
    assert Connection.objects.count() == 2


def test_stored_keys_are_refilled_and_new_collisions_renamed(owner, stranger):
    for user, name in [(owner, "Acme"), (owner, "\u0410cme"), (stranger, "\u0410cme"),
                       (owner, "Beta")]:  # fmt: skip
        connection = Connection.objects.create(name=f"{name} {user}", company_name="x", owner=user)
        # As written before look-alikes were compared: the Cyrillic letter kept in the key.
        Connection.objects.filter(pk=connection.pk).update(name=name, name_key=name.casefold())

    assert name_keys_refill(Connection) == 2

    rows = Connection.objects.order_by("pk").values_list("owner__username", "name", "name_key")
    assert list(rows) == [
        ("alice", "Acme", "acme"),
        ("alice", "\u0410cme (2)", "acme (2)"),
        ("mallory", "\u0410cme", "acme"),
        ("alice", "Beta", "beta"),
    ]
    assert name_keys_refill(Connection) == 0


def test_the_database_refuses_look_alike_names_too(owner, token_connection):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Connection.objects.create(name="SUPPORT\u200b INBOX", company_name="x", owner=owner)


# Applying


def test_creating_records_an_event_and_scopes(owner, oauth_client, scopes):
    result = connection_apply(
        connection=None,
        data=oauth_input(owner, oauth_client, scopes),
        token_policy=KEEP,
        actor=owner,
        source=Source.API,
    )
    assert result.created
    connection = Connection.objects.get()
    assert connection == result.connection and connection.status == Status.NOT_AUTHORIZED
    assert set(connection.scopes.all()) == set(scopes)
    event = Event.objects.get()
    assert (event.action, event.source, event.actor) == (Action.CREATED, Source.API, owner)


def test_token_connections_drop_a_client_and_scopes(owner, oauth_client, scopes):
    data = token_input(owner, oauth_client=oauth_client, scopes=frozenset(scopes))
    result = connection_apply(
        connection=None, data=data, token_policy=KEEP, actor=owner, source=Source.API
    )
    assert result.connection.oauth_client is None
    assert not result.connection.scopes.exists()


def test_an_edit_writes_only_what_changed_so_a_refresh_meanwhile_survives(
    owner, oauth_connection, scopes
):
    Connection.objects.filter(pk=oauth_connection.pk).update(status=Status.ONLINE)
    stale = Connection.objects.get(pk=oauth_connection.pk)
    # A refresh lands after the form loaded the row.
    fresh = Connection.objects.get(pk=oauth_connection.pk)
    fresh.access_token, fresh.refresh_token = "access-NEW", "refresh-NEW"
    fresh.save()
    result = connection_apply(
        connection=stale,
        data=oauth_input(
            owner, oauth_connection.oauth_client, scopes, name="Sales inbox", company_name="Globex"
        ),
        token_policy=KEEP,
        actor=owner,
        source=Source.SELF_SERVICE,
    )
    assert result.changed == ("company_name",)
    stored = Connection.objects.get(pk=oauth_connection.pk)
    assert (stored.access_token, stored.refresh_token) == ("access-NEW", "refresh-NEW")
    assert stored.status == Status.ONLINE


def test_a_new_client_voids_the_sign_in_through_the_status_door(
    owner, operator, oauth_connection, scopes
):
    from oauthclients.models import OAuthClient

    other = OAuthClient(name="Other app", client_id="other")
    other.client_secret = "other-SECRET"
    other.save()
    Connection.objects.filter(pk=oauth_connection.pk).update(
        status=Status.ONLINE, front_company_id="cmp_1", front_company_name="Acme Front"
    )
    connection = Connection.objects.get(pk=oauth_connection.pk)
    connection.access_token, connection.refresh_token = "access-OLD", "refresh-OLD"
    connection.save()
    result = connection_apply(
        connection=connection,
        data=oauth_input(owner, other, scopes, name="Sales inbox"),
        token_policy=KEEP,
        actor=operator,
        source=Source.ADMIN,
    )
    assert result.changed == ("oauth_client",)
    stored = Connection.objects.get(pk=oauth_connection.pk)
    assert stored.status == Status.NOT_AUTHORIZED
    assert (stored.access_token, stored.refresh_token, stored.front_company_id) == ("", "", "")
    transition = Transition.objects.get()
    assert (transition.old_status, transition.new_status) == (Status.ONLINE, Status.NOT_AUTHORIZED)
    assert (transition.source, transition.actor) == (Source.ADMIN, operator)


def test_tokens_clear_only_sets_fields(oauth_connection):
    oauth_connection.access_token, oauth_connection.refresh_token = "a", "r"
    oauth_connection.refresh_token_digest, oauth_connection.refresh_lease_id = "d", "lease"
    oauth_connection.save()
    assert oauth_connection.tokens_clear() == [
        "access_token",
        "refresh_token",
        "access_token_expires_at",
        "refresh_token_digest",
        "refresh_lease_id",
        "refresh_lease_until",
        "refresh_interrupted_at",
        "unreachable_since",
    ]
    assert oauth_connection.access_token == "" and oauth_connection.refresh_token == ""
    # A refresh in flight compares the digest and lease: forgetting them stops it writing back.
    assert oauth_connection.refresh_token_digest == oauth_connection.refresh_lease_id == ""
    assert Connection.objects.get(pk=oauth_connection.pk).access_token == "a"


# Two submissions of one new name


def test_the_loser_of_a_name_race_gets_the_name_taken_error(owner):
    connection_apply(
        connection=None, data=token_input(owner), token_policy=KEEP, actor=owner, source="api"
    )
    # Both submissions passed the check before either saved: force that interleaving.
    with mock.patch.object(rules, "_name_taken", side_effect=[False, True]):
        with pytest.raises(ValidationError) as excinfo:
            connection_apply(
                connection=None,
                data=token_input(owner, name="SUPPORT INBOX"),
                token_policy=KEEP,
                actor=owner,
                source=Source.API,
            )
    assert codes(excinfo) == {"name": ["name_taken"]}
    assert Connection.objects.count() == 1


def test_the_self_service_form_shows_a_name_taken_meanwhile(client, owner):
    client.force_login(owner)
    Connection.objects.create(
        name="Support inbox", company_name="Acme", owner=owner, api_token=API_TOKEN
    )
    with mock.patch.object(rules, "_name_taken", side_effect=[False, False, True]):
        response = client.post(
            reverse("connections:new"),
            {
                "name": "support inbox",
                "company_name": "Acme",
                "auth_type": "token",
                "api_token": API_TOKEN,
            },
        )
    assert response.status_code == 200
    assert b"already exists for this owner" in response.content
    assert API_TOKEN.encode() not in response.content
    assert Connection.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_submissions_of_one_name_on_postgresql(owner, checks_not_queued):
    if db.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every write, so there is no race")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(name: str) -> None:
        try:
            barrier.wait()
            connection_apply(
                connection=None,
                data=token_input(owner, name=name),
                token_policy=KEEP,
                actor=owner,
                source=Source.API,
            )
            outcomes.append("saved")
        except ValidationError as exc:
            outcomes.append(exc.error_dict["name"][0].code)
        except Exception as exc:  # an IntegrityError here is the bug this test guards
            outcomes.append(type(exc).__name__)
        finally:
            connections.close_all()

    for _ in range(5):
        Connection.objects.all().delete()
        outcomes.clear()
        threads = [threading.Thread(target=submit, args=(name,)) for name in ("Race", "RACE\u200b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["name_taken", "saved"]
        assert Connection.objects.count() == 1


def test_the_form_only_translates_into_the_rules_input(owner, oauth_client, scopes):
    form = ConnectionForm(
        data={
            "name": " Sales ",
            "company_name": "Acme",
            "auth_type": "oauth2",
            "oauth_client": oauth_client.pk,
            "scopes": [s.pk for s in scopes],
            "api_token": "",
        },
        owner=owner,
    )
    assert form.is_valid(), form.errors
    # A new connection's form says where it belongs: "Just me" (team None) when none is chosen.
    expected = oauth_input(owner, oauth_client, scopes, name="Sales")
    assert form.connection_input == replace(expected, team=None)
    assert form.save(commit=False).pk is None and not Connection.objects.exists()
    connection = form.save(actor=owner, source=Source.SELF_SERVICE)
    assert Connection.objects.get() == connection


@pytest.mark.parametrize(
    ("stored", "posted"),
    [
        ("\u00c4rzte GmbH", "\u00e4rzte gmbh"),
        ("Acme", "\uff21\uff23\uff2d\uff25"),
        ("Acme", "Acme\u200b"),
    ],
)
def test_the_form_refuses_a_look_alike_of_a_stored_name(client, owner, stored, posted):
    Connection.objects.create(name=stored, company_name="Acme", owner=owner, api_token=API_TOKEN)
    client.force_login(owner)
    data = {"name": posted, "company_name": "Acme", "auth_type": "token", "api_token": API_TOKEN}
    response = client.post(reverse("connections:new"), data)
    assert response.status_code == 200
    assert b"already exists for this owner" in response.content
    assert Connection.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_submissions_validated_inside_a_transaction_are_serialised_per_owner(
    owner, checks_not_queued
):
    """The admin validates and saves in one transaction: the second sees the first's name."""
    import time

    from django.db import transaction

    if db.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every write transaction already")
    validated = threading.Event()
    second: list[bool] = []

    def first() -> None:
        try:
            with transaction.atomic():
                errors = rules.connection_validate(
                    connection=None, data=token_input(owner, name="Race"), token_policy=KEEP
                )
                assert errors == {}
                validated.set()
                time.sleep(0.3)  # the second submission now waits for this transaction
                connection_apply(
                    connection=None,
                    data=token_input(owner, name="Race"),
                    token_policy=KEEP,
                    actor=owner,
                    source=Source.ADMIN,
                )
        finally:
            connections.close_all()

    def other() -> None:
        try:
            validated.wait()
            with transaction.atomic():
                errors = rules.connection_validate(
                    connection=None, data=token_input(owner, name="RACE"), token_policy=KEEP
                )
                second.append("name" in errors)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert second == [True]
