"""Guardrails of global tables over small plans: replica keys in their own region (K1, K2), PITR and
deletion protection on every replica (T16), valid topology (T1, T10, T13)."""

from __future__ import annotations

import copy
from typing import Any

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.guardrails.offline import evaluate_plan

UNKNOWN = UNKNOWN_STRING_VALUE
TABLE = "aws:dynamodb/table:Table"
KMS_KEY = "aws:kms/key:Key"


def resource(type_: str, name: str, inputs: dict[str, Any], deps: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:test::ddb-blueprint::{type_}::{name}", "type": type_, "name": name, "parent": None,
        "custom": True, "inputs": copy.deepcopy(inputs),
        "options": {"protect": True, "retainOnDelete": True, "ignoreChanges": [], "dependsOn": [], "deleteBeforeReplace": False,
                    "aliases": [], "replaceOnChanges": [], "additionalSecretOutputs": []},
        "dependencies": sorted({u for urns in (deps or {}).values() for u in urns}), "propertyDependencies": deps or {},
    }


def key(name: str, region: str | None) -> dict[str, Any]:
    inputs: dict[str, Any] = {"enableKeyRotation": True, "deletionWindowInDays": 30, "policy": '{"Version": "2012-10-17", "Statement": []}'}
    if region:
        inputs["region"] = region
    return resource(KMS_KEY, name, inputs)


HOME_KEY, WEST_KEY, EU_KEY = key("home-key", None), key("west-key", "us-west-2"), key("eu-key", "eu-west-1")


def replica(region: str, **changes: Any) -> dict[str, Any]:
    return {"regionName": region, "kmsKeyArn": UNKNOWN, "pointInTimeRecovery": True, "deletionProtectionEnabled": True,
            "propagateTags": True, "consistencyMode": "EVENTUAL", **changes}


def table(replicas: list[dict], keys: list[dict], **changes: Any) -> dict[str, Any]:
    inputs = {"billingMode": "PAY_PER_REQUEST", "serverSideEncryption": {"enabled": True, "kmsKeyArn": UNKNOWN},
              "pointInTimeRecovery": {"enabled": True}, "deletionProtectionEnabled": True, "streamEnabled": True,
              "streamViewType": "NEW_AND_OLD_IMAGES", "replicas": replicas, **changes}
    deps = {"serverSideEncryption": [HOME_KEY["urn"]], "replicas": [k["urn"] for k in keys]}
    return resource(TABLE, "orders", inputs, deps)


def results(policy: str, *resources: dict[str, Any], config: dict | None = None) -> list[tuple[str, str]]:
    report = evaluate_plan({"project": "ddb-blueprint", "stack": "test", "resources": list(resources), "outputs": {}}, config or {})
    return [(r["outcome"], r.get("message", "")) for r in report.results if r["policy"] == policy]


def violations(policy: str, *resources: dict[str, Any], **kwargs: Any) -> list[str]:
    return [m for outcome, m in results(policy, *resources, **kwargs) if outcome == "violation"]


GOOD = [HOME_KEY, WEST_KEY, EU_KEY, table([replica("us-west-2"), replica("eu-west-1")], [WEST_KEY, EU_KEY])]
POLICIES = ("dynamodb-replica-keys-in-region", "dynamodb-replica-pitr", "dynamodb-replica-deletion-protection", "dynamodb-replica-topology")


def test_a_well_formed_global_table_passes_every_replica_guardrail():
    for policy in POLICIES:
        assert violations(policy, *GOOD) == [], policy


def test_a_replica_encrypted_with_the_home_regions_key_is_a_violation():  # K1
    found = violations("dynamodb-replica-keys-in-region", HOME_KEY, WEST_KEY,
                       table([replica("us-west-2"), replica("eu-west-1")], [WEST_KEY, HOME_KEY]))
    assert len(found) == 1 and "eu-west-1" in found[0] and "home-key (provider region)" in found[0]


