from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0hISE="
GOOD_SECRET = "s" * 60


# A developer's .env at the root must not supply the variables under test.
BOOT = (
    "import environ; environ.Env.read_env = lambda *a, **k: None; "
    "import django; django.setup(); print('started')"
)


def start(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Load the production settings in a fresh interpreter with only the given variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FRONT"))}
    clean.pop("DATABASE_URL", None)
    clean.update(env, DJANGO_SETTINGS_MODULE="frontconnect.settings")
    return subprocess.run(
        [sys.executable, "-c", BOOT],
        cwd=tmp,
        env={**clean, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_starts_with_every_required_variable(tmp_path):
    result = start(tmp_path, DJANGO_SECRET_KEY=GOOD_SECRET, FRONTCONNECT_ENCRYPTION_KEY=GOOD_KEY)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FRONTCONNECT_ENCRYPTION_KEY": GOOD_KEY}, "DJANGO_SECRET_KEY is not set"),
        ({"DJANGO_SECRET_KEY": GOOD_SECRET}, "FRONTCONNECT_ENCRYPTION_KEY is not set"),
        (
            {"DJANGO_SECRET_KEY": GOOD_SECRET, "FRONTCONNECT_ENCRYPTION_KEY": "too-short"},
            "FRONTCONNECT_ENCRYPTION_KEY is malformed",
        ),
        (
            {"DJANGO_SECRET_KEY": "short", "FRONTCONNECT_ENCRYPTION_KEY": GOOD_KEY},
            "DJANGO_SECRET_KEY is too weak",
        ),
        (
            {
                "DJANGO_SECRET_KEY": GOOD_SECRET,
                "FRONTCONNECT_ENCRYPTION_KEY": GOOD_KEY,
                "DATABASE_URL": "nosuchdb://what",
            },
            "DATABASE_URL is malformed",
        ),
        (
            {
                "DJANGO_SECRET_KEY": GOOD_SECRET,
                "FRONTCONNECT_ENCRYPTION_KEY": GOOD_KEY,
                "FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS": "nope",
            },
            "FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS is malformed",
        ),
    ],
)
def test_it_refuses_to_start_naming_the_variable(tmp_path, env, expected):
    result = start(tmp_path, **env)
    assert result.returncode != 0
    assert expected in result.stderr
    # The message says how to make a value.
    last_line = result.stderr.splitlines()[-1]
    assert "python3 -c" in last_line or "such as" in last_line


def test_every_refusal_is_one_sentence_without_a_traceback(tmp_path):
    result = start(tmp_path, FRONTCONNECT_ENCRYPTION_KEY=GOOD_KEY)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        next(line for line in result.stderr.splitlines() if "DJANGO_SECRET_KEY is not set" in line)
    ]


