"""The import rules of docs/architecture.md, read from the source: arrows point one way.

Every ``app`` module belongs to a layer; a module may import only from the layers its own
layer lists (lazy imports inside functions and ``TYPE_CHECKING`` imports count too: they
are dependencies all the same). A few modules are private to one importer.
"""

import ast
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- layers: begin -->", "<!-- layers: end -->"

# Top to bottom, as docs/architecture.md draws them.
ORDER = ["entry", "realtime", "transport", "scheduler", "domain", "models", "base", "migrations"]

# Layer -> the layers its modules may import (their own included).
ALLOWED: dict[str, set[str]] = {
    "base": {"base"},
    "models": {"base", "models"},
    "domain": {"base", "models", "domain"},
    "transport": {"transport"},  # the broker interface and its backends: no app at all
    # The scheduler stands below the realtime layer: it hears of sessions through a
    # SessionFeed (app/session_feed.py), which the realtime layer implements.
    "scheduler": {"base", "models", "domain", "scheduler"},
    "realtime": {"base", "models", "domain", "scheduler", "transport", "realtime"},
    "entry": {"base", "models", "domain", "transport", "realtime", "scheduler", "entry"},
    "migrations": {"base", "models"},
}

BASE = {"app", "app.config", "app.clock", "app.errors", "app.db", "app.locks", "app.ratelimit"}
TRANSPORT = {"app.realtime.broker", "app.realtime.memory", "app.realtime.redis"}
ENTRY = {
    "app.__main__",
    "app.cli",
    "app.main",
    "app.deps",
    "app.services",
    "app.realtime.ws",
}

# Module -> the only modules that may import it.
PRIVATE: dict[str, set[str]] = {
    "app.realtime.memory": {"app.realtime.backends"},
    "app.realtime.redis": {"app.realtime.backends"},
    "app.realtime.presence_local": {"app.realtime.backends"},
    "app.realtime.presence_redis": {"app.realtime.backends"},
    "app.main": {"app.cli", "app.__main__"},
}


