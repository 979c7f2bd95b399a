"""axe-core (the npm package, installed by ``make test`` into tests/e2e/node_modules) run in a
page: the accessibility violations a person with a screen reader or a keyboard would meet.

The engine is evaluated through the DevTools protocol, which the page's Content-Security-Policy
does not govern, so the pages keep their strict CSP while they are checked.
"""

from functools import cache
from pathlib import Path
from typing import Any

from tests.support import skip_or_fail

AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
# What the issue counts: anything but "minor" is a defect.
BLOCKING = ("critical", "serious", "moderate")


@cache
def _axe_source() -> str:
    return AXE_JS.read_text()


def axe_violations(page: Any, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """axe's violations on ``page`` as it is now, of the given impacts."""
    if not AXE_JS.exists():
        skip_or_fail("browser", f"{AXE_JS} is missing (make e2e-deps installs axe-core)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in result["violations"] if v.get("impact") in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    """One line per violation and node, for an assertion message."""
    lines = []
    for v in violations:
        for node in v["nodes"][:5]:
            lines.append(f"{v['impact']} {v['id']}: {' '.join(node['target'])} — {v['help']}")
    return "\n".join(lines)


def assert_accessible(page: Any, state: str) -> None:
    """No critical, serious or moderate violation on ``page`` in ``state``."""
    found = axe_violations(page)
    assert not found, f"axe on {state}:\n{describe(found)}"