def test_a_known_key_arn_in_another_region_is_a_violation():  # K1
    arn = "arn:aws:kms:us-east-1:111111111111:key/abc"
    found = violations("dynamodb-replica-keys-in-region", table([replica("us-west-2", kmsKeyArn=arn)], []))
    assert len(found) == 1 and "not a key ARN in us-west-2" in found[0]
    ok = "arn:aws:kms:us-west-2:111111111111:key/abc"
    assert violations("dynamodb-replica-keys-in-region", table([replica("us-west-2", kmsKeyArn=ok)], [])) == []


def test_a_replica_without_pitr_is_a_violation():
    found = violations("dynamodb-replica-pitr", table([replica("us-west-2", pointInTimeRecovery=False)], [WEST_KEY]))
    assert len(found) == 1 and "replicas[0] (us-west-2).pointInTimeRecovery is false" in found[0]


def test_a_replica_without_deletion_protection_is_a_violation_unless_the_stack_waives_it():
    bad = table([replica("us-west-2", deletionProtectionEnabled=False)], [WEST_KEY])
    assert len(violations("dynamodb-replica-deletion-protection", bad)) == 1
    waived = {"dynamodb-replica-deletion-protection": {"required": False}}
    assert violations("dynamodb-replica-deletion-protection", bad, config=waived) == []


def test_eventual_replicas_need_a_new_and_old_images_stream():  # T1
    found = violations("dynamodb-replica-topology", table([replica("us-west-2")], [WEST_KEY], streamViewType="KEYS_ONLY"))
    assert len(found) == 1 and "NEW_AND_OLD_IMAGES" in found[0]


def test_duplicate_regions_mixed_modes_and_stray_witness_are_violations():  # T10
    assert "more than once" in violations("dynamodb-replica-topology", table([replica("us-west-2"), replica("us-west-2")], [WEST_KEY]))[0]
    mixed = table([replica("us-east-2", consistencyMode="STRONG"), replica("us-west-2")], [WEST_KEY])
    assert "mix consistency modes" in violations("dynamodb-replica-topology", mixed)[0]
    witness = table([replica("us-west-2")], [WEST_KEY], globalTableWitness={"regionName": "us-east-2"})
    assert "EVENTUAL" in violations("dynamodb-replica-topology", witness)[0]


def test_strong_topology_three_regions_or_two_plus_witness_in_one_set():  # T10
    strong = {"consistencyMode": "STRONG"}
    ok3 = table([replica("us-east-2", **strong), replica("us-west-2", **strong)], [WEST_KEY])
    ok2w = table([replica("us-east-2", **strong)], [WEST_KEY], globalTableWitness={"regionName": "us-west-2"})
    assert violations("dynamodb-replica-topology", ok3) == [] and violations("dynamodb-replica-topology", ok2w) == []
    too_few = table([replica("us-east-2", **strong)], [WEST_KEY])
    assert "2 replica blocks" in violations("dynamodb-replica-topology", too_few)[0]
    spread = table([replica("us-east-2", **strong), replica("eu-west-1", **strong)], [WEST_KEY])
    assert "one region set" in violations("dynamodb-replica-topology", spread)[0]


def test_strong_tables_may_not_use_ttl_or_local_indexes():  # T13
    strong = {"consistencyMode": "STRONG"}
    ttl = table([replica("us-east-2", **strong), replica("us-west-2", **strong)], [WEST_KEY], ttl={"attributeName": "x", "enabled": True})
    assert any("TTL" in m for m in violations("dynamodb-replica-topology", ttl))
    lsi = table([replica("us-east-2", **strong), replica("us-west-2", **strong)], [WEST_KEY],
                localSecondaryIndexes=[{"name": "byX", "rangeKey": "x", "projectionType": "ALL"}])
    assert any("local secondary" in m for m in violations("dynamodb-replica-topology", lsi))


def test_an_unknown_replica_list_cannot_be_judged():
    outcomes = results("dynamodb-replica-pitr", resource(TABLE, "t", {"replicas": UNKNOWN}))
    assert [o for o, _ in outcomes] == ["unknown"]


def test_regional_tables_are_not_affected():
    plain = resource(TABLE, "sessions", {"billingMode": "PAY_PER_REQUEST"})
    for policy in POLICIES:
        assert violations(policy, plain) == [], policy