def boot_printing(tmp: Path, name: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Start with the required variables and ``env``; print the setting ``name``."""
    global BOOT
    saved = BOOT
    BOOT = f"{saved}; from django.conf import settings; print(repr(settings.{name}))"
    try:
        return start(
            tmp, DJANGO_SECRET_KEY=GOOD_SECRET, FRONTCONNECT_ENCRYPTION_KEY=GOOD_KEY, **env
        )
    finally:
        BOOT = saved


@pytest.mark.parametrize(
    ("variable", "value", "setting", "expected"),
    [
        ("FRONTCONNECT_CHECK_INTERVAL_HOURS", "1.5", "FRONTCONNECT_CHECK_INTERVAL_HOURS", "1.5"),
        ("FRONTCONNECT_RECENT_USE_HOURS", "0.5", "FRONTCONNECT_RECENT_USE_HOURS", "0.5"),
        ("FRONTCONNECT_UNREACHABLE_GRACE_MINUTES", "45", "FRONTCONNECT_UNREACHABLE_GRACE_MINUTES",
         "45"),
        ("DJANGO_DEBUG", "yes", "DEBUG", "True"),
        ("DJANGO_DEBUG", "Off", "DEBUG", "False"),
        ("DJANGO_LOG_LEVEL", "warning", "LOGGING['root']['level']", "'WARNING'"),
        ("FRONT_HTTP_TIMEOUT", "2.5", "FRONT_HTTP_TIMEOUT", "2.5"),
        ("FRONTCONNECT_RESERVED_SHARE", "0.9995", "FRONTCONNECT_RESERVED_SHARE", "0.9995"),
    ],
)  # fmt: skip
def test_well_formed_values_are_taken(tmp_path, variable, value, setting, expected):
    result = boot_printing(tmp_path, setting, **{variable: value})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRONTCONNECT_CHECK_INTERVAL_HOURS", "six"),
        ("FRONTCONNECT_CHECK_INTERVAL_HOURS", "0"),
        ("FRONTCONNECT_CHECK_INTERVAL_HOURS", "nan"),
        ("FRONTCONNECT_RECENT_USE_HOURS", "-1"),
        ("FRONTCONNECT_UNREACHABLE_GRACE_MINUTES", "1.5"),
        ("FRONTCONNECT_UNREACHABLE_GRACE_MINUTES", "soon"),
        ("FRONTCONNECT_LOGIN_LOCKOUT_MINUTES", "2.5"),
        ("FRONTCONNECT_LOGIN_FAILURE_LIMIT", "five"),
        ("FRONTCONNECT_HISTORY_RETENTION_DAYS", "0.5"),
        ("FRONTCONNECT_CHECK_CONCURRENCY", "100"),
        ("FRONTCONNECT_RATE_SHARE", "half"),
        ("FRONTCONNECT_RESERVED_SHARE", "1"),
        ("FRONTCONNECT_PROXY_BUDGET_WAIT", "-2"),
        ("FRONT_HTTP_TIMEOUT", "30"),
        ("FRONT_OAUTH_PKCE", "perhaps"),
        ("DJANGO_DEBUG", "maybe"),
        ("DJANGO_SECURE_SSL_REDIRECT", "2"),
        ("DJANGO_SECURE_HSTS_SECONDS", "1e99x"),
        ("DJANGO_BEHIND_PROXY", "sure"),
        ("DJANGO_PROXY_HOPS", "1.5"),
        ("DJANGO_LOG_LEVEL", "LOUD"),
        ("DATABASE_CONN_MAX_AGE", "a minute"),
        # Durations beyond what a date can hold: a traceback at start-up (the lockout) or, later,
        # an OverflowError in the worker's schedule, the prune and the health check.
        ("FRONTCONNECT_LOGIN_LOCKOUT_MINUTES", "1e300"),
        ("FRONTCONNECT_HISTORY_RETENTION_DAYS", "1e7"),
        ("FRONTCONNECT_UNREACHABLE_GRACE_MINUTES", "1e300"),
        ("FRONTCONNECT_CHECK_INTERVAL_HOURS", "1e300"),
        ("FRONTCONNECT_RECENT_USE_HOURS", "1e300"),
    ],
)
def test_a_malformed_value_stops_start_up_with_one_sentence_naming_it(tmp_path, variable, value):
    result = start(
        tmp_path, DJANGO_SECRET_KEY=GOOD_SECRET, FRONTCONNECT_ENCRYPTION_KEY=GOOD_KEY,
        **{variable: value},
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{variable} must be "), lines[0]
    assert lines[0].endswith(".")


def test_each_variable_is_read_once():
    source = (ROOT / "frontconnect" / "settings.py").read_text()
    import re

    reader = r"(?:env\.\w+|required|number|boolean|choice)"
    names = re.findall(reader + r"""\(\s*"([A-Z_]+)\"""", source)
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert "FRONTCONNECT_CHECK_INTERVAL_HOURS" in names
    assert repeated == []


HOSTILE_ENV = (
    "FRONT_API_URL=http://127.0.0.1:9/hostile\n"
    "FRONTCONNECT_CHECK_INTERVAL_HOURS=not-a-number\n"
    "DJANGO_DEBUG=true\n"
)


def test_the_test_settings_never_read_a_developers_env_file(tmp_path):
    """`make test` must not depend on the developer's .env (a local Front URL broke 21 tests)."""
    hostile = tmp_path / "hostile.env"
    hostile.write_text(HOSTILE_ENV)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FRONT"))}
    clean.pop("DATABASE_URL", None)
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.FRONT_API_URL, settings.DEBUG)"
    )

    def boot(module: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env={**clean, **env, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": module},
            capture_output=True,
            text=True,
            timeout=60,
        )

    # The production settings do read the file they are pointed at (the control)...
    control = boot(
        "frontconnect.settings",
        FRONTCONNECT_ENV_FILE=str(hostile),
        DJANGO_SECRET_KEY=GOOD_SECRET,
        FRONTCONNECT_ENCRYPTION_KEY=GOOD_KEY,
    )
    assert "FRONTCONNECT_CHECK_INTERVAL_HOURS must be" in control.stderr
    # ...the test settings read none, wherever it is and whatever the environment says.
    tested = boot("frontconnect.test_settings", FRONTCONNECT_ENV_FILE=str(hostile))
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.split() == ["https://api2.frontapp.com", "False"]


def test_the_test_settings_ignore_an_env_file_at_the_root(monkeypatch, tmp_path):
    """The default file is BASE_DIR/.env: a copy of the project with a hostile one there."""
    import shutil

    copy = tmp_path / "project"
    shutil.copytree(ROOT / "frontconnect", copy / "frontconnect")
    shutil.copytree(ROOT / "common", copy / "common")
    (copy / ".env").write_text(HOSTILE_ENV)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FRONT"))}
    clean.pop("DATABASE_URL", None)
    script = (
        "import frontconnect.test_settings as s, pathlib; "
        "assert pathlib.Path(s.__file__).parent.parent == pathlib.Path.cwd(); "
        "print(s.FRONT_API_URL, s.FRONTCONNECT_CHECK_INTERVAL_HOURS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=copy,
        env={**clean, "PYTHONPATH": f"{copy}:{ROOT}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["https://api2.frontapp.com", "6.0"]


@pytest.mark.parametrize("value", ["1000", "-1", "soon", "nan"])
def test_a_bad_write_back_retry_is_one_sentence_naming_the_variable(tmp_path, value):
    result = start(
        tmp_path,
        DJANGO_SECRET_KEY=GOOD_SECRET,
        FRONTCONNECT_ENCRYPTION_KEY=GOOD_KEY,
        FRONTCONNECT_WRITEBACK_RETRY_SECONDS=value,
    )
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1].endswith(
        "FRONTCONNECT_WRITEBACK_RETRY_SECONDS must be a number of seconds from 0 to 300."
    )
