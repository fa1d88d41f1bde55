"""The Python interpreters (3.11-3.13, the versions users run) a test can find on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SUPPORTED = ("3.11", "3.12", "3.13")


def python_interpreters() -> list[str]:
    """One interpreter per supported version: on PATH, installed by pyenv, or listed in
    BLUEPRINT_TEST_PYTHONS (os.pathsep-separated; what a CI matrix sets)."""
    found: dict[str, str] = {}
    candidates = [sys.executable]  # the one running the tests, with its environment
    candidates += [p for p in os.environ.get("BLUEPRINT_TEST_PYTHONS", "").split(os.pathsep) if p]
    candidates += [shutil.which(f"python{v}") for v in SUPPORTED]  # type: ignore[misc]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates += sorted(str(p) for v in SUPPORTED for p in pyenv.glob(f"{v}.*/bin/python"))
    for candidate in filter(None, candidates):
        version = interpreter_version(candidate)
        if version in SUPPORTED:
            found.setdefault(version, candidate)
    return [found[v] for v in sorted(found)]


def interpreter_version(interpreter: str) -> str:
    try:
        out = subprocess.run([interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def has_project_dependencies(interpreter: str) -> bool:
    """Whether `interpreter` can run the program (its environment has the project's requirements)."""
    probe = "import pulumi, pulumi_aws, pydantic, yaml, pulumi_policy"
    try:
        return subprocess.run([interpreter, "-c", probe], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
