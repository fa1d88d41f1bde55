"""Lambda packages never depend on the build machine's Python (issue 8, item 1; facts L7, L11).

The decision of what goes in the zip is a pure function of the sources, the runtime and the build
Python's version, so it is tested here for every supported build Python (3.11-3.13) against every
allowed runtime, whichever interpreter runs the tests. The interpreters that exist on the machine
then build real packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
import zipfile
from pathlib import Path

import pytest

from stacks.config.settings import StackSettings
from tests.interpreters import interpreter_version, python_interpreters
from stacks.functions.packaging import (
    PackagingError,
    build_python_version,
    cached_name,
    package_entries,
    package_function,
    ships_bytecode,
)

REPO = Path(__file__).resolve().parents[2]
BUILD_PYTHONS = [(3, 11), (3, 12), (3, 13)]
RUNTIMES = list(typing.get_args(StackSettings.model_fields["lambdaRuntime"].annotation))
SOURCES = ["handler.py", "lib/__init__.py", "lib/rules.py"]


def test_allowed_runtimes_are_those_lambda_creates_newest_last():  # L7
    assert RUNTIMES == ["python3.11", "python3.12", "python3.13", "python3.14"]


@pytest.mark.parametrize("build", BUILD_PYTHONS, ids=lambda v: f"build{v[0]}.{v[1]}")
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_sources_always_ship_and_bytecode_only_for_the_runtimes_own_python(build, runtime):
    entries = package_entries(SOURCES, runtime, build)
    names = [e.name for e in entries]
    assert set(SOURCES) <= set(names)  # the package runs on the runtime whatever built it
    compiled = [e for e in entries if e.compiled]
    if runtime == f"python{build[0]}.{build[1]}":
        tag = f"cpython-{build[0]}{build[1]}"
        assert sorted(e.name for e in compiled) == sorted(
            [f"__pycache__/handler.{tag}.pyc", f"lib/__pycache__/__init__.{tag}.pyc", f"lib/__pycache__/rules.{tag}.pyc"])
    else:
        assert compiled == []  # a .pyc of another version would be ignored: never shipped
    assert names == sorted(names)  # one order, whatever order the files were found in


@pytest.mark.parametrize("build", BUILD_PYTHONS, ids=lambda v: f"build{v[0]}.{v[1]}")
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_decision_is_the_same_for_the_same_inputs(build, runtime):
    assert package_entries(SOURCES, runtime, build) == package_entries(list(reversed(SOURCES)), runtime, build)


def test_bytecode_decision_compares_major_and_minor_only():
    assert ships_bytecode("python3.12", (3, 12))
    assert ships_bytecode("python3.12", (3, 12, 7))  # a patch release writes the same magic number
    assert not ships_bytecode("python3.12", (3, 1))
    assert not ships_bytecode("python3.1", (3, 12))


def test_bytecode_goes_where_the_runtime_looks_for_it():  # PEP 3147
    assert cached_name("handler.py", "python3.14") == "__pycache__/handler.cpython-314.pyc"
    assert cached_name("a/b/c.py", "python3.11") == "a/b/__pycache__/c.cpython-311.pyc"


def test_a_runtime_that_is_not_python_is_a_packaging_error():
    with pytest.raises(PackagingError, match="not a Python runtime"):
        package_entries(SOURCES, "nodejs22.x", (3, 11))


def _other_runtime() -> str:
    return next(r for r in RUNTIMES if r != build_python_version())


def test_a_package_for_another_runtime_holds_the_sources_only(tmp_path):
    package = package_function(REPO / "lambdas" / "order_stats", tmp_path, _other_runtime())
    assert package.files == ("handler.py",) and not package.bytecode
    with zipfile.ZipFile(package.path) as archive:
        assert archive.namelist() == ["handler.py"]
        assert archive.read("handler.py") == (REPO / "lambdas" / "order_stats" / "handler.py").read_bytes()


def test_a_package_for_this_pythons_runtime_adds_its_bytecode(tmp_path):
    runtime = build_python_version()
    if runtime not in RUNTIMES:
        pytest.skip(f"{runtime} is not an allowed Lambda runtime")
    package = package_function(REPO / "lambdas" / "order_stats", tmp_path, runtime)
    major, minor = sys.version_info[:2]
    assert package.bytecode and package.files == (f"__pycache__/handler.cpython-{major}{minor}.pyc", "handler.py")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_same_sources_same_decision_same_bytes_and_hash(tmp_path, runtime):
    first = package_function(REPO / "lambdas" / "place_order", tmp_path / "a", runtime)
    second = package_function(REPO / "lambdas" / "place_order", tmp_path / "b", runtime)
    assert first.sha256_base64 == second.sha256_base64
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path.name == second.path.name


def test_the_hash_follows_the_code(tmp_path):
    source = tmp_path / "fn"
    source.mkdir()
    (source / "handler.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    before = package_function(source, tmp_path / "out", "python3.14").sha256_base64
    (source / "handler.py").write_text("def lambda_handler(event, context):\n    return 2\n")
    assert package_function(source, tmp_path / "out", "python3.14").sha256_base64 != before


def test_caches_and_other_files_stay_out(tmp_path):
    source = tmp_path / "fn"
    (source / "__pycache__").mkdir(parents=True)
    (source / "handler.py").write_text("X = 1\n")
    (source / "__pycache__" / "stale.py").write_text("stale\n")
    (source / "notes.txt").write_text("not code\n")
    assert package_function(source, tmp_path / "out", "python3.14").files == ("handler.py",)


def test_missing_handler_is_a_packaging_error(tmp_path):
    (tmp_path / "fn").mkdir()
    with pytest.raises(PackagingError, match="no handler.py"):
        package_function(tmp_path / "fn", tmp_path / "out", "python3.14")


def test_missing_code_folder_is_a_packaging_error(tmp_path):
    with pytest.raises(PackagingError, match="not a directory"):
        package_function(tmp_path / "nothing", tmp_path / "out", "python3.14")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_source_is_a_packaging_error_not_an_oserror(tmp_path):
    source = tmp_path / "fn"
    source.mkdir()
    (source / "handler.py").write_text("X = 1\n")
    (source / "handler.py").chmod(0)
    with pytest.raises(PackagingError, match="cannot package fn"):
        package_function(source, tmp_path / "out", "python3.14")


def test_unwritable_build_dir_is_a_packaging_error(tmp_path):
    blocker = tmp_path / "build"
    blocker.write_text("a file where the build directory should be\n")
    with pytest.raises(PackagingError, match="cannot package order_stats"):
        package_function(REPO / "lambdas" / "order_stats", blocker / "functions", "python3.14")


def test_syntax_error_with_the_runtimes_python_is_a_packaging_error(tmp_path):
    source = tmp_path / "fn"
    source.mkdir()
    (source / "handler.py").write_text("def broken(:\n")
    with pytest.raises(PackagingError, match="does not compile"):
        package_function(source, tmp_path / "out", build_python_version())


# --- the interpreters on this machine build real packages ----------------------------------------

PACKAGE_SCRIPT = """
import json, sys, zipfile
from pathlib import Path
from stacks.functions.packaging import package_function
runtime, out = sys.argv[1], Path(sys.argv[2])
package = package_function(Path("lambdas/place_order"), out, runtime)
print(json.dumps({"files": list(package.files), "sha": package.sha256_base64, "bytecode": package.bytecode,
                  "names": zipfile.ZipFile(package.path).namelist()}))
"""


@pytest.mark.parametrize("interpreter", python_interpreters() or [pytest.param(None, marks=pytest.mark.skip("no interpreter"))])
def test_each_python_on_this_machine_packages_for_every_runtime(interpreter, tmp_path):
    """Packaging is stdlib-only: it runs on each interpreter without the project's dependencies."""
    by_runtime = {}
    for runtime in RUNTIMES:
        result = subprocess.run([interpreter, "-c", PACKAGE_SCRIPT, runtime, str(tmp_path / runtime)], cwd=REPO,
                                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
        assert result.returncode == 0, result.stderr
        by_runtime[runtime] = json.loads(result.stdout)
    version = f"python{interpreter_version(interpreter)}"
    for runtime, package in by_runtime.items():
        assert "handler.py" in package["names"]
        assert package["bytecode"] == (runtime == version), (runtime, version)
    # Packages for runtimes other than the interpreter's are sources only: the same bytes whoever builds.
    others = {by_runtime[r]["sha"] for r in RUNTIMES if r != version}
    assert len(others) == 1
    here = package_function(REPO / "lambdas" / "place_order", tmp_path / "here", "python3.14")
    assert by_runtime["python3.14"]["sha"] == here.sha256_base64
