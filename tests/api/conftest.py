"""API test setup: keys with chosen permissions and a client that sends them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from api.keys import NewKey, apikey_create
from api.models import KeyScope, Permission

ALL_PERMISSIONS = list(Permission.values)


@pytest.fixture
def make_key(owner) -> Callable[..., NewKey]:
    def make(
        permissions: list[str] | None = None,
        *,
        scope: str = KeyScope.USERS,
        key_owner: Any = None,
        **kwargs: Any,
    ) -> NewKey:
        return apikey_create(
            name="Integration",
            owner=key_owner or owner,
            permissions=ALL_PERMISSIONS if permissions is None else permissions,
            scope=scope,
            **kwargs,
        )

    return make


@pytest.fixture
def api() -> Callable[[str | None], APIClient]:
    """A client sending ``Authorization: Bearer <key>`` (or nothing)."""

    def client(key: str | None) -> APIClient:
        made = APIClient()
        if key is not None:
            made.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return made

    return client


@pytest.fixture
def full_key(make_key) -> NewKey:
    return make_key()


@pytest.fixture
def full_api(api, full_key) -> APIClient:
    return api(full_key.plaintext)