def layer_of(module: str) -> str:
    if module in BASE:
        return "base"
    if module in TRANSPORT:
        return "transport"
    if module in ENTRY or module.startswith("app.api"):
        return "entry"
    if module.startswith("app.migrations"):
        return "migrations"
    if module.startswith("app.models"):
        return "models"
    if module == "app.scheduler":
        return "scheduler"
    if module.startswith("app.realtime"):
        return "realtime"
    # Any other top-level module is domain: the service layer that knows no HTTP nor WS.
    return "domain"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_imports(module: str, source: str, is_package: bool = False) -> set[str]:
    """The ``app.*`` modules that ``source`` imports (absolute or relative)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # ``from app.realtime import ws`` imports the module app.realtime.ws.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "app" or name.startswith("app.")}


def violations(sources: dict[str, str], packages: frozenset[str] = frozenset()) -> list[str]:
    """Every import in ``sources`` (module name -> code) that breaks a rule."""
    known = set(sources)
    out: list[str] = []
    for module, source in sorted(sources.items()):
        mine = layer_of(module)
        for target in sorted(app_imports(module, source, module in packages)):
            if target not in known:
                continue  # ``from app.models import Event`` names a class, not a module
            theirs = layer_of(target)
            if target != module and theirs not in ALLOWED[mine]:
                out.append(f"{module} ({mine}) imports {target} ({theirs})")
            if target in PRIVATE and module not in PRIVATE[target]:
                out.append(f"{module} imports {target}, private to {sorted(PRIVATE[target])}")
    return out


def app_sources() -> tuple[dict[str, str], frozenset[str]]:
    sources: dict[str, str] = {}
    packages: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        if "web" in path.relative_to(ROOT / "app").parts:
            continue
        name = module_name(path, ROOT)
        sources[name] = path.read_text()
        if path.name == "__init__.py":
            packages.add(name)
    return sources, frozenset(packages)


def test_every_app_import_points_down_the_layers() -> None:
    sources, packages = app_sources()
    assert {"app.log", "app.realtime.hub", "app.realtime.redis"} <= set(sources)
    assert violations(sources, packages) == []


def test_a_back_arrow_or_a_reach_into_a_private_backend_is_caught() -> None:
    sources, packages = app_sources()
    # A broker backend that learns about the hub (the old cycle), a domain module that
    # reaches up into the realtime layer, and a hub that picks a backend itself.
    broken = dict(sources)
    broken["app.realtime.redis"] += "\nfrom app.realtime.hub import Hub\n"
    broken["app.log"] += "\n\ndef _late() -> None:\n    import app.realtime.hub\n"
    broken["app.realtime.hub"] += "\nfrom app.realtime.memory import MemoryBroker\n"
    found = violations(broken, packages)
    assert "app.realtime.redis (transport) imports app.realtime.hub (realtime)" in found
    assert "app.log (domain) imports app.realtime.hub (realtime)" in found
    assert (
        "app.realtime.hub imports app.realtime.memory, private to ['app.realtime.backends']"
        in found
    )
    assert len(found) == 3, found


def test_a_new_module_is_placed_by_its_path_and_checked_like_the_others() -> None:
    synthetic = {
        "app.log": "",
        "app.realtime.hub": "",
        "app.realtime.presence": "from app.log import append_event\n",
        "app.fold_cache": "from .realtime.hub import Hub\n",  # relative, from a new module
    }
    assert violations(synthetic) == ["app.fold_cache (domain) imports app.realtime.hub (realtime)"]


def circles(sources: dict[str, str], packages: frozenset[str] = frozenset()) -> list[list[str]]:
    """Every set of modules that import one another round in a circle (strongly connected)."""
    graph = {
        module: sorted(t for t in app_imports(module, source, module in packages) if t in sources)
        for module, source in sources.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph[module]:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_imports_go_round_in_a_circle() -> None:
    sources, packages = app_sources()
    assert circles(sources, packages) == []


def test_a_circle_is_caught_even_through_a_type_checking_import() -> None:
    synthetic = {
        "app.realtime.hub": "from app.realtime.link_checks import LinkChecks\n",
        "app.realtime.link_checks": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from app.realtime.hub import Hub\n"
        ),
        "app.log": "",
    }
    assert circles(synthetic) == [["app.realtime.hub", "app.realtime.link_checks"]]


def diagram(sources: dict[str, str], packages: frozenset[str] = frozenset()) -> str:
    """The layers as the imports make them, top to bottom: each layer's modules, and the
    layers its modules really import (``python -m tests.unit.test_layers --write`` puts it
    in docs/architecture.md)."""
    members: dict[str, list[str]] = {layer: [] for layer in ORDER}
    arrows: dict[str, set[str]] = {layer: set() for layer in ORDER}
    for module, source in sorted(sources.items()):
        if module == "app":
            continue
        layer = layer_of(module)
        members[layer].append(module.removeprefix("app.").replace(".", "/"))
        for target in app_imports(module, source, module in packages):
            if target in sources and target not in (module, "app"):
                arrows[layer].add(layer_of(target))
    out: list[str] = []
    for layer in ORDER:
        if not members[layer]:
            continue
        head = f"{layer:<12}"
        names = textwrap.wrap(", ".join(members[layer]), 92 - len(head))
        out.append(head + names[0])
        out += [" " * len(head) + line for line in names[1:]]
        below = [t for t in ORDER if t in arrows[layer] and t != layer]
        out.append(f"   │ imports {', '.join(below) if below else 'nothing of the app below it'}")
    return "\n".join([*out[:-1], out[-1].replace("   │", "   ·")]) + "\n"


def doc_diagram() -> str:
    text = DOC.read_text(encoding="utf-8")
    return (
        text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
        .strip("\n")
        .removeprefix("```text\n")
        .removesuffix("```")
    )


def test_the_architecture_doc_shows_the_layers_as_the_imports_make_them() -> None:
    sources, packages = app_sources()
    assert doc_diagram() == diagram(sources, packages), (
        "docs/architecture.md is out of date: python -m tests.unit.test_layers --write"
    )


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _sources, _packages = app_sources()
    _text = DOC.read_text(encoding="utf-8")
    _start, _end = _text.index(BEGIN) + len(BEGIN), _text.index(END)
    DOC.write_text(
        _text[:_start] + "\n```text\n" + diagram(_sources, _packages) + "```\n" + _text[_end:],
        encoding="utf-8",
    )
