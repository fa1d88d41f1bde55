"""evaluate_plan and load_policy_config: the pack run over a recorded plan without an engine."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.guardrails import PACK_ENFORCEMENT_LEVEL, PACK_NAME, POLICIES
from policies.guardrails.base import schema_defaults
from policies.guardrails.offline import Report, check_policy_config, evaluate_plan, load_policy_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "policies" / "config"
UNKNOWN = UNKNOWN_STRING_VALUE
TABLE = "aws:dynamodb/table:Table"
KMS_KEY = "aws:kms/key:Key"
COMPONENT_URN = "urn:pulumi:test::ddb-blueprint::ddb-blueprint:index:Table::products"
ALL_POLICIES = [policy.name for policy in POLICIES]

KEY_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "KeyAdministrators", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/key-admin"},
     "Action": "kms:*", "Resource": "*"},
]})
GOOD_KEY_INPUTS = {"enableKeyRotation": True, "deletionWindowInDays": 30, "policy": KEY_POLICY}
GOOD_TABLE_INPUTS = {
    "billingMode": "PAY_PER_REQUEST",
    "serverSideEncryption": {"enabled": True, "kmsKeyArn": UNKNOWN},  # the key above, not created yet
    "pointInTimeRecovery": {"enabled": True},
    "deletionProtectionEnabled": True,
}


def resource(type_: str, name: str, inputs: dict[str, Any], *, protect: bool = True,
             custom: bool = True) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:test::ddb-blueprint::ddb-blueprint:index:Table${type_}::{name}",
        "type": type_, "name": name, "parent": COMPONENT_URN, "custom": custom,
        "inputs": copy.deepcopy(inputs),
        "options": {"protect": protect, "retainOnDelete": protect, "ignoreChanges": [], "dependsOn": [],
                    "deleteBeforeReplace": False, "aliases": [], "replaceOnChanges": [],
                    "additionalSecretOutputs": []},
        "dependencies": [], "propertyDependencies": {},
    }


COMPONENT = {**resource("ddb-blueprint:index:Table", "products", {"tableName": "products"}, custom=False),
             "urn": COMPONENT_URN, "parent": None}
GOOD_KEY = resource(KMS_KEY, "products-key", GOOD_KEY_INPUTS)
GOOD_TABLE = resource(TABLE, "products", GOOD_TABLE_INPUTS)
UNENCRYPTED_TABLE = resource(TABLE, "orders", {k: v for k, v in GOOD_TABLE_INPUTS.items() if k != "serverSideEncryption"})
UNKNOWN_POLICY_KEY = resource(KMS_KEY, "orders-key", {**GOOD_KEY_INPUTS, "policy": UNKNOWN})
UNPROTECTED_TABLE = resource(TABLE, "audit", {**GOOD_TABLE_INPUTS, "deletionProtectionEnabled": False}, protect=False)


def plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"project": "ddb-blueprint", "stack": "test", "resources": list(resources), "outputs": {}}


def outcomes(report: Report, policy: str) -> list[tuple[str, str, str]]:
    return [(r["urn"], r["enforcementLevel"], r["outcome"]) for r in report.results if r["policy"] == policy]


# --- evaluate_plan ----------------------------------------------------------------------------

def test_compliant_plan_passes_every_policy():
    report = evaluate_plan(plan(COMPONENT, GOOD_KEY, GOOD_TABLE), {})
    assert report.results == [] and report.passed == ALL_POLICIES and report.disabled == []


def test_component_resources_are_not_judged():
    report = evaluate_plan(plan({**COMPONENT, "inputs": {"billingMode": "ON_DEMAND"}}), {})
    assert report.results == []


def test_mandatory_violation_is_counted():  # K4
    report = evaluate_plan(plan(COMPONENT, GOOD_KEY, GOOD_TABLE, UNENCRYPTED_TABLE), {})
    [violation] = report.mandatory_violations
    assert (violation["policy"], violation["urn"]) == ("dynamodb-table-cmk-encryption", UNENCRYPTED_TABLE["urn"])
    assert violation["message"].startswith("serverSideEncryption is not set")
    assert "dynamodb-table-cmk-encryption" not in report.passed


def test_advisory_override_is_reported_but_not_counted_as_mandatory():
    config = {"dynamodb-table-cmk-encryption": {"enforcementLevel": "advisory"}}
    report = evaluate_plan(plan(UNENCRYPTED_TABLE), config)
    assert outcomes(report, "dynamodb-table-cmk-encryption") == [(UNENCRYPTED_TABLE["urn"], "advisory", "violation")]
    assert report.mandatory_violations == []


def test_all_override_applies_to_every_policy_without_its_own_level():
    config = {"all": "advisory", "dynamodb-table-pitr": {"enforcementLevel": "mandatory"}}
    table = resource(TABLE, "bare", {}, protect=False)
    report = evaluate_plan(plan(table), config)
    assert {r["policy"] for r in report.mandatory_violations} == {"dynamodb-table-pitr"}
    assert outcomes(report, "dynamodb-table-cmk-encryption") == [(table["urn"], "advisory", "violation")]


def test_remediate_level_is_reported_as_mandatory():  # as the engine does when nothing remediates
    report = evaluate_plan(plan(UNENCRYPTED_TABLE), {"dynamodb-table-cmk-encryption": "remediate"})
    assert outcomes(report, "dynamodb-table-cmk-encryption") == [(UNENCRYPTED_TABLE["urn"], "mandatory", "violation")]


def test_disabled_policy_is_skipped_and_listed():
    report = evaluate_plan(plan(UNENCRYPTED_TABLE), {"dynamodb-table-cmk-encryption": {"enforcementLevel": "disabled"}})
    assert outcomes(report, "dynamodb-table-cmk-encryption") == []
    assert report.disabled == ["dynamodb-table-cmk-encryption"]
    assert "dynamodb-table-cmk-encryption" not in report.passed


def test_unknown_value_is_reported_as_advisory_unknown_not_as_failure():
    report = evaluate_plan(plan(UNKNOWN_POLICY_KEY), {})
    [result] = report.results
    assert (result["policy"], result["enforcementLevel"], result["outcome"]) == (
        "kms-key-explicit-policy", "advisory", "unknown")
    assert result["message"] == "string value at .policy can't be known during preview"
    assert report.mandatory_violations == []
    assert "kms-key-explicit-policy" not in report.passed


def test_violations_reported_before_an_unknown_are_kept():  # K5
    key = resource(KMS_KEY, "short-window", {**GOOD_KEY_INPUTS, "policy": UNKNOWN, "deletionWindowInDays": 7})
    report = evaluate_plan(plan(key), {})
    assert [r["outcome"] for r in report.results] == ["violation", "unknown"]


def test_config_properties_merge_over_schema_defaults():  # K5
    key = resource(KMS_KEY, "short-window", {**GOOD_KEY_INPUTS, "deletionWindowInDays": 7})
    assert len(evaluate_plan(plan(key), {}).mandatory_violations) == 1
    relaxed = {"kms-key-explicit-policy": {"minimumDeletionWindowDays": 7}}
    assert evaluate_plan(plan(key), relaxed).results == []


def test_secret_inputs_are_judged_on_their_value():  # the engine unwraps secrets before policies run
    secret = {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": True}
    table = resource(TABLE, "secretive", {**GOOD_TABLE_INPUTS, "deletionProtectionEnabled": secret})
    assert evaluate_plan(plan(table), {}).results == []


def test_dev_config_reports_protection_rules_as_not_applicable():
    report = evaluate_plan(plan(UNPROTECTED_TABLE), load_policy_config(CONFIG_DIR / "dev.json"))
    assert {(r["policy"], r["outcome"]) for r in report.results} == {
        ("dynamodb-table-deletion-protection", "not-applicable"), ("stateful-resources-protected", "not-applicable"),
        ("dynamodb-replica-deletion-protection", "not-applicable")}
    assert report.mandatory_violations == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_configs_require_protection(stack: str):  # T5
    report = evaluate_plan(plan(UNPROTECTED_TABLE), load_policy_config(CONFIG_DIR / f"{stack}.json"))
    assert {r["policy"] for r in report.mandatory_violations} == {
        "dynamodb-table-deletion-protection", "stateful-resources-protected"}


def test_stack_policy_sees_linked_resources_and_reports_against_the_named_urn():
    def validate(args: StackValidationArgs, report_violation: Any) -> None:
        for r in args.resources:
            if r.resource_type == TABLE and r.parent is not None and r.parent.urn == COMPONENT_URN:
                report_violation(f"{r.name} seen", r.urn)

    stack_policy = StackValidationPolicy(name="stack-probe", description="test probe", validate=validate,
                                         enforcement_level=EnforcementLevel.ADVISORY)
    report = evaluate_plan(plan(COMPONENT, GOOD_TABLE), {}, policies=[stack_policy])
    assert [(r["urn"], r["message"], r["enforcementLevel"]) for r in report.results] == [
        (GOOD_TABLE["urn"], "products seen", "advisory")]


def test_report_to_dict_is_json_serialisable():
    report = evaluate_plan(plan(UNENCRYPTED_TABLE, UNKNOWN_POLICY_KEY), {})
    data = json.loads(json.dumps(report.to_dict()))
    assert data["mandatoryViolations"] == 1
    assert set(data["results"][0]) == {"policy", "enforcementLevel", "urn", "message", "outcome"}


def test_offline_results_match_the_real_analyzer():
    """The pulumi-policy analyzer itself, in-process, gives the same outcomes for the same plan."""
    resources = [COMPONENT, GOOD_KEY, GOOD_TABLE, UNENCRYPTED_TABLE, UNKNOWN_POLICY_KEY, UNPROTECTED_TABLE,
                 resource("aws:dynamodb/globalTable:GlobalTable", "legacy", {"name": "legacy"}),
                 resource(TABLE, "provisioned", {**GOOD_TABLE_INPUTS, "billingMode": "PROVISIONED", "readCapacity": 5}),
                 resource(KMS_KEY, "no-rotation", {**GOOD_KEY_INPUTS, "enableKeyRotation": False})]
    config = {**load_policy_config(CONFIG_DIR / "dev.json"), "kms-key-rotation": {"enforcementLevel": "advisory"}}
    offline = {(r["policy"], r["urn"], r["enforcementLevel"], r["outcome"], r["message"])
               for r in evaluate_plan(plan(*resources), config).results}
    assert offline == _engine_results(resources, config)
    assert {outcome for *_, outcome, _ in offline} == {"violation", "unknown", "not-applicable"}


def test_offline_iam_results_match_the_real_analyzer():  # I2, I3, I7
    """The same parity for IAM and Cognito resources: JSON documents, an unknown trust policy, a known
    trust policy whose pool id is unknown."""
    trust = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ShopperAssumedByCognito", "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
        "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": UNKNOWN},
                      "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}}]}
    scan = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ShopperCartItems", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Scan"],
        "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/ddb-blueprint-dev-carts",
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:PrincipalTag/userSub}"]},
                      "Null": {"dynamodb:LeadingKeys": "false"}}}]}
    resources = [
        resource("aws:iam/role:Role", "shopper-role", {"assumeRolePolicy": json.dumps(trust)}, protect=False),
        resource("aws:iam/role:Role", "preview-role", {"assumeRolePolicy": UNKNOWN}, protect=False),
        resource("aws:iam/rolePolicy:RolePolicy", "shopper-access", {"policy": json.dumps(scan), "role": UNKNOWN}),
        resource("aws:cognito/identityPool:IdentityPool", "identities", {"allowUnauthenticatedIdentities": True}),
        resource("aws:cognito/identityPoolRoleAttachment:IdentityPoolRoleAttachment", "roles",
                 {"roles": {"authenticated": UNKNOWN, "unauthenticated": UNKNOWN}}),
    ]
    config = load_policy_config(CONFIG_DIR / "dev.json")
    offline = {(r["policy"], r["urn"], r["enforcementLevel"], r["outcome"], r["message"])
               for r in evaluate_plan(plan(*resources), config).results}
    assert offline == _engine_results(resources, config)
    assert {(policy, outcome) for policy, _, _, outcome, _ in offline} == {
        ("iam-cognito-trust", "unknown"), ("iam-service-trust-scoped", "unknown"),
        ("iam-leading-keys", "violation"), ("iam-row-scoped-no-scan", "violation"),
        ("iam-no-unauthenticated-identities", "violation")}


def _engine_results(resources: list[dict[str, Any]], config: dict[str, dict[str, Any]]) -> set[tuple[str, ...]]:
    levels = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY, "disabled": proto.DISABLED}
    names = {value: name for name, value in levels.items()}
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", POLICIES, PACK_ENFORCEMENT_LEVEL)
    request = proto.ConfigureAnalyzerRequest()
    for policy in POLICIES:  # the CLI sends every policy with its resolved level and defaulted properties
        entry = config.get(policy.name, {})
        level = entry.get("enforcementLevel") or policy.enforcement_level.value
        properties = {**schema_defaults(policy.config_schema), **{k: v for k, v in entry.items() if k != "enforcementLevel"}}
        request.policyConfig[policy.name].enforcementLevel = levels[level]
        request.policyConfig[policy.name].properties.update(properties)
    servicer.Configure(request, None)

    results: set[tuple[str, ...]] = set()
    for r in resources:
        properties = struct_pb2.Struct()
        properties.update(r["inputs"])
        response = servicer.Analyze(proto.AnalyzeRequest(
            type=r["type"], properties=properties, urn=r["urn"], name=r["name"],
            options=proto.AnalyzerResourceOptions(protect=r["options"]["protect"])), None)
        for d in response.diagnostics:
            unknown = "during preview: " in d.message
            message = d.message.split("during preview: ", 1)[1] if unknown else d.message.split("\n", 1)[1]
            results.add((d.policyName, r["urn"], names[d.enforcementLevel], "unknown" if unknown else "violation", message))
        for skipped in response.not_applicable:
            level = config.get(skipped.policy_name, {}).get("enforcementLevel", "mandatory")
            results.add((skipped.policy_name, r["urn"], level, "not-applicable", skipped.reason))
    return results


# --- load_policy_config -----------------------------------------------------------------------

def write(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "stack.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def test_load_policy_config_rejects_unknown_policy_naming_file_and_policy(tmp_path: Path):
    path = write(tmp_path, {"dynamodb-table-encryption": {"enforcementLevel": "mandatory"}})
    with pytest.raises(ValueError, match=r"stack\.json: policy 'dynamodb-table-encryption' is not in the pack"):
        load_policy_config(path)


def test_load_policy_config_rejects_bad_enforcement_level_naming_file_and_policy(tmp_path: Path):
    path = write(tmp_path, {"dynamodb-table-pitr": {"enforcementLevel": "warn"}})
    with pytest.raises(ValueError, match=r"stack\.json: policy 'dynamodb-table-pitr': enforcementLevel 'warn'"):
        load_policy_config(path)


def test_load_policy_config_rejects_undeclared_property(tmp_path: Path):
    path = write(tmp_path, {"stateful-resources-protected": {"requried": False}})
    with pytest.raises(ValueError, match=r"stack\.json: policy 'stateful-resources-protected': unknown property 'requried'"):
        load_policy_config(path)


def test_load_policy_config_rejects_property_of_wrong_type(tmp_path: Path):
    path = write(tmp_path, {"stateful-resources-protected": {"required": "false"}})
    with pytest.raises(ValueError, match="must be of type boolean"):
        load_policy_config(path)


def test_load_policy_config_rejects_invalid_json(tmp_path: Path):
    with pytest.raises(ValueError, match=r"stack\.json: not valid JSON"):
        load_policy_config(write(tmp_path, "{"))


def test_load_policy_config_accepts_a_bare_enforcement_level(tmp_path: Path):
    path = write(tmp_path, {"all": "advisory", "kms-key-rotation": "disabled"})
    assert load_policy_config(path) == {"all": {"enforcementLevel": "advisory"},
                                        "kms-key-rotation": {"enforcementLevel": "disabled"}}


def test_evaluate_plan_validates_its_config():
    with pytest.raises(ValueError, match="policy 'no-such-policy'"):
        evaluate_plan(plan(), {"no-such-policy": "advisory"})


@pytest.mark.parametrize(("stack", "required"), [("dev", False), ("staging", True), ("prod", True)])
def test_stack_configs_set_protection_requirements(stack: str, required: bool):
    config = load_policy_config(CONFIG_DIR / f"{stack}.json")
    assert config["dynamodb-table-deletion-protection"]["required"] is required
    assert config["stateful-resources-protected"]["required"] is required


def test_check_policy_config_allows_every_pack_policy():
    assert check_policy_config({name: "mandatory" for name in ALL_POLICIES}).keys() == set(ALL_POLICIES)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rules_run_only_on_their_resource_types_with_the_results_of_running_on_all(stack: str, monkeypatch,
                                                                                   reference_preview):
    # The evaluator skips resources a rule's of_type excludes (the rule would return at once);
    # the report must be exactly the one of calling every rule on every resource.
    from policies.guardrails import offline

    repo = Path(__file__).resolve().parents[2]
    plan = copy.deepcopy(reference_preview(stack).plan)
    config = load_policy_config(repo / "policies" / "config" / f"{stack}.json")
    filtered = evaluate_plan(plan, config).to_dict()
    monkeypatch.setattr(offline, "applies_to", lambda policy: None)
    assert evaluate_plan(plan, config).to_dict() == filtered
    assert filtered["results"] or filtered["passed"]
