"""The French translation is complete: every text of the code is in a catalogue, translated.

The catalogues are gathered again from the code (``makemessages``, in a copy of the source so
the checkout is left alone), then read with Babel: an untranslated or fuzzy message, or a
translation whose placeholders differ from its source text, fails with the list of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
COPIED = shutil.ignore_patterns(
    ".*", "__pycache__", "tests", "bench", "staticfiles", "node_modules", "*.mo", "*.sqlite3"
)


def catalogues(root: Path) -> list[Path]:
    return sorted(root.glob("locale/*/LC_MESSAGES/django.po")) + sorted(
        root.glob("*/locale/*/LC_MESSAGES/django.po")
    )


@pytest.fixture(scope="module")
def gathered(tmp_path_factory) -> Path:
    """A copy of the source whose catalogues were gathered again from its code."""
    if shutil.which("xgettext") is None:
        if os.environ.get("FRONTCONNECT_REQUIRE_GETTEXT"):
            pytest.fail("gettext's xgettext is missing: CI must install gettext.")
        pytest.skip("gettext's xgettext is not installed (apt install gettext).")
    copy = tmp_path_factory.mktemp("source") / "src"
    shutil.copytree(ROOT, copy, ignore=COPIED)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "frontconnect.test_settings"}
    subprocess.run(  # noqa: S603 (our own manage.py, no shell)
        [sys.executable, "manage.py", "makemessages", "-l", "fr"],
        cwd=copy, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return copy


def test_every_app_with_texts_has_a_french_catalogue(gathered: Path) -> None:
    found = {path.relative_to(gathered).parts[0] for path in catalogues(gathered)}
    assert {"locale", "connections", "alerts", "api", "common"} <= found


def test_no_text_is_untranslated_or_fuzzy(gathered: Path) -> None:
    missing = []
    for path in catalogues(gathered):
        with path.open("rb") as handle:
            catalogue = read_po(handle, locale="fr")
        if catalogue.fuzzy:  # a fuzzy header: the whole catalogue is skipped when compiled
            missing.append(f"{path.relative_to(gathered)} is marked fuzzy as a whole")
        for message in catalogue:
            if not message.id:
                continue
            where = f"{path.relative_to(gathered)}: {message.id!r}"
            if message.fuzzy:
                missing.append(f"{where} is fuzzy")
            elif not message.string or (
                isinstance(message.string, tuple) and not all(message.string)
            ):
                missing.append(f"{where} is untranslated")
    assert not missing, f"{len(missing)} French texts missing:\n" + "\n".join(missing[:200])


def test_translations_keep_their_placeholders(gathered: Path) -> None:
    wrong = []
    for path in catalogues(gathered):
        with path.open("rb") as handle:
            catalogue = read_po(handle, locale="fr")
        for message, errors in catalogue.check():
            wrong.extend(f"{path.relative_to(gathered)}: {message.id!r}: {e}" for e in errors)
    assert not wrong, "\n".join(wrong)


def test_the_checkout_catalogues_are_the_gathered_ones(gathered: Path) -> None:
    """A text changed in the code is changed in the committed catalogue (`make translations`)."""

    def entries(path: Path) -> dict[object, object]:
        with path.open("rb") as handle:
            return {m.id: m.string for m in read_po(handle, locale="fr") if m.id}

    stale = [
        str(path.relative_to(gathered))
        for path in catalogues(gathered)
        if not (ROOT / path.relative_to(gathered)).exists()
        or entries(path) != entries(ROOT / path.relative_to(gathered))
    ]
    assert not stale, f"Out of date (run `make translations`): {stale}"
