"""`python -m stacks preview` against the previous plan of the stack: replica changes per region,
the one-replica-per-update rule (T2), and the create-time-only consistency mode (T10)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from tests.cli import run_in_process

REPO = Path(__file__).resolve().parents[2]
MODEL = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:tables"]["value"]


def run_preview(root: Path, stack: str, out: Path):
    return run_in_process(root, "preview", stack, "--out", str(out))


# A scratch stack has no policy config (policies/config/qa.json), so every protection is required:
# give it the settings the unrelated guardrails ask for (log retention, reserved concurrency, SES
# email), so that the preview's exit code is about replication only.
GUARDRAIL_SETTINGS = {
    "ddb-blueprint:apiLogRetentionDays": 365,
    "ddb-blueprint:functionLogRetentionDays": 365,
    "ddb-blueprint:functionConcurrency": {"placeOrder": 10, "productEvents": 10, "orderStats": 10},
    "ddb-blueprint:cognitoEmail": {"sesIdentityArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
                                   "fromAddress": "Shop <no-reply@example.com>"},
}


def stack(*regions: str, mode: str = "EVENTUAL") -> dict:
    return {"aws:region": "us-east-1", "ddb-blueprint:replicaRegions": list(regions), "ddb-blueprint:replicaConsistency": mode,
            **GUARDRAIL_SETTINGS}


def test_adding_replicas_is_listed_per_region_and_two_at_once_are_refused(scratch, tmp_path):
    scratch.write_stack("qa", stack("us-west-2"))
    first = run_preview(scratch.root, "qa", tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    scratch.write_stack("qa", stack("us-west-2", "eu-west-1", "ap-south-1"))
    refused = run_preview(scratch.root, "qa", tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "BLOCKED carts [eu-west-1,ap-south-1]" in refused.stdout and "one region at a time" in refused.stdout
    assert "carts [eu-west-1] adds a replica" in refused.stdout


def test_removing_a_replica_warns_that_its_copy_is_deleted(scratch, tmp_path):
    scratch.write_stack("qa", stack("us-west-2", "eu-west-1"))
    run_preview(scratch.root, "qa", tmp_path)
    scratch.write_stack("qa", stack("us-west-2"))
    result = run_preview(scratch.root, "qa", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "orders [eu-west-1] REMOVES the replica: this region's copy of the data is deleted" in result.stdout


def test_changing_the_consistency_mode_of_an_existing_global_table_is_a_located_error(scratch, tmp_path):  # T10
    model = copy.deepcopy(MODEL)
    for table in model.values():
        table["global"] = False
    model["catalog"] = {"description": "MRSC-ready", "attributes": {"sku": "S"}, "partitionKey": "sku"}
    scratch.set_tables(model)
    scratch.write_stack("qa", stack("us-east-2", "us-west-2"))
    first = run_preview(scratch.root, "qa", tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    scratch.write_stack("qa", stack("us-east-2", "us-west-2", mode="STRONG"))
    result = run_preview(scratch.root, "qa", tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Pulumi.qa.yaml:" in result.stderr and "ddb-blueprint:replicaConsistency: tables.catalog" in result.stderr
    assert "cannot change" in result.stderr and "Traceback" not in result.stderr
