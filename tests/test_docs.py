"""The documentation keeps up with the code: config keys, command line options, exit codes, links, the lock file."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION_DOC = DOCS / "configuration.md"
CONFIG_TEMPLATE = ROOT / "config" / "config.yaml.template"
CLI_PACKAGE = ROOT / "src" / "mist_infra_manager" / "cli"
PYPROJECT = ROOT / "pyproject.toml"
LOCK_FILE = ROOT / "requirements.lock"

EXIT_CODES = (0, 1, 2, 3, 130)
# Pages another change adds; a link to them may come before the page itself.
WRITTEN_ELSEWHERE = {"docs/testing.md"}

# A commented-out key: one lower-case word, a colon, then at most one value (`# directory: "reports/history"`).
# Prose such as `# smtp: send over SMTP. file: ...` or `# REQUIRED: a Mist API token` does not match.
_COMMENTED_KEY = re.compile(r"^(?P<indent>\s*)# ?(?P<key>[a-z_][a-z0-9_]*):\s*(?:\"[^\"]*\"|'[^']*'|[^\s#]+)?\s*$")
_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_]\w*):(?:\s|$)")
_MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_ADD_ARGUMENT = re.compile(r"add_argument\(\s*((?:[\"'][^\"']*[\"']\s*,\s*)*[\"'][^\"']*[\"'])")
_OPTION_STRING = re.compile(r"[\"'](--[\w-]+)[\"']")


def _docs_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.md")))


def _yaml_key_paths(node: Any, prefix: str = "") -> List[str]:
    """Return the dotted path of every mapping key under node (lists are leaves)."""
    paths: List[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            paths.append(path)
            paths.extend(_yaml_key_paths(value, path + "."))
    return paths


def _commented_key_paths(text: str) -> List[str]:
    """Return the dotted paths of keys commented out in the template, such as `# directory: "reports/history"`.

    A commented key belongs to the live keys above it with a smaller indentation, and its `#` sits exactly at the
    indentation of that section's live keys; prose with a colon (`#   degraded: only those ...`) does not.
    """
    paths: List[str] = []
    stack: List[Tuple[int, str]] = []  # (indentation, key) of the live keys enclosing the current line
    child_indent: Dict[Tuple[str, ...], int] = {}
    lines = text.splitlines()
    # First pass: the indentation of the live keys of each section.
    for line in lines:
        match = _KEY.match(line)
        if not match:
            continue
        indent = len(match.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        child_indent.setdefault(tuple(key for _, key in stack), indent)
        stack.append((indent, match.group("key")))
    stack = []
    for line in lines:
        live = _KEY.match(line)
        if live:
            indent = len(live.group("indent"))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, live.group("key")))
            continue
        commented = _COMMENTED_KEY.match(line)
        if not commented:
            continue
        indent = len(commented.group("indent"))
        enclosing = [entry for entry in stack if entry[0] < indent]
        section = tuple(key for _, key in enclosing)
        if section and child_indent.get(section) == indent:
            paths.append(".".join(section + (commented.group("key"),)))
    return paths


def _template_key_paths() -> List[str]:
    text = CONFIG_TEMPLATE.read_text(encoding="utf-8")
    live = _yaml_key_paths(yaml.safe_load(text))
    return live + [path for path in _commented_key_paths(text) if path not in live]


def _documented_paths(text: str) -> Set[str]:
    return set(re.findall(r"`([A-Za-z_][\w.]*)`", text))


def _parser_options() -> Set[str]:
    options: Set[str] = set()
    for source in sorted(CLI_PACKAGE.rglob("*.py")):
        for call in _ADD_ARGUMENT.findall(source.read_text(encoding="utf-8")):
            options.update(_OPTION_STRING.findall(call))
    return options


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_commented_key_finder_reads_nested_commented_keys_and_skips_prose() -> None:
    text = (
        "history:\n"
        "  # Prose: with a colon.\n"
        "  # smtp: send over SMTP. file: write it\n"
        '  # directory: "reports/history"\n'
        "  keep_days: 7\n"
        "sle:\n"
        "  # Which site-metrics:\n"
        "  #   degraded: only those below the warning threshold\n"
        "  #   all:\n"
        "  classifier_detail: degraded\n"
    )
    assert _commented_key_paths(text) == ["history.directory"]


def test_every_key_of_the_config_template_is_in_the_configuration_document() -> None:
    documented = _documented_paths(CONFIGURATION_DOC.read_text(encoding="utf-8"))
    template_paths = _template_key_paths()
    assert "mist.base_url" in template_paths and "history.directory" in template_paths
    missing = [path for path in template_paths if path not in documented]
    assert not missing, f"docs/configuration.md does not document: {', '.join(missing)}"


def test_every_file_linked_from_the_readme_exists() -> None:
    targets = _MARKDOWN_LINK.findall(README.read_text(encoding="utf-8"))
    local = [target.split("#", 1)[0] for target in targets if not re.match(r"[a-z]+:", target)]
    assert local, "the README links no file"
    missing = [target for target in local if target and not (ROOT / target).exists()]
    missing = [target for target in missing if target not in WRITTEN_ELSEWHERE]
    assert not missing, f"README.md links missing files: {', '.join(missing)}"


def test_every_file_linked_from_the_docs_exists() -> None:
    missing = []
    for page in sorted(DOCS.glob("*.md")) + [ROOT / "deploy" / "README.md"]:
        for target in _MARKDOWN_LINK.findall(page.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if path and not re.match(r"[a-z]+:", path) and not (page.parent / path).exists():
                resolved = (page.parent / path).resolve().relative_to(ROOT).as_posix()
                if resolved not in WRITTEN_ELSEWHERE:
                    missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, "links to missing files: " + ", ".join(missing)


def test_the_readme_quick_start_names_make_demo_and_make_test_on_its_first_screen() -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:40])
    assert "make demo" in first_screen
    assert "make test" in first_screen


def test_every_command_line_option_is_documented() -> None:
    options = _parser_options()
    assert "--mode" in options and "--config" in options
    docs = _docs_text()
    missing = sorted(option for option in options if not re.search(re.escape(option) + r"(?![\w-])", docs))
    assert not missing, f"options missing from docs/*.md: {', '.join(missing)}"


def test_the_exit_code_table_lists_every_exit_code() -> None:
    docs = _docs_text()
    table_codes = {int(code) for code in re.findall(r"^\|\s*(\d+)\s*\|", docs, flags=re.M)}
    missing = [code for code in EXIT_CODES if code not in table_codes]
    assert not missing, f"exit codes missing from the table in docs/: {missing}"


def _pyproject_dependencies() -> List[str]:
    if sys.version_info >= (3, 11):
        import tomllib

        return list(tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"])
    block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", PYPROJECT.read_text(encoding="utf-8"), re.S | re.M)
    if block is None:
        pytest.skip("no [project] dependencies list found")
    return re.findall(r"^\s*[\"']([^\"']+)[\"']", block.group(1), flags=re.M)


def test_every_runtime_dependency_is_pinned_with_hashes_in_the_lock_file() -> None:
    lock = LOCK_FILE.read_text(encoding="utf-8")
    pinned = {_canonical(name) for name in re.findall(r"^([A-Za-z0-9][\w.-]*)==", lock, flags=re.M)}
    names = [re.match(r"[A-Za-z0-9][\w.-]*", requirement).group(0) for requirement in _pyproject_dependencies()]
    missing = [name for name in names if _canonical(name) not in pinned]
    assert not missing, f"requirements.lock does not pin: {', '.join(missing)}"
    assert "--hash=sha256:" in lock


def test_the_lock_file_keeps_the_windows_only_dependencies() -> None:
    lock = LOCK_FILE.read_text(encoding="utf-8")
    assert re.search(r"^colorama==\S+ ; .*sys_platform == 'win32'", lock, flags=re.M), "colorama (tqdm on Windows)"
