"""A CompiledQuery finds what its queryset finds, with the ORM's instances, built only once."""

from __future__ import annotations

import pytest
from django.db.models import BooleanField, Case, Value, When

from api.keys import apikey_create
from api.models import ApiKey
from common.statements import CompiledQuery, Mark

pytestmark = pytest.mark.django_db


def by_public_id(marks):
    return (
        ApiKey.objects.filter(owner__is_active=True)
        .select_related("owner")
        .annotate(
            named=Case(
                When(name="first", then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )  # fmt: skip
        .filter(public_id=marks["public_id"])
    )


@pytest.fixture
def two_keys(owner, stranger):
    return (
        apikey_create(name="first", owner=owner, permissions=["read"]).key,
        apikey_create(name="second", owner=stranger, permissions=["read"]).key,
    )


def test_it_finds_what_the_queryset_finds_with_related_rows_and_annotations(
    two_keys, django_assert_num_queries
):
    query = CompiledQuery(by_public_id, Mark("public_id", "\x00public id\x00"))
    first, second = two_keys
    with django_assert_num_queries(1):
        found = query.first(public_id=first.public_id)
        assert found is not None
        assert (found.pk, found.owner.username, found.named) == (first.pk, "alice", True)
    found = query.first(public_id=second.public_id)
    assert found is not None
    assert (found.pk, found.owner.username, found.named) == (second.pk, "mallory", False)
    assert query.first(public_id="0" * 12) is None
    # The same rows as the queryset itself.
    orm = by_public_id({"public_id": second.public_id}).get()
    assert (orm.pk, orm.owner_id, orm.named, orm.created_at) == (
        found.pk, found.owner_id, found.named, found.created_at,
    )  # fmt: skip


def test_it_is_built_once_per_database(two_keys, monkeypatch):
    built = []

    def counted(marks):
        built.append(marks)
        return by_public_id(marks)

    query = CompiledQuery(counted, Mark("public_id", "\x00public id\x00"))
    for key in two_keys:
        assert query.first(public_id=key.public_id) is not None
    assert len(built) == 1


def test_a_mark_the_query_never_uses_is_refused(two_keys):
    query = CompiledQuery(by_public_id, Mark("public_id", "\x00public id\x00"), Mark("pk", -71))
    with pytest.raises(RuntimeError, match="never uses \\['pk'\\]"):
        query.first(public_id=two_keys[0].public_id, pk=1)


def test_an_optional_mark_may_go_unused(two_keys):
    query = CompiledQuery(
        by_public_id, Mark("public_id", "\x00public id\x00"), Mark("pk", -71, optional=True)
    )
    found = query.first(public_id=two_keys[0].public_id, pk=1)
    assert found is not None and found.pk == two_keys[0].pk
