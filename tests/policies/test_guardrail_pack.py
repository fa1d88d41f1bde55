"""The pack's shape: importable without side effects, runnable as the CLI runs it, self-contained."""

from __future__ import annotations

import ast
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policies.guardrails import POLICIES

REPO = Path(__file__).resolve().parents[2]
PACK_DIR = REPO / "policies"
GUARDRAILS_DIR = PACK_DIR / "guardrails"
# Without the repo root on the path: the pack runs from its own directory and virtualenv.
ISOLATED_ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONUNBUFFERED": "1"}


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=ISOLATED_ENV, capture_output=True,
                          text=True, timeout=60, check=False)


def test_importing_guardrails_does_not_start_a_policy_pack():  # P1: a PolicyPack would print a port and block
    done = run_python("import policies.guardrails, policies.guardrails.offline", cwd=REPO)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr


def test_guardrails_is_importable_from_the_pack_directory():
    done = run_python("import guardrails, guardrails.offline; print(len(guardrails.POLICIES))", cwd=PACK_DIR)
    assert (done.returncode, done.stdout.strip()) == (0, str(len(POLICIES))), done.stderr


def test_policy_pack_is_constructed_only_in_main():  # P1
    sources = [p for p in PACK_DIR.rglob("*.py") if "venv" not in p.parts]
    assert [p.relative_to(PACK_DIR).as_posix() for p in sources if "PolicyPack(" in p.read_text()] == ["__main__.py"]


def test_guardrails_imports_only_stdlib_and_pulumi_policy():  # the pack has its own virtualenv
    allowed = set(sys.stdlib_module_names) | {"pulumi_policy"}
    for path in GUARDRAILS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            assert all(name.split(".")[0] in allowed for name in names), f"{path.name} imports {names}"


def test_policies_have_unique_names_own_levels_and_documented_config():
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names))
    for policy in POLICIES:
        assert policy.enforcement_level is not None and policy.description, policy.name
        for key, spec in (policy.config_schema.properties if policy.config_schema else {}).items():
            assert {"type", "default", "description"} <= spec.keys(), f"{policy.name}.{key}"


def test_pack_project_file_runs_python_in_its_own_virtualenv():
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert project["description"]


def test_pack_requirements_pin_the_sdk_and_protobuf():  # P2
    lines = [line for line in (PACK_DIR / "requirements.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert sorted(lines) == ["protobuf==5.29.6", "pulumi-policy==1.21.0", "pulumi==3.272.0"]


@pytest.fixture
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack started the way the CLI starts a Python pack (`python -m pulumi.policy <addr> <dir>`)."""
    process = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."], cwd=PACK_DIR,
                               env=ISOLATED_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        assert line.strip().isdigit(), f"no port printed; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        with grpc.insecure_channel(f"127.0.0.1:{line.strip()}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=30)


def test_running_pack_registers_every_policy(analyzer: analyzer_pb2_grpc.AnalyzerStub):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "ddb-blueprint-guardrails"
    assert [p.name for p in info.policies] == [policy.name for policy in POLICIES]
    assert all(p.enforcementLevel == proto.MANDATORY for p in info.policies)


def test_running_pack_reports_a_violation_over_grpc(analyzer: analyzer_pb2_grpc.AnalyzerStub):  # T8
    response = analyzer.Analyze(proto.AnalyzeRequest(
        type="aws:dynamodb/globalTable:GlobalTable", properties=struct_pb2.Struct(), name="legacy",
        urn="urn:pulumi:test::ddb-blueprint::aws:dynamodb/globalTable:GlobalTable::legacy"), timeout=30)
    assert [d.policyName for d in response.diagnostics] == ["no-legacy-global-table"]
