"""The serving settings: the PostgreSQL pool, the per-key proxy bound and the idle timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.frontconnect.test_settings import GOOD_KEY, GOOD_SECRET, ROOT

SHOW = (
    "import environ; environ.Env.read_env = lambda *a, **k: None; "
    "import json, django; django.setup(); from django.conf import settings as s; "
    "d = s.DATABASES['default']; print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), "
    "'age': d['CONN_MAX_AGE'], 'per_key': s.FRONTCONNECT_PROXY_MAX_PER_KEY, "
    "'idle': s.FRONTCONNECT_CLIENT_IDLE_TIMEOUT, 'engine': d['ENGINE'], "
    "'checks': d['CONN_HEALTH_CHECKS'], 'turns': s.FRONTCONNECT_PROXY_WORKING_PER_PROCESS}))"
)
POSTGRES = "postgres://frontconnect:secret@db.internal:5432/frontconnect"


def settings_with(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FRONT"))}
    clean.pop("DATABASE_URL", None)
    clean.update(
        env,
        DJANGO_SETTINGS_MODULE="frontconnect.settings",
        DJANGO_SECRET_KEY=GOOD_SECRET,
        FRONTCONNECT_ENCRYPTION_KEY=GOOD_KEY,
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=tmp, env=clean, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def shown(tmp: Path, **env: str) -> dict[str, object]:
    result = settings_with(tmp, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_postgresql_gets_a_bounded_pool_by_default(tmp_path):
    seen = shown(tmp_path, DATABASE_URL=POSTGRES)
    assert seen["pool"] == {"min_size": 2, "max_size": 8, "timeout": 10.0, "max_idle": 300}
    # Django hands pooled connections back at the end of each request.
    assert seen["age"] == 0
    assert seen["per_key"] == 4
    assert seen["idle"] == 30.0
    # Checked on checkout without a round trip (common/postgresql), not by Django's query.
    assert (seen["engine"], seen["checks"]) == ("common.postgresql", False)
    # The proxy's own work never takes the whole pool.
    assert seen["turns"] == 6


def test_the_pool_is_sized_from_the_environment_or_turned_off(tmp_path):
    seen = shown(
        tmp_path, DATABASE_URL=POSTGRES, DATABASE_POOL_SIZE="20", DATABASE_POOL_TIMEOUT="5"
    )
    assert seen["pool"] == {"min_size": 2, "max_size": 20, "timeout": 5.0, "max_idle": 300}
    off = shown(tmp_path, DATABASE_URL=POSTGRES, DATABASE_POOL_SIZE="0")
    assert off["pool"] is None
    assert off["age"] == 60
    assert (off["engine"], off["checks"]) == ("django.db.backends.postgresql", True)


def test_sqlite_has_no_pool(tmp_path):
    seen = shown(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert seen["pool"] is None


def test_the_proxy_bound_and_idle_timeout_come_from_the_environment(tmp_path):
    seen = shown(
        tmp_path, FRONTCONNECT_PROXY_MAX_PER_KEY="2", FRONTCONNECT_CLIENT_IDLE_TIMEOUT="7.5"
    )
    assert (seen["per_key"], seen["idle"]) == (2, 7.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_POOL_SIZE", "many"),
        ("DATABASE_POOL_SIZE", "-1"),
        ("DATABASE_POOL_SIZE", "2.5"),
        ("DATABASE_POOL_TIMEOUT", "0"),
        ("FRONTCONNECT_PROXY_MAX_PER_KEY", "0"),
        ("FRONTCONNECT_PROXY_MAX_PER_KEY", "four"),
        ("FRONTCONNECT_CLIENT_IDLE_TIMEOUT", "soon"),
    ],
)
def test_a_malformed_value_stops_start_up_naming_it(tmp_path, name, value):
    result = settings_with(tmp_path, DATABASE_URL=POSTGRES, **{name: value})
    assert result.returncode != 0
    last_line = result.stderr.splitlines()[-1]
    assert f"{name} must be" in last_line
