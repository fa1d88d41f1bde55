"""`python -m stacks preview`: exit codes, guardrails over the plan, what it prints."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import run_in_process, run_process

REPO = Path(__file__).resolve().parents[2]


def run_preview(root: Path, stack: str, out: Path):
    return run_in_process(root, "preview", stack, "--out", str(out))


def test_dev_preview_succeeds_prints_the_tree_and_writes_plan_and_guardrails(tmp_path):
    result = run_process(REPO, "preview", "dev", "--out", str(tmp_path))  # the quick start's command, as typed
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


def test_prod_preview_refuses_prod_until_its_ses_identity_is_set(tmp_path):  # issue 8 item 7, C1
    result = run_preview(REPO, "prod", tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    report = json.loads((tmp_path / "prod" / "guardrails.json").read_text())
    assert report["mandatoryViolations"] == 1  # nothing else: only the missing SES identity
    assert "MANDATORY violation cognito-email-through-ses  app-identity-users" in result.stdout
    assert "ddb-blueprint:cognitoEmail" in result.stdout


def test_prod_with_an_ses_identity_passes_every_guardrail(scratch, tmp_path):
    import yaml

    config = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]
    config["ddb-blueprint:cognitoEmail"] = {
        "sesIdentityArn": "arn:aws:ses:us-east-1:123456789012:identity/shop.example.org",
        "fromAddress": "Shop <no-reply@shop.example.org>"}
    scratch.write_stack("prod", config)
    policy_dir = scratch.root / "policies" / "config"
    policy_dir.mkdir(parents=True, exist_ok=True)
    (policy_dir / "prod.json").write_text((REPO / "policies" / "config" / "prod.json").read_text())
    result = run_preview(scratch.root, "prod", tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "mandatory violations: 0" in result.stdout
