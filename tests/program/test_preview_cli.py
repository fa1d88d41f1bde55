"""`python -m stacks preview`: exit codes, guardrails over the plan, what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_preview(root: Path, stack: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stacks", "preview", stack, "--out", str(out)],
        cwd=root, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)},
    )


def test_dev_preview_succeeds_prints_the_tree_and_writes_plan_and_guardrails(tmp_path):
    result = run_preview(REPO, "dev", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "aws:dynamodb/table:Table  carts  ddb-blueprint-dev-carts" in result.stdout
    assert "mandatory violations: 0" in result.stdout
    plan = json.loads((tmp_path / "dev" / "plan.json").read_text())
    assert plan["project"] == "ddb-blueprint" and plan["stack"] == "dev"
    report = json.loads((tmp_path / "dev" / "guardrails.json").read_text())
    assert report["mandatoryViolations"] == 0


def test_turning_pitr_off_is_explicit_and_fails_the_mandatory_guardrail(scratch, tmp_path):
    scratch.write_stack("qa", {"aws:region": "us-east-1", "ddb-blueprint:pointInTimeRecovery": False})
    result = run_preview(scratch.root, "qa", tmp_path)
    assert result.returncode == 1
    assert "mandatory guardrail violation" in result.stderr
    assert result.stdout.count("MANDATORY violation dynamodb-table-pitr") == 6  # one per table
    assert (tmp_path / "qa" / "plan.json").exists()  # kept for review of what was refused


def test_staging_policy_config_requires_deletion_protection(scratch, tmp_path):
    scratch.write_stack("staging", {"aws:region": "us-east-2", "ddb-blueprint:deletionProtection": False})
    result = run_preview(scratch.root, "staging", tmp_path)
    assert result.returncode == 1
    assert "dynamodb-table-deletion-protection" in result.stdout


def test_a_stack_without_policy_config_gets_every_protection_required(scratch, tmp_path):
    scratch.write_stack("qa", {"aws:region": "us-east-1", "ddb-blueprint:protect": False})
    result = run_preview(scratch.root, "qa", tmp_path)
    assert result.returncode == 1
    assert "stateful-resources-protected" in result.stdout
