"""Two teams and a user in both: Support (admin ann, member bob) and Sales (admin dan,
members bob and cat). Each team has one connection; bob has one of his own."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from connections.models import AuthType, Connection
from teams.models import Membership, Role, Team
from tests.conftest import API_TOKEN, PASSWORD


def person(username: str):
    return get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)


@pytest.fixture
def ann(db):
    return person("ann")


@pytest.fixture
def bob(db):
    return person("bob")


@pytest.fixture
def cat(db):
    return person("cat")


@pytest.fixture
def dan(db):
    return person("dan")


@pytest.fixture
def support(ann, bob):
    team = Team.objects.create(name="Support")
    Membership.objects.create(team=team, user=ann, role=Role.ADMIN)
    Membership.objects.create(team=team, user=bob, role=Role.MEMBER)
    return team


@pytest.fixture
def sales(dan, bob, cat):
    team = Team.objects.create(name="Sales")
    Membership.objects.create(team=team, user=dan, role=Role.ADMIN)
    Membership.objects.create(team=team, user=bob, role=Role.MEMBER)
    Membership.objects.create(team=team, user=cat, role=Role.MEMBER)
    return team


def token_connection_for(name: str, owner, team=None) -> Connection:
    connection = Connection(
        name=name, company_name="Acme", auth_type=AuthType.TOKEN, owner=owner, team=team
    )
    connection.api_token = API_TOKEN
    connection.save()
    return connection


@pytest.fixture
def support_inbox(support, ann):
    return token_connection_for("Support inbox", ann, support)


@pytest.fixture
def sales_inbox(sales, dan):
    return token_connection_for("Sales inbox", dan, sales)


@pytest.fixture
def bobs_own(bob):
    return token_connection_for("Bob's inbox", bob)


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in
