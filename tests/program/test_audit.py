"""`python -m stacks audit`: the security review a reviewer approves a stack from."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli import run_in_process

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reviews(reference_audit):
    return {stack: reference_audit(stack) for stack in ("dev", "prod")}  # checkov: tests/offline/test_scanner.py


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
    assert "They change it only through the API, which validates every value; no direct writes." in report
    # issue 8 item 5: the reduced rights, in the reviewer's words and in the proof
    assert "`shopperCart` on `carts`: row-scoped" in report and "read-only: app users change these items only through the API" in report
    for action in ("PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem"):
        assert f"| `shopperCart` | undeclared dynamodb:{action} on own partition | deny | deny |" in report
    assert "`cognito-identity.amazonaws.com:aud` = `(known after apply)`" in report


def test_isolation_proof_is_in_the_report_and_passes(reviews):
    report = text(reviews["prod"])
    # The shopper role's grants (shopperCart, shopperOrders; row-scoped, read-only): 45 requests in
    # the home region (22 + 23, among them a never-granted GetItem on each regional table:
    # idempotency, productSales, sessions), plus per row-scoped item action (3 per grant, 6 in all)
    # own/other partition in each of the 2 replica regions and own partition in one region without
    # a copy: 6 * 5 = 30.
    assert "Isolation proof: 75 of 75 requests" in report and "MISMATCH" not in report
    assert "GetItem on table productSales (never granted) | deny | deny |" in report
    assert "in replica region eu-west-1" in report and "no copy of the table there" in report
    assert reviews["prod"].isolation_failures == 0


def test_key_policy_statements_are_explained(reviews):
    report = text(reviews["prod"])
    assert "| `AccountRootAdministersKeyNoLockout` | Allow |" in report
    assert "The account can always administer the key (no lockout)" in report


def test_html_rendering_is_written(reviews):
    html = reviews["dev"].html_path.read_text()
    assert html.startswith("<!doctype html>") and "<table>" in html and "Security review: ddb-blueprint / dev" in html


def run_audit(root: Path, stack: str, out: Path):
    return run_in_process(root, "audit", stack, "--out", str(out), "--no-scanner")


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


def test_declared_direct_writes_are_listed_as_a_protection_turned_off(scratch, tmp_path):  # issue 8 item 5
    access = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:access"]["value"]
    access["grants"]["shopperCart"].update({"access": ["read", "write"], "directWrites": True})
    scratch.set_model("access", access)
    scratch.write_stack("qa", {"aws:region": "us-east-1"})
    run_audit(scratch.root, "qa", tmp_path)
    report = (tmp_path / "qa" / "security-review.md").read_text()
    section = report.split("## Security defaults this stack turns off")[1].split("## Tables")[0]
    assert "| `ddb-blueprint:access.grants.shopperCart.directWrites` | `true` | `false` |" in section
    assert "**direct writes declared**" in report


def test_prod_review_shows_the_dax_path_roles_and_who_may_use_dax(reviews):
    section = text(reviews["prod"]).split("## DAX")[1].split("## Roles")[0]
    assert "3 x `dax.r5.large`" in section and "Encryption in transit: `TLS`" in section
    assert "AWS managed key" in section and "Certificate Transparency" in section
    assert "tcp 9111-9111 from the client security group" in section
    assert "no internet gateway, no NAT" in section and "`com.amazonaws.us-east-1.dynamodb` (Gateway)" in section
    assert "no aws:SourceAccount/aws:SourceArn support for DAX" in section
    assert "| `getProductViaDax` | service | yes |" in section
    assert "| `shopper` | cognitoUser | no | app users are outside the VPC" in section
    assert "| `productEvents` | service | no | no `via: dax` grant" in section


def test_dev_review_says_dax_is_off(reviews):
    assert "DAX is off in this stack" in text(reviews["dev"]).split("## DAX")[1].split("## Roles")[0]


def test_review_shows_every_replica_with_its_in_region_key_pitr_and_protection(reviews):  # K1, T16
    report = text(reviews["prod"])
    section = report.split("## Global tables")[1].split("## KMS key policies")[0]
    for table in ("carts", "orders", "products"):
        for region in ("us-west-2", "eu-west-1"):
            assert f"| `ddb-blueprint-prod-{table}` | {region} | EVENTUAL | `tables-key-{region}` | on | on | yes |" in section
    assert ("Regional tables (global: false): `ddb-blueprint-prod-idempotency`, `ddb-blueprint-prod-productSales`, "
            "`ddb-blueprint-prod-sessions`.") in section
    assert "### `tables-key-eu-west-1`" in report  # the replica region's key policy is reviewed too
    assert "None: every table lives in `us-east-1` only." in text(reviews["dev"])


def test_review_sums_the_isolation_proof_per_region(reviews):
    report = text(reviews["prod"])
    assert "| us-east-1 | 45 of 45 |" in report
    assert "| us-west-2 | 12 of 12 |" in report and "| eu-west-1 | 12 of 12 |" in report
    assert "(no copy) | 6 of 6 |" in report
