"""`python -m stacks audit`: the security review a reviewer approves a stack from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.offline.audit import audit

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    return {stack: audit(REPO, stack, out) for stack in ("dev", "prod")}


def text(result) -> str:
    return result.markdown_path.read_text()


def test_report_lists_every_security_default_dev_turns_off(reviews):
    report = text(reviews["dev"])
    section = report.split("## Security defaults this stack turns off")[1].split("## Tables")[0]
    for key in ("deletionProtection", "protect", "retainOnDelete", "pitrRecoveryPeriodDays"):
        assert f"`ddb-blueprint:{key}`" in section
    assert "dynamodb-table-deletion-protection" in section and "stateful-resources-protected" in section


def test_prod_turns_nothing_off(reviews):
    assert "None: every protection is at its secure default." in text(reviews["prod"])


def test_every_role_shows_trust_statements_and_reasons(reviews):
    report = text(reviews["prod"])
    for role in ("shopper", "orderPlacement", "productEvents", "orderStats"):
        assert f"### `ddb-blueprint-prod-{role}`" in report
    assert "| `ShopperCartItems` | `shopperCart` |" in report
    assert "Shoppers see and change their own cart and nobody else's." in report
    assert "`cognito-identity.amazonaws.com:aud` = `(known after apply)`" in report


def test_isolation_proof_is_in_the_report_and_passes(reviews):
    report = text(reviews["prod"])
    assert "Isolation proof: 50 of 50 requests" in report and "MISMATCH" not in report
    assert reviews["prod"].isolation_failures == 0


def test_key_policy_statements_are_explained(reviews):
    report = text(reviews["prod"])
    assert "| `AccountRootAdministersKeyNoLockout` | Allow |" in report
    assert "The account can always administer the key (no lockout)" in report


def test_html_rendering_is_written(reviews):
    html = reviews["dev"].html_path.read_text()
    assert html.startswith("<!doctype html>") and "<table>" in html and "Security review: ddb-blueprint / dev" in html


def run_audit(root: Path, stack: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stacks", "audit", stack, "--out", str(out)], cwd=root,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)})


def test_broken_grant_is_a_config_error_before_any_policy_is_written(scratch, tmp_path):
    access = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:access"]["value"]
    access["grants"]["shopperCart"]["actions"] = ["dynamodb:Scan"]
    scratch.set_model("access", access)
    scratch.write_stack("qa", {"aws:region": "us-east-1"})
    result = run_audit(scratch.root, "qa", tmp_path)
    assert result.returncode == 2
    assert "ddb-blueprint:access.grants.shopperCart.rowScope: row-scoped grants cannot include dynamodb:Scan" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "qa").exists()


def test_mandatory_guardrail_failure_fails_the_audit_but_keeps_the_report(scratch, tmp_path):
    scratch.write_stack("qa", {"aws:region": "us-east-1", "ddb-blueprint:pointInTimeRecovery": False})
    result = run_audit(scratch.root, "qa", tmp_path)
    assert result.returncode == 1
    report = (tmp_path / "qa" / "security-review.md").read_text()
    assert "**Guardrails: FAIL**" in report and "`ddb-blueprint:pointInTimeRecovery`" in report
