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
