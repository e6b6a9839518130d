"""The package's layout: imports flow one way, from the command line down to the pure analysis."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, Tuple

PACKAGE = "mist_infra_manager"
PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# Top-level modules every group may use: settings, their loading, logging and redaction, the version.
FOUNDATION = "foundation"
FOUNDATION_MODULES = frozenset({"__init__", "config", "logging_setup", "network", "settings", "text_safety"})

# Which groups each group may import (its own included). The simulator stands in for the Mist cloud:
# it shares nothing with the code under test, so a mistake in one cannot hide in the other.
ALLOWED: Dict[str, FrozenSet[str]] = {
    "analysis": frozenset({"analysis"}),
    FOUNDATION: frozenset({FOUNDATION}),
    "state": frozenset({"state", "analysis", FOUNDATION}),
    "mist": frozenset({"mist", "state", "analysis", FOUNDATION}),
    "outputs": frozenset({"outputs", "state", "analysis", FOUNDATION}),
    "alerting": frozenset({"alerting", "outputs", "state", "analysis", FOUNDATION}),
    "pipeline": frozenset({"pipeline", "alerting", "outputs", "state", "mist", "analysis", "simulator", FOUNDATION}),
    "cli": frozenset({"cli", "pipeline", "alerting", "outputs", "state", "mist", "analysis", "simulator", FOUNDATION}),
    "simulator": frozenset({"simulator"}),
    "__main__": frozenset({"cli"}),
}


def group_of(module: str) -> str:
    """Return the group of a dotted module name inside the package."""
    parts = module.split(".")
    assert parts[0] == PACKAGE, module
    if len(parts) == 1:
        return FOUNDATION
    if parts[1] in FOUNDATION_MODULES or parts[1].startswith("__"):
        return FOUNDATION
    return parts[1]


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def package_imports(path: Path) -> Iterator[Tuple[int, str]]:
    """Yield (line, imported module) for every import of the package in a file, function-level ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
            if node.module and node.module.split(".")[0] == PACKAGE:
                for alias in node.names:
                    # `from mist_infra_manager import config` imports the module config.
                    yield node.lineno, node.module if node.module != PACKAGE else f"{PACKAGE}.{alias.name}"


def test_every_group_of_the_package_has_a_rule() -> None:
    groups = {group_of(module_name(path)) for path in PACKAGE_ROOT.rglob("*.py")}
    assert groups <= set(ALLOWED), groups - set(ALLOWED)
    assert {"analysis", "mist", "state", "outputs", "alerting", "pipeline", "cli", "simulator"} <= groups


def test_imports_flow_one_way_from_the_command_line_down_to_the_analysis() -> None:
    wrong = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        importer = group_of(module_name(path))
        if path.name == "__main__.py" and path.parent == PACKAGE_ROOT:
            importer = "__main__"
        for line, imported in package_imports(path):
            if group_of(imported) not in ALLOWED[importer]:
                wrong.append(f"{path.relative_to(PACKAGE_ROOT)}:{line} ({importer}) imports {imported}")
    assert wrong == []


def test_the_rule_catches_an_import_against_the_flow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from mist_infra_manager.alerting import email_delivery\n", encoding="utf-8")
    imported = [module for _, module in package_imports(bad)]
    assert imported == ["mist_infra_manager.alerting"]
    assert group_of(imported[0]) not in ALLOWED["analysis"]
    assert group_of(imported[0]) not in ALLOWED["state"]
