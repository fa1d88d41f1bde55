"""The quick start's preview on each Python the README supports (issue 8, item 1).

Runs `python -m stacks preview dev` with every interpreter 3.11-3.13 found on the machine whose
environment has the project's requirements (a CI matrix provides one per version, e.g. with uv,
and lists them in BLUEPRINT_TEST_PYTHONS). Interpreters without them are skipped: the tests do not
build environments. Packaging on each interpreter, which needs no dependency, is proven in
tests/functions/test_packaging.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.interpreters import has_project_dependencies, interpreter_version, python_interpreters

REPO = Path(__file__).resolve().parents[2]


def _params():
    params = []
    for interpreter in python_interpreters():
        version = interpreter_version(interpreter)
        marks = [] if has_project_dependencies(interpreter) else [
            pytest.mark.skip(f"python{version} at {interpreter} has no environment with the project's requirements")]
        params.append(pytest.param(interpreter, id=f"python{version}", marks=marks))
    return params or [pytest.param(None, marks=pytest.mark.skip("no Python 3.11-3.13 found"))]


@pytest.mark.parametrize("interpreter", _params())
def test_dev_preview_passes_on_this_python_with_the_default_runtime(interpreter, tmp_path):
    result = subprocess.run([interpreter, "-m", "stacks", "preview", "dev", "--out", str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    plan = json.loads((tmp_path / "dev" / "plan.json").read_text())
    functions = [r for r in plan["resources"] if r["type"] == "aws:lambda/function:Function"]
    assert functions and {f["inputs"]["runtime"] for f in functions} == {"python3.14"}
