"""README statements that can drift are checked against the code: paths, packages, commands, test
folders and guardrails."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start: end if end != -1 else None]


def test_every_repository_path_the_readme_names_exists():
    paths = set(re.findall(r"`((?:stacks|tests|policies|lambdas|bench|docs|contracts)/[\w./-]*)`", README))
    generated = ("policies/venv",)  # made by the Pulumi CLI on first use
    missing = sorted(p for p in paths if "<" not in p and "*" not in p and p not in generated
                     and not (REPO / p.rstrip("/")).exists())
    assert missing == [], f"README names paths that do not exist: {missing}"


def test_layout_lists_every_capability_package():
    layout = _section("Layout")
    packages = sorted(p.name for p in (REPO / "stacks").iterdir() if (p / "__init__.py").exists())
    assert [p for p in packages if f"  {p}/" not in layout] == []


def test_tests_table_lists_every_test_folder_and_only_those():
    table = set(re.findall(r"^\| `(tests/[\w/]+)` \|", README, re.M))
    folders = {p.parent.relative_to(REPO).as_posix() for p in (REPO / "tests").glob("*/test_*.py")}
    assert folders - table == set(), "test folders missing from the README's tests table"
    assert table - {f for f in table if (REPO / f).is_dir()} == set(), "the tests table names folders that do not exist"


def test_commands_table_lists_every_cli_command():
    from stacks.__main__ import build_parser

    commands = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert [c for c in commands if f"`./blueprint {c}" not in README] == []


def test_guardrails_table_lists_every_rule_and_only_those():
    sys.path.insert(0, str(REPO / "policies"))
    try:
        from guardrails import POLICIES
    finally:
        sys.path.remove(str(REPO / "policies"))
    names = {p.name for p in POLICIES}
    table = set(re.findall(r"^\| `([a-z0-9-]+)` \|", _section("Security model"), re.M))
    assert names - table == set(), "guardrails missing from the README's table"
    assert table - names == set(), "the README's guardrails table lists rules that do not exist"


def test_help_lists_every_command_and_the_test_command():
    import subprocess

    from stacks.__main__ import build_parser

    shown = subprocess.run([sys.executable, "-m", "stacks", "--help"], capture_output=True, text=True, cwd=REPO, check=True).stdout
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert [c for c in commands if f"\n    {c} " not in shown] == []
    assert "./blueprint test" in shown
