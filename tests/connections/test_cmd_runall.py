"""runall (make run): the web server and the worker with beat, stopped together."""

from __future__ import annotations

import signal
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

PATCH = "connections.management.commands.runall.subprocess.Popen"


class FakeChild:
    def __init__(self, command, **kwargs):
        self.command = command
        self.kwargs = kwargs
        self.pid = 4242
        self.returncode = None
        self.signals: list[int] = []

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        self.signals.append(sig)
        self.returncode = 0

    def wait(self, timeout=None):
        self.returncode = 0 if self.returncode is None else self.returncode
        return self.returncode


def test_it_starts_both_and_stops_both_when_one_ends(settings, tmp_path):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "queue"),
        "data_folder_out": str(tmp_path / "queue"),
        "processed_folder": str(tmp_path / "processed"),
        "control_folder": str(tmp_path / "control"),
    }
    started: list[FakeChild] = []

    def popen(command, **kwargs):
        child = FakeChild(command, **kwargs)
        if "runserver" in command:
            child.returncode = 1  # the web server dies at once: runall must stop the worker
        started.append(child)
        return child

    with mock.patch(PATCH, side_effect=popen), mock.patch("os.killpg") as killpg:
        with pytest.raises(CommandError, match="web server stopped unexpectedly"):
            call_command("runall", "127.0.0.1:9999", stdout=StringIO())
    web, worker, deliveries = started
    assert web.command[-2:] == ["runserver", "127.0.0.1:9999"]
    assert worker.command[2:7] == ["celery", "-A", "frontconnect", "worker", "--beat"]
    assert worker.command[worker.command.index("-Q") + 1] == "celery"
    # Issue 15 item 6: emails and webhook calls have a worker of their own in make run too.
    assert deliveries.command[2:6] == ["celery", "-A", "frontconnect", "worker"]
    assert "--beat" not in deliveries.command
    assert deliveries.command[deliveries.command.index("-Q") + 1] == "deliveries"
    assert len({c.command[c.command.index("-n") + 1] for c in (worker, deliveries)}) == 2
    assert all(c.kwargs["start_new_session"] for c in started)
    # a warm shutdown of celery and its pool
    assert worker.signals == deliveries.signals == [signal.SIGTERM]
    killpg.assert_not_called()  # the web server had already ended
    assert (tmp_path / "queue").is_dir() and (tmp_path / "control").is_dir()
