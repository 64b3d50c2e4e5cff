"""A connection's history over time: the entry every deletion leaves, and pruning old entries.

``history_prune`` is the one way old history goes: the ``pruneevents`` command and the
worker's periodic task both call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils import timezone

from connections import lifecycle
from connections.events import event_record
from connections.models import Action, Connection, Event, Removal, Source, Transition
from connections.wording import said

# Rows deleted per transaction: short transactions keep SQLite writers and PostgreSQL vacuum
# happy when a first prune meets months of history.
PRUNE_BATCH = 2000


@dataclass(frozen=True)
class PruneReport:
    """What one prune deleted (or, in a dry run, would delete)."""

    cutoff: datetime
    events: int
    transitions: int
    dry_run: bool


# The longest retention asked for (100 years): a cutoff further back would be before year 1.
# FRONTCONNECT_HISTORY_RETENTION_DAYS has the same bound in frontconnect/settings.py.
MAX_RETENTION_DAYS = 36500


def history_prune(*, older_than: timedelta, dry_run: bool = False) -> PruneReport:
    """Delete history entries (Event) and status transitions older than ``older_than``."""
    if older_than <= timedelta(0):
        raise ValueError("older_than must be a positive duration")
    cutoff = timezone.now() - older_than
    if not dry_run:
        # A removal completes the status chart only while the transitions beside it are kept.
        Removal.objects.filter(deleted_at__lt=cutoff).delete()
    return PruneReport(
        cutoff=cutoff,
        events=_delete_before(Event, cutoff, dry_run),
        transitions=_delete_before(Transition, cutoff, dry_run),
        dry_run=dry_run,
    )


def _delete_before(model: type[models.Model], cutoff: datetime, dry_run: bool) -> int:
    old = model._default_manager.filter(created_at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(old.order_by().values_list("pk", flat=True)[:PRUNE_BATCH])
            if not batch:
                return deleted
            count, _ = model._default_manager.filter(pk__in=batch).delete()
            deleted += count


@receiver(pre_delete, sender=Connection, dispatch_uid="connections.history.deletion_recorded")
def deletion_recorded(sender: Any, instance: Connection, origin: Any = None, **kwargs: Any) -> None:
    """Every deletion of a connection leaves a "deleted" entry, a cascade from its owner too.

    ``connection_delete`` records the entry itself, with who and from where; this adds one only
    for deletions that did not go through it, such as deleting the owner's account. Every
    deletion also leaves a ``Removal`` for the status chart.
    """
    first = (
        Transition.objects.filter(connection_id=instance.pk)
        .order_by("created_at", "pk")
        .values_list("old_status", flat=True)
        .first()
    )
    last = Connection.objects.filter(pk=instance.pk).values_list("status", flat=True).first()
    Removal.objects.create(
        connection_name=instance.name,
        created_at=instance.created_at,
        first_status=first or last or instance.status,
        last_status=last or instance.status,
    )
    if Event.objects.filter(connection_id=instance.pk, action=Action.DELETED).exists():
        return
    if isinstance(origin, AbstractBaseUser):
        message = said("history.deleted_with_owner", owner=origin.get_username())
    else:
        message = said("history.deleted_with_account")
    # Not linked to the row being deleted: the deletion sets the other entries' link to NULL
    # too, and a link created now would point at a row that no longer exists.
    event_record(
        connection=instance,
        linked=False,
        action=Action.DELETED,
        source=Source.SYSTEM,
        message=message,
    )
    lifecycle.lifecycle_emit(lifecycle.DELETED, instance, source=Source.SYSTEM.value)
