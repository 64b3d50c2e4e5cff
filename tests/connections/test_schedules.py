"""The worker's default schedules: installed by migrate, editable, never overwritten."""

from __future__ import annotations

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from connections.schedules import DEFAULT_SCHEDULES, schedules_install
from frontconnect.celery import app

pytestmark = pytest.mark.django_db


def test_migrate_installs_every_default_schedule_for_a_real_task():
    app.loader.import_default_modules()
    for default in DEFAULT_SCHEDULES:
        row = PeriodicTask.objects.get(name=default.name)
        assert row.task == default.task and row.enabled
        assert (row.interval.every, row.interval.period) == (default.every, default.period)
        assert default.task in app.tasks
    heartbeat = PeriodicTask.objects.get(task="connections.tasks.heartbeat")
    assert (heartbeat.interval.every, heartbeat.interval.period) == (1, "minutes")


def test_operators_edits_survive_a_new_install():
    row = PeriodicTask.objects.get(task="connections.tasks.check_due")
    row.interval = IntervalSchedule.objects.create(every=30, period="minutes")
    row.enabled = False
    row.save()
    assert schedules_install() == 0
    row.refresh_from_db()
    assert (row.interval.every, row.enabled) == (30, False)
    assert PeriodicTask.objects.filter(task="connections.tasks.check_due").count() == 1


def test_a_missing_default_is_installed_again():
    PeriodicTask.objects.filter(task="connections.tasks.heartbeat").delete()
    assert schedules_install() == 1
    assert PeriodicTask.objects.filter(task="connections.tasks.heartbeat").exists()
