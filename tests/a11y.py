"""The accessibility check of the browser tests: axe-core, injected from the installed package.

axe.min.js comes inside the ``axe-playwright-python`` package (requirements-dev.txt) and is
evaluated in the page, so the check never loads anything from the network. A page passes when
axe finds no violation of impact "serious" or "critical" (WCAG 2.x A/AA and best practices).

One line checks a page a test has open::

    from tests.a11y import assert_accessible
    assert_accessible(page)

or, through the ``axe`` fixture of ``tests/conftest.py``: ``axe(page)``.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe

BLOCKING_IMPACTS = frozenset({"serious", "critical"})
# WCAG 2.0, 2.1 and 2.2 at levels A and AA, and axe's best practices (landmarks, one h1, ...).
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

_axe = Axe()


def axe_violations(page: Any, *, exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """axe's serious and critical violations on ``page`` as it is now (CSS ``exclude``d)."""
    context: dict[str, Any] = {"exclude": [[selector] for selector in exclude or []]}
    options = {"runOnly": {"type": "tag", "values": RULE_TAGS}, "resultTypes": ["violations"]}
    page.evaluate(_axe.axe_script)
    results = page.evaluate("([context, options]) => axe.run(context, options)", [context, options])
    return [v for v in results["violations"] if v.get("impact") in BLOCKING_IMPACTS]


def axe_report(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violation: rule, impact, what it means, the elements concerned."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:10]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['failureSummary']}")
    return "\n".join(lines)


def assert_accessible(page: Any, *, exclude: list[str] | None = None) -> None:
    """Fail when axe finds a serious or critical violation on the page, listing them all."""
    violations = axe_violations(page, exclude=exclude)
    assert not violations, f"Accessibility violations on {page.url}:\n{axe_report(violations)}"
