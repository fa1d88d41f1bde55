"""The DAX path of each stack, from its stack file alone: prod three TLS nodes, staging one, dev none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.offline.preview import preview

REPO = Path(__file__).resolve().parents[2]
CLUSTER = "aws:dax/cluster:Cluster"


@pytest.fixture(scope="module")
def plans(reference_preview) -> dict[str, dict]:
    return {stack: reference_preview(stack).plan for stack in ("dev", "staging", "prod")}


def of_type(plan: dict, type_: str) -> list[dict]:
    return [r for r in plan["resources"] if r["type"] == type_]


def one(plan: dict, type_: str, name: str) -> dict:
    found = [r for r in of_type(plan, type_) if r["name"] == name]
    assert len(found) == 1, (type_, name, len(found))
    return found[0]


def by_urn(plan: dict) -> dict[str, dict]:
    return {r["urn"]: r for r in plan["resources"]}


def test_dev_has_no_dax_at_all(plans):
    dev = plans["dev"]
    assert not [r for r in dev["resources"] if r["type"].startswith(("aws:dax/", "aws:ec2/"))]
    assert "dax" not in dev["outputs"]


def test_prod_cluster_has_sse_tls_three_nodes_over_three_zones(plans):  # D2, D10, D11
    cluster = one(plans["prod"], CLUSTER, "dax-cluster")["inputs"]
    assert cluster["serverSideEncryption"] == {"enabled": True}
    assert cluster["clusterEndpointEncryptionType"] == "TLS"
    assert cluster["replicationFactor"] == 3
    assert sorted(cluster["availabilityZones"]) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert cluster["clusterName"] == "shop-prod-catalogue" and cluster["nodeType"] == "dax.r5.large"


def test_staging_runs_the_same_path_at_the_smallest_size(plans):
    cluster = one(plans["staging"], CLUSTER, "dax-cluster")["inputs"]
    assert (cluster["replicationFactor"], cluster["nodeType"], cluster["clusterEndpointEncryptionType"]) == (1, "dax.t3.small", "TLS")


def test_prod_cluster_uses_its_subnet_and_parameter_groups(plans):  # D7
    plan = plans["prod"]
    cluster = one(plan, CLUSTER, "dax-cluster")
    subnets = one(plan, "aws:dax/subnetGroup:SubnetGroup", "dax-subnets")
    parameters = one(plan, "aws:dax/parameterGroup:ParameterGroup", "dax-parameters")
    assert cluster["propertyDependencies"]["subnetGroupName"] == [subnets["urn"]]
    assert cluster["propertyDependencies"]["parameterGroupName"] == [parameters["urn"]]
    assert {p["name"]: p["value"] for p in parameters["inputs"]["parameters"]} == {
        "record-ttl-millis": "300000", "query-ttl-millis": "300000"}
    subnet_urns = set(subnets["propertyDependencies"]["subnetIds"])
    zones = sorted(by_urn(plan)[u]["inputs"]["availabilityZone"] for u in subnet_urns)
    assert zones == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_cluster_security_group_admits_only_the_tls_port_from_the_client_group(plans):  # D1
    plan = plans["prod"]
    cluster_sg = one(plan, "aws:ec2/securityGroup:SecurityGroup", "dax-sg")
    client_sg = one(plan, "aws:ec2/securityGroup:SecurityGroup", "dax-network-clients")
    ingress = [r for r in of_type(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
               if r["propertyDependencies"]["securityGroupId"] == [cluster_sg["urn"]]]
    assert len(ingress) == 1
    rule = ingress[0]
    assert (rule["inputs"]["fromPort"], rule["inputs"]["toPort"], rule["inputs"]["ipProtocol"]) == (9111, 9111, "tcp")
    assert rule["propertyDependencies"]["referencedSecurityGroupId"] == [client_sg["urn"]]
    assert "cidrIpv4" not in rule["inputs"] and "cidrIpv6" not in rule["inputs"]
    for sg in (cluster_sg, client_sg):
        assert not sg["inputs"].get("ingress") and not sg["inputs"].get("egress")
    assert one(plan, CLUSTER, "dax-cluster")["propertyDependencies"]["securityGroupIds"] == [cluster_sg["urn"]]


def test_created_network_is_private_with_a_dynamodb_gateway_endpoint_and_encrypted_flow_logs(plans):  # D6
    plan = plans["prod"]
    assert not of_type(plan, "aws:ec2/internetGateway:InternetGateway") and not of_type(plan, "aws:ec2/natGateway:NatGateway")
    assert not of_type(plan, "aws:ec2/route:Route")
    for subnet in of_type(plan, "aws:ec2/subnet:Subnet"):
        assert subnet["inputs"]["mapPublicIpOnLaunch"] is False
    endpoints = of_type(plan, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert [(e["inputs"]["serviceName"], e["inputs"]["vpcEndpointType"]) for e in endpoints] == [
        ("com.amazonaws.us-east-1.dynamodb", "Gateway")]  # the DAX readers call no other service
    flow = one(plan, "aws:ec2/flowLog:FlowLog", "dax-network-flow-log")
    group = by_urn(plan)[flow["propertyDependencies"]["logDestination"][0]]
    ops_key = one(plan, "aws:kms/key:Key", "ops-key-us-east-1")
    assert group["propertyDependencies"]["kmsKeyId"] == [ops_key["urn"]]
    assert flow["inputs"]["trafficType"] == "ALL"


def test_service_role_trusts_dax_and_reads_only_the_cached_table(plans):  # D1, D3, D9
    plan = plans["prod"]
    role = one(plan, "aws:iam/role:Role", "dax-role")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "dax.amazonaws.com"}]
    policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "dax-role-policy")["inputs"]["policy"])
    resources = [r for s in policy["Statement"] if s["Action"][0].startswith("dynamodb:")
                 for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
    assert all("table/ddb-blueprint-prod-products" in r for r in resources), resources
    key = [s for s in policy["Statement"] if s["Sid"] == "TableKeyThroughDynamoDB"][0]
    assert key["Condition"]["StringEquals"] == {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}
    assert one(plan, CLUSTER, "dax-cluster")["propertyDependencies"]["iamRoleArn"] == [role["urn"]]


def test_notification_topic_is_encrypted_with_the_ops_key(plans):
    plan = plans["prod"]
    topic = one(plan, "aws:sns/topic:Topic", "dax-events")
    assert topic["propertyDependencies"]["kmsMasterKeyId"] == [one(plan, "aws:kms/key:Key", "ops-key-us-east-1")["urn"]]
    assert one(plan, CLUSTER, "dax-cluster")["propertyDependencies"]["notificationTopicArn"] == [topic["urn"]]


def test_prod_outputs_name_the_tls_endpoint_port_and_client_group(plans):
    dax = plans["prod"]["outputs"]["dax"]
    assert dax["port"] == 9111
    assert set(dax) >= {"clusterArn", "endpointUrl", "clientSecurityGroupId", "subnetIds"}


FUNCTION = "aws:lambda/function:Function"


def readers(plan: dict) -> dict[str, dict]:
    return {r["name"]: r for r in of_type(plan, FUNCTION) if r["name"].endswith("ViaDax")}


def test_prod_serves_product_reads_through_dax_from_functions_in_the_vpc(plans):
    import zipfile

    plan = plans["prod"]
    functions = readers(plan)
    assert sorted(functions) == ["functions-getProductViaDax", "functions-listProductsViaDax"]
    client_sg = one(plan, "aws:ec2/securityGroup:SecurityGroup", "dax-network-clients")
    cluster = one(plan, CLUSTER, "dax-cluster")
    for function in functions.values():
        deps = function["propertyDependencies"]
        assert deps["vpcConfig"] and client_sg["urn"] in deps["vpcConfig"]
        assert cluster["urn"] in deps["environment"]  # DAX_ENDPOINT is the cluster's endpoint
        assert "DAX_ENDPOINT" in function["inputs"]["environment"]["variables"]
        with zipfile.ZipFile(function["inputs"]["code"]["path"]) as archive:
            names = set(archive.namelist())
        assert {"handler.py", "dax_client.py", "amazondax/__init__.py", "amazondax/AmazonDaxClient.py"} <= names
    # The product read routes are Lambda proxy integrations in prod, direct DynamoDB ones in dev.
    assert integrations(plan)["api-getProductViaDax-integration"] == "AWS_PROXY"
    assert integrations(plan)["api-listProductsViaDax-integration"] == "AWS_PROXY"
    assert "api-getProduct-integration" not in integrations(plan)


def integrations(plan: dict) -> dict[str, str]:
    return {r["name"]: r["inputs"].get("type") for r in of_type(plan, "aws:apigateway/integration:Integration")}


def test_reader_roles_may_only_use_the_cluster_with_their_routes_action(plans):  # D4
    plan = plans["prod"]
    policies = {r["name"]: json.loads(r["inputs"]["policy"]) for r in of_type(plan, "aws:iam/rolePolicy:RolePolicy")
                if r["name"] in ("getProductViaDax-role-access", "listProductsViaDax-role-access")}
    protocol = {"dax:DefineAttributeList", "dax:DefineAttributeListId", "dax:DefineKeySchema", "dax:Endpoints"}
    for name, expected in (("getProductViaDax-role-access", "dax:GetItem"), ("listProductsViaDax-role-access", "dax:Query")):
        [statement] = policies[name]["Statement"]
        assert set(statement["Action"]) == protocol | {expected}
        assert statement["Resource"] == "arn:aws:dax:us-east-1:123456789012:cache/shop-prod-catalogue"


def test_dev_keeps_the_product_routes_as_direct_integrations(plans):
    assert readers(plans["dev"]) == {}
    assert integrations(plans["dev"])["api-getProduct-integration"] == "AWS"
    assert integrations(plans["dev"])["api-listProducts-integration"] == "AWS"
    assert readers(plans["staging"])  # staging exercises the DAX path before prod


def test_an_existing_vpc_is_used_not_created(scratch, tmp_path):
    import yaml

    config = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]
    config["ddb-blueprint:dax"]["network"] = {"existing": {"vpcId": "vpc-0abc1234def567890", "subnets": {
        "subnet-0aaaaaaaaaaaaaaaa": "us-east-1a", "subnet-0bbbbbbbbbbbbbbbb": "us-east-1b", "subnet-0cccccccccccccccc": "us-east-1c"}}}
    scratch.write_stack("prod", config)
    plan = preview(scratch.root, "prod", tmp_path).plan
    assert not of_type(plan, "aws:ec2/vpc:Vpc") and not of_type(plan, "aws:ec2/subnet:Subnet")
    assert not of_type(plan, "aws:ec2/flowLog:FlowLog")  # the existing VPC's logging is managed elsewhere
    subnets = one(plan, "aws:dax/subnetGroup:SubnetGroup", "dax-subnets")["inputs"]["subnetIds"]
    assert subnets == ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]
    for name in ("dax-sg", "dax-network-clients"):
        assert one(plan, "aws:ec2/securityGroup:SecurityGroup", name)["inputs"]["vpcId"] == "vpc-0abc1234def567890"
    assert sorted(one(plan, CLUSTER, "dax-cluster")["inputs"]["availabilityZones"]) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    for function in readers(plan).values():
        assert function["inputs"]["vpcConfig"]["subnetIds"] == subnets


def test_cluster_alarms_treat_missing_data_as_not_breaching(plans):  # D12
    # The cluster's alarms come from the operations package (kind daxCluster), with the stack's alarm topic.
    alarms = [r["inputs"] for r in of_type(plans["prod"], "aws:cloudwatch/metricAlarm:MetricAlarm")
              if r["name"].startswith("operations-daxCluster-")]
    assert sorted(a.get("metricName", "EvictedSize (anomaly band)") for a in alarms) == [
        "CPUUtilization", "EvictedSize (anomaly band)", "ThrottledRequestCount"]
    for alarm in alarms:
        assert alarm["treatMissingData"] == "notBreaching"  # DAX publishes only non-zero values
        assert alarm["alarmActions"]