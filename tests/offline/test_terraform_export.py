"""`export-tf`: the plan as Terraform JSON with the AWS provider's resource types and arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import run_in_process
from stacks.offline.terraform import singular, snake, terraform_type, to_terraform

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prod(reference_preview):
    plan = reference_preview("prod").plan
    return plan, to_terraform(plan)


@pytest.mark.parametrize("pulumi_type, expected", [
    ("aws:dynamodb/table:Table", "aws_dynamodb_table"),
    ("aws:iam/rolePolicy:RolePolicy", "aws_iam_role_policy"),
    ("aws:apigateway/restApi:RestApi", "aws_api_gateway_rest_api"),
    ("aws:apigateway/response:Response", "aws_api_gateway_gateway_response"),
    ("aws:cognito/identityPoolRoleAttachment:IdentityPoolRoleAttachment", "aws_cognito_identity_pool_roles_attachment"),
    ("aws:lambda/eventSourceMapping:EventSourceMapping", "aws_lambda_event_source_mapping"),
    ("aws:cloudwatch/logGroup:LogGroup", "aws_cloudwatch_log_group"),
    # Terraform's VPC types carry no "ec2": under aws_ec2_vpc, ... no scanner checked the DAX network
    ("aws:ec2/vpc:Vpc", "aws_vpc"),
    ("aws:ec2/securityGroup:SecurityGroup", "aws_security_group"),
    ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws_default_security_group"),
    ("aws:ec2/flowLog:FlowLog", "aws_flow_log"),
    ("aws:ec2/vpcEndpoint:VpcEndpoint", "aws_vpc_endpoint"),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws_vpc_security_group_ingress_rule"),
    ("ddb-blueprint:index:Table", None),
])
def test_pulumi_types_map_to_terraform_types(pulumi_type, expected):
    assert terraform_type(pulumi_type) == expected


def test_names_become_snake_case_and_pluralised_blocks_singular():
    assert snake("pointInTimeRecovery") == "point_in_time_recovery"
    assert singular("globalSecondaryIndexes") == "globalSecondaryIndex" and singular("attributes") == "attribute"
    assert singular("cognitoIdentityProviders") == "cognitoIdentityProviders"  # Terraform's own plural block


def test_every_aws_resource_of_the_plan_is_exported_once(prod):
    plan, terraform = prod
    custom = [r for r in plan["resources"] if r["custom"]]
    exported = [(kind, name) for kind, items in terraform["resource"].items() for name in items]
    assert len(exported) == len(custom) == len(set(exported))


def test_a_table_renders_as_terraform_expects(prod):
    table = prod[1]["resource"]["aws_dynamodb_table"]["products"]
    assert table["hash_key"] == "productId" and table["billing_mode"] == "PROVISIONED"
    assert {"name": "productId", "type": "S"} in table["attribute"]
    assert table["global_secondary_index"][0]["name"] == "byCategory"
    assert table["point_in_time_recovery"] == {"enabled": True, "recovery_period_in_days": 35}
    # the key ARN is known after apply: a reference to the key, which graph checks follow
    assert table["server_side_encryption"] == {"enabled": True, "kms_key_arn": "${aws_kms_key.tables-key-us-east-1.arn}"}
    assert table["tags"]["cost-center"] == "data-platform"  # map keys are data, never renamed
    lifecycle = table["lifecycle"]
    assert lifecycle["create_before_destroy"] is True and lifecycle["prevent_destroy"] is True  # Pulumi's default, protect
    # autoscaling owns the capacities; GSIs are a set, so the whole block is ignored (T7)
    assert "global_secondary_index" in lifecycle["ignore_changes"] and "read_capacity" in lifecycle["ignore_changes"]


def test_renamed_arguments_and_free_form_maps(prod):
    resources = prod[1]["resource"]
    assert resources["aws_lambda_permission"]["api-placeOrder-invoke"]["function_name"] == "ddb-blueprint-prod-placeOrder"
    assert resources["aws_lambda_function"]["functions-placeOrder"]["function_name"] == "ddb-blueprint-prod-placeOrder"
    integration = resources["aws_api_gateway_integration"]["api-getCart-integration"]
    assert integration["rest_api_id"] == "${aws_api_gateway_rest_api.api.id}"
    assert "application/json" in integration["request_templates"]
    assert "cognito_identity_providers" in resources["aws_cognito_identity_pool"]["app-identity-identities"]


def test_the_dax_network_references_its_resources(prod):
    resources = prod[1]["resource"]
    # a block's dependencies are its arguments' together; the argument's name picks the security group
    vpc_config = resources["aws_lambda_function"]["functions-getProductViaDax"]["vpc_config"]
    assert vpc_config["security_group_ids"] == ["${aws_security_group.dax-network-clients.id}"]
    assert resources["aws_flow_log"]["dax-network-flow-log"]["vpc_id"] == "${aws_vpc.dax-network-vpc.id}"
    assert resources["aws_default_security_group"]["dax-network-default-sg"]["vpc_id"] == "${aws_vpc.dax-network-vpc.id}"


def test_export_tf_command_writes_the_file(tmp_path):
    done = run_in_process(REPO, "export-tf", "dev", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "dev" / "terraform" / "main.tf.json").read_text())
    assert "aws_dynamodb_table" in document["resource"]
