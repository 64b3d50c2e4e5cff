"""What ``make demo`` prepares: the stand-in Front, its OAuth 2.0 client, an operator, a key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from api.keys import NewKey, apikey_create, apikey_revoke
from api.models import ApiKey, KeyScope, Permission
from demo.standin import StandinFront
from oauthclients.models import OAuthClient

# The stand-in's OAuth 2.0 app. Its secret protects nothing: the stand-in runs on 127.0.0.1 and
# holds no data; the client is stored encrypted like any other all the same.
CLIENT_NAME = "Front stand-in app (demo)"
CLIENT_ID = "frontconnect-demo"
CLIENT_SECRET = "demo-client-secret-not-for-front"  # noqa: S105  # nosec B105
OPERATOR = "demo"
KEY_NAME = "Demo key"
# API tokens the stand-in accepts, each for one Front company; any other token is refused as
# Front refuses a revoked one.
TOKENS: dict[str, tuple[str, str]] = {
    "demo-token-acme": ("cmp_acme", "Acme Corp (stand-in)"),
    "demo-token-globex": ("cmp_globex", "Globex (stand-in)"),
}
REFUSED_TOKEN = "demo-token-revoked"  # noqa: S105  # nosec B105


@dataclass(frozen=True)
class DemoReady:
    """What the newcomer needs, shown once on the terminal (password and key are not stored)."""

    operator: User
    password: str
    client: OAuthClient
    key: NewKey

    def __repr__(self) -> str:
        return f"<DemoReady {self.operator.username} {self.key.key.prefix}>"


def demo_standin() -> StandinFront:
    """The stand-in Front of the demo: it knows the demo's OAuth client and API tokens."""
    front = StandinFront(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    front.api_tokens.update(TOKENS)
    front.companies.update(TOKENS)
    return front


def demo_prepare() -> DemoReady:
    """Create or renew the demo's OAuth client, operator (new password) and API key (new key).

    Runs at every start of the demo, so the terminal can always show working credentials:
    the operator gets a fresh random password and the previous demo keys are revoked.
    """
    if not getattr(settings, "FRONTCONNECT_DEMO", False):
        raise RuntimeError("The demo is prepared only under frontconnect.demo_settings.")
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        client = OAuthClient.objects.filter(name=CLIENT_NAME).first() or OAuthClient(
            name=CLIENT_NAME
        )
        client.client_id = CLIENT_ID
        client.client_secret = CLIENT_SECRET
        client.save()
        operator = get_user_model().objects.filter(username=OPERATOR).first()
        if operator is None:
            operator = get_user_model().objects.create_superuser(
                OPERATOR, "demo@example.com", password
            )
        else:
            operator.is_active = operator.is_staff = operator.is_superuser = True
            operator.set_password(password)
            operator.save()
        for old in ApiKey.objects.filter(name=KEY_NAME, revoked_at__isnull=True):
            apikey_revoke(key=old, actor=operator)
        key = apikey_create(
            name=KEY_NAME,
            owner=operator,
            permissions=[Permission.READ, Permission.PROXY],
            scope=KeyScope.ALL,
            created_by=operator,
        )
    return DemoReady(operator=operator, password=password, client=client, key=key)
