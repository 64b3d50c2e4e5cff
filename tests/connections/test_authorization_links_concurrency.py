"""Races on PostgreSQL: a link pressed in many tabs at once starts one flow; a burst of link
requests by one person stays within the hourly limit."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection as db_connection
from django.db import connections

from connections import links
from connections.models import AuthorizationLink, PendingAuthorization, Source

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises every write, so there is no race",
    ),
]

THREADS = 12


def race(work: Callable[[], object]) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(THREADS)
    results: list[object] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(work())
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, failures


def test_a_link_pressed_in_many_tabs_at_once_starts_one_flow(front_settings, oauth_connection):
    made = links.authorization_link_create(
        connection=oauth_connection, created_by=oauth_connection.owner, source=Source.ADMIN
    )
    secret = made.url.rstrip("/").rsplit("/", 1)[-1]

    started, refused = race(
        lambda: links.link_authorize_start(secret=secret, session=SessionStore())
    )

    assert len(started) == 1 and len(refused) == THREADS - 1
    assert all(isinstance(exc, links.AuthorizationError) for exc in refused)
    assert PendingAuthorization.objects.filter(link=made.link).count() == 1


def test_a_burst_of_link_requests_stays_within_the_hourly_limit(settings, oauth_connection):
    settings.FRONTCONNECT_AUTHORIZATION_LINKS_PER_HOUR = 3

    made, refused = race(
        lambda: links.authorization_link_create(
            connection=oauth_connection, created_by=oauth_connection.owner, source=Source.ADMIN
        )
    )

    assert len(made) == 3
    assert all(isinstance(exc, links.LinkRateLimited) for exc in refused)
    assert AuthorizationLink.objects.count() == 3
