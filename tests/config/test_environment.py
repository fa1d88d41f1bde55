"""The project environment: what `pulumi install` (toolchain uv) installs, and what ./blueprint adds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LOCK = tomllib.loads((REPO / "uv.lock").read_text())


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^;\s]+)", requirement)
        assert match, f"not pinned: {requirement}"
        found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_pulumi_install_syncs_the_run_time_dependencies_into_dot_venv():
    runtime = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["runtime"]
    assert runtime == {"name": "python", "options": {"toolchain": "uv", "virtualenv": ".venv"}}
    # `pulumi install` runs a plain `uv sync`: no dependency group may be installed by default.
    assert PYPROJECT["tool"]["uv"]["default-groups"] == []
    assert "dev" not in PYPROJECT["dependency-groups"]


def test_run_time_dependencies_are_what_the_program_needs_pinned():
    # pip and packaging: bundling a function's pinned dependencies (stacks/functions/dependencies.py) at preview
    assert set(pins(PYPROJECT["project"]["dependencies"])) == {"pulumi", "pulumi-aws", "pydantic", "pyyaml",
                                                               "protobuf", "pip", "packaging"}
    for group in PYPROJECT["dependency-groups"].values():
        pins(group)


def test_program_and_pack_agree_on_the_sdk_and_protobuf():  # P2
    pack = pins([line for line in (REPO / "policies" / "requirements.txt").read_text().splitlines()
                 if line and not line.startswith("#")])
    program = pins(PYPROJECT["project"]["dependencies"])
    tools = pins(PYPROJECT["dependency-groups"]["tools"])
    assert program["pulumi"] == pack["pulumi"] and program["protobuf"] == pack["protobuf"]
    assert tools["pulumi-policy"] == pack["pulumi-policy"]


def test_lock_covers_every_supported_python_from_pypi_only():
    assert PYPROJECT["project"]["requires-python"] == ">=3.11,<3.14"
    assert LOCK["requires-python"] == ">=3.11, <3.14"
    for package in LOCK["package"]:
        source = package["source"]
        assert source.get("registry") == "https://pypi.org/simple" or source.get("virtual") == ".", package["name"]
