"""Issue 9 item 5: `make run` leaves .env and db.sqlite3 readable by their owner only."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Stands in for manage.py: migrate creates the SQLite file as SQLite does, the rest do nothing.
FAKE_MANAGE = """
import sqlite3, sys
if sys.argv[1] == "migrate":
    sqlite3.connect("db.sqlite3").execute("CREATE TABLE IF NOT EXISTS t (x)")
"""

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def make_run(tmp: Path, manage: str = FAKE_MANAGE) -> subprocess.CompletedProcess[str]:
    """Run the real Makefile's run target in tmp under a permissive umask, faking manage.py."""
    shutil.copy(ROOT / "Makefile", tmp / "Makefile")
    (tmp / "requirements.txt").write_text("")
    (tmp / "fake_manage.py").write_text(manage)
    (tmp / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
    python = tmp / ".venv" / "bin" / "python"
    if not python.exists():
        python.symlink_to(sys.executable)
    (tmp / ".venv" / ".installed").touch()
    command = (
        f"umask 022; exec make --no-print-directory run PYTHON={sys.executable} "
        f"MANAGE='{sys.executable} fake_manage.py'"
    )
    return subprocess.run(
        ["sh", "-c", command], cwd=tmp, capture_output=True, text=True, timeout=60
    )


def test_a_fresh_run_creates_env_and_database_for_the_owner_only(tmp_path):
    result = make_run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / ".env") == 0o600
    assert mode(tmp_path / "db.sqlite3") == 0o600
    assert "FRONTCONNECT_ENCRYPTION_KEY=" in (tmp_path / ".env").read_text()


def test_a_run_makes_older_readable_files_private(tmp_path):
    (tmp_path / ".env").write_text("DJANGO_DEBUG=true\n")
    (tmp_path / "db.sqlite3").write_bytes(b"")
    (tmp_path / ".env").chmod(0o644)
    (tmp_path / "db.sqlite3").chmod(0o644)
    result = make_run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".env").read_text() == "DJANGO_DEBUG=true\n"  # never overwritten
    assert mode(tmp_path / ".env") == 0o600
    assert mode(tmp_path / "db.sqlite3") == 0o600


def test_with_another_database_no_sqlite_file_is_made(tmp_path):
    result = make_run(tmp_path, manage="")  # a migrate against PostgreSQL writes no file here
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "db.sqlite3").exists()
