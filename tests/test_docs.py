"""docs/security.md names real tests: every file it cites exists under tests/ and every test it
names is defined in that file.

References are written `connections/test_x.py::test_name` (a path under tests/, a leading
`tests/` is tolerated), `::test_other` for another test of the file named last on the same line,
or a bare `connections/test_x.py` for the whole file. Paths of code files (`connections/rules.py::
token_policy_for`) are not test references and are not checked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DOC = ROOT / "docs" / "security.md"

# A path ending in .py, optionally followed by ::name parts; or a lone ::name continuing the
# path named last on the line.
REFERENCE = re.compile(
    r"(?<![\w./-])(?P<path>(?:[\w-]+/)*[\w-]+\.py)(?![\w.])(?P<names>(?:::\w+)*)"
    r"|(?<![\w.:])::(?P<more>\w+(?:::\w+)*)"
)


@dataclass(frozen=True)
class Reference:
    line: int
    path: str  # relative to tests/
    names: tuple[str, ...]  # () for a whole file; (function,) or (Class, method)

    def __str__(self) -> str:
        return "::".join((self.path, *self.names)) + f" (line {self.line})"


def is_test_file(path: str) -> bool:
    return Path(path).name.startswith("test_")


def references(text: str) -> tuple[list[Reference], list[str]]:
    """Every test reference in the text, and the problems met while reading them."""
    found: list[Reference] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        last_path: str | None = None
        for match in REFERENCE.finditer(line):
            if match["path"]:
                path = match["path"].removeprefix("tests/")
                last_path = path
                names = tuple(n for n in match["names"].split("::") if n)
            else:
                if last_path is None:
                    problems.append(f"line {number}: ::{match['more']} follows no file on its line")
                    continue
                path = last_path
                names = tuple(match["more"].split("::"))
            if is_test_file(path):
                found.append(Reference(number, path, names))
    return found, problems


def is_defined(source: str, names: tuple[str, ...]) -> bool:
    *classes, function = names
    if any(not re.search(rf"^\s*class {re.escape(c)}\b", source, re.M) for c in classes):
        return False
    return f"def {function}(" in source


def missing(text: str, tests: Path = TESTS) -> list[str]:
    """What the text cites that does not exist under `tests`."""
    found, problems = references(text)
    for ref in found:
        file = tests / ref.path
        if not file.is_file():
            problems.append(f"{ref}: no such test file")
        elif ref.names and not is_defined(file.read_text(encoding="utf-8"), ref.names):
            problems.append(f"{ref}: no test of that name in the file")
    return problems


def test_the_security_document_cites_only_tests_that_exist():
    text = DOC.read_text(encoding="utf-8")
    found, _ = references(text)
    assert len(found) > 100, "the document should cite its tests; did the reference format change?"
    problems = missing(text)
    assert not problems, "docs/security.md cites what is not there:\n" + "\n".join(problems)


def test_the_reader_follows_continuations_and_skips_code_paths():
    text = (
        "| A1 | `connections/rules.py::token_policy_for` | `connections/test_views.py::test_a`, "
        "`::test_b`, `tests/frontconnect/test_settings.py`, `::Cls::test_c` |\n"
        "| A2 | `common.crypto` | `test_network_guard.py::test_d` |\n"
    )
    found, problems = references(text)
    assert [str(r) for r in found] == [
        "connections/test_views.py::test_a (line 1)",
        "connections/test_views.py::test_b (line 1)",
        "frontconnect/test_settings.py (line 1)",
        "frontconnect/test_settings.py::Cls::test_c (line 1)",
        "test_network_guard.py::test_d (line 2)",
    ]
    assert problems == []
    _, orphan = references("| A3 | x | `::test_e` |")
    assert orphan == ["line 1: ::test_e follows no file on its line"]


def test_a_wrong_name_or_file_is_reported(tmp_path):
    (tmp_path / "connections").mkdir()
    (tmp_path / "connections" / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('n', [1])\ndef test_real(n):\n    pass\n"
    )
    text = (
        "`connections/test_x.py::test_real`, `::test_invented`, `connections/test_x.py`, "
        "`connections/test_gone.py`, `connections/test_x.py::test_rea`"
    )
    assert missing(text, tmp_path) == [
        "connections/test_x.py::test_invented (line 1): no test of that name in the file",
        "connections/test_gone.py (line 1): no such test file",
        "connections/test_x.py::test_rea (line 1): no test of that name in the file",
    ]
