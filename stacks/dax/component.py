"""The DAX network and cluster components. Thin: every name, rule and policy comes from `spec` and
`policies`; these only create resources from them.

Network: either a VPC of the stack's own (three private subnets, no NAT, no internet gateway, the
DynamoDB gateway endpoint, interface endpoints only for services the in-VPC functions call, flow
logs to a log group encrypted with the ops key, the default security group emptied) or an existing
VPC's subnets. Both get the client security group, whose only egress is the cluster's TLS port.

Cluster: subnet group, parameter group (TTLs), SSE on, TLS endpoint, a security group admitting the
TLS port from the client security group only, the scoped service role and an encrypted event topic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from ..access.policies import ArnContext
from ..access.model import AccessModel
from .model import DaxSettings
from .policies import service_permission_policy, service_trust_policy
from .spec import (
    ENDPOINT_ENCRYPTION, TLS_PORT, ClusterSpec, endpoint_url, flow_logs_policy, flow_logs_trust_policy,
    gateway_endpoint_policy, resource_prefix, subnet_cidrs,
)

NETWORK_TYPE = "ddb-blueprint:index:DaxNetwork"
CLUSTER_TYPE = "ddb-blueprint:index:DaxCluster"


@dataclass(frozen=True, kw_only=True)
class DaxNetworkArgs:
    project: str
    stack: str
    region: str
    settings: DaxSettings
    interface_services: list[str]
    ops_key_arn: pulumi.Input[str]
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)


class DaxNetwork(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    subnet_ids: list[pulumi.Output[str]]
    client_security_group: aws.ec2.SecurityGroup

    def __init__(self, name: str, args: DaxNetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(NETWORK_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = resource_prefix(args.project, args.stack)
        network = args.settings.network
        assert network is not None
        if network.create is not None:
            self._create_vpc(name, args, prefix, child)
        else:
            assert network.existing is not None
            self.vpc_id = pulumi.Output.from_input(network.existing.vpcId)
            self.subnet_ids = [pulumi.Output.from_input(s) for s in sorted(network.existing.subnets)]
        self.client_security_group = aws.ec2.SecurityGroup(
            f"{name}-clients", name=f"{prefix}-clients", vpc_id=self.vpc_id,
            description="Clients of the DAX cluster (functions reading through DAX)", tags=args.tags, opts=child)
        self.register_outputs({"vpcId": self.vpc_id, "subnetIds": self.subnet_ids,
                               "clientSecurityGroupId": self.client_security_group.id})

    def _create_vpc(self, name: str, args: DaxNetworkArgs, prefix: str, child: pulumi.ResourceOptions) -> None:
        created = args.settings.network.create  # type: ignore[union-attr]
        assert created is not None
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=created.cidr, enable_dns_support=True, enable_dns_hostnames=True,
                          tags={**args.tags, "Name": prefix}, opts=child)
        self.vpc_id = vpc.id
        # The default security group admits its own members; nothing here uses it, so it is emptied.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, tags=args.tags, opts=child)
        # One route table without any route out: private subnets, no NAT, no internet gateway.
        routes = aws.ec2.RouteTable(f"{name}-private", vpc_id=vpc.id, tags={**args.tags, "Name": f"{prefix}-private"}, opts=child)
        subnets = []
        for zone, cidr in zip(created.availabilityZones, subnet_cidrs(created.cidr)):
            subnet = aws.ec2.Subnet(f"{name}-{zone}", vpc_id=vpc.id, cidr_block=cidr, availability_zone=zone,
                                    map_public_ip_on_launch=False, tags={**args.tags, "Name": f"{prefix}-{zone}"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-{zone}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child)
            subnets.append(subnet)
        self.subnet_ids = [s.id for s in subnets]
        policy = pulumi.Output.all(args.partition, args.account_id).apply(
            lambda v: gateway_endpoint_policy(v[0], args.region, v[1], args.project, args.stack))
        aws.ec2.VpcEndpoint(f"{name}-dynamodb", vpc_id=vpc.id, service_name=f"com.amazonaws.{args.region}.dynamodb",
                            vpc_endpoint_type="Gateway", route_table_ids=[routes.id], policy=pulumi.Output.json_dumps(policy),
                            tags=args.tags, opts=child)
        if args.interface_services:
            endpoints_sg = aws.ec2.SecurityGroup(
                f"{name}-endpoints", name=f"{prefix}-endpoints", vpc_id=vpc.id,
                description="Interface endpoints: HTTPS from the VPC's functions", tags=args.tags, opts=child)
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-endpoints-https", security_group_id=endpoints_sg.id, ip_protocol="tcp", from_port=443, to_port=443,
                cidr_ipv4=created.cidr, description="HTTPS from inside the VPC", opts=child)
            for service in args.interface_services:
                aws.ec2.VpcEndpoint(f"{name}-{service}", vpc_id=vpc.id, service_name=f"com.amazonaws.{args.region}.{service}",
                                    vpc_endpoint_type="Interface", subnet_ids=self.subnet_ids, private_dns_enabled=True,
                                    security_group_ids=[endpoints_sg.id], tags=args.tags, opts=child)
        log_group_name = f"/vpc/{prefix}/flow-logs"
        log_group = aws.cloudwatch.LogGroup(f"{name}-flow-logs", name=log_group_name, retention_in_days=created.flowLogRetentionDays,
                                            kms_key_id=args.ops_key_arn, tags=args.tags, opts=child)
        role = aws.iam.Role(f"{name}-flow-logs-role", name=f"{prefix}-flow-logs",
                            assume_role_policy=pulumi.Output.json_dumps(pulumi.Output.from_input(args.account_id).apply(flow_logs_trust_policy)),
                            description="VPC flow logs of the DAX network", tags=args.tags, opts=child)
        writes = pulumi.Output.all(args.partition, args.account_id).apply(
            lambda v: flow_logs_policy(v[0], args.region, v[1], log_group_name))
        access = aws.iam.RolePolicy(f"{name}-flow-logs-policy", name="flow-logs", role=role.id,
                                    policy=pulumi.Output.json_dumps(writes), opts=child)
        aws.ec2.FlowLog(f"{name}-flow-log", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                        log_destination=log_group.arn, iam_role_arn=role.arn, max_aggregation_interval=60, tags=args.tags,
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[access]))


@dataclass(frozen=True, kw_only=True)
class DaxClusterArgs:
    spec: ClusterSpec
    region: str
    network: DaxNetwork
    access: AccessModel
    context: pulumi.Output[ArnContext]
    ops_key_arn: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)


class DaxCluster(pulumi.ComponentResource):
    cluster: aws.dax.Cluster
    endpoint_url: pulumi.Output[str]

    def __init__(self, name: str, args: DaxClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(CLUSTER_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec = args.spec
        self.role = aws.iam.Role(
            f"{name}-role", name=spec.role_name, assume_role_policy=pulumi.Output.json_dumps(service_trust_policy()),
            description=f"DAX cluster {spec.cluster_name}: reads (and writes through) {', '.join(spec.tables)} only",
            tags=args.tags, opts=child)
        permissions = aws.iam.RolePolicy(
            f"{name}-role-policy", name="cached-tables", role=self.role.id,
            policy=pulumi.Output.json_dumps(args.context.apply(lambda ctx: service_permission_policy(args.access, spec.tables, ctx))),
            opts=child)
        subnets = aws.dax.SubnetGroup(f"{name}-subnets", name=spec.subnet_group_name, subnet_ids=args.network.subnet_ids,
                                      description=spec.description, opts=child)
        parameters = aws.dax.ParameterGroup(f"{name}-parameters", name=spec.parameter_group_name, parameters=spec.parameters,
                                            description="Cache TTLs (record-ttl-millis, query-ttl-millis)", opts=child)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg", name=spec.security_group_name, vpc_id=args.network.vpc_id,
            description=f"DAX cluster {spec.cluster_name}: TLS port from its clients only", tags=args.tags, opts=child)
        client_sg = args.network.client_security_group
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-sg-from-clients", security_group_id=self.security_group.id, ip_protocol="tcp",
            from_port=TLS_PORT, to_port=TLS_PORT, referenced_security_group_id=client_sg.id,
            description="daxs:// from the client security group", opts=child)
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-clients-to-sg", security_group_id=client_sg.id, ip_protocol="tcp",
            from_port=TLS_PORT, to_port=TLS_PORT, referenced_security_group_id=self.security_group.id,
            description="daxs:// to the cluster", opts=child)
        self.topic = aws.sns.Topic(f"{name}-events", name=spec.topic_name, kms_master_key_id=args.ops_key_arn,
                                   tags=args.tags, opts=child)
        self.cluster = aws.dax.Cluster(
            f"{name}-cluster",
            cluster_name=spec.cluster_name,
            description=spec.description,
            node_type=spec.node_type,
            replication_factor=spec.replication_factor,
            availability_zones=spec.availability_zones,
            iam_role_arn=self.role.arn,
            subnet_group_name=subnets.name,
            parameter_group_name=parameters.name,
            security_group_ids=[self.security_group.id],
            server_side_encryption={"enabled": True},  # AWS managed key only (D11)
            cluster_endpoint_encryption_type=ENDPOINT_ENCRYPTION,
            maintenance_window=spec.maintenance_window,
            notification_topic_arn=self.topic.arn,
            tags=args.tags,
            # The role's policy must exist before DAX uses it (the first reads would fail otherwise).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permissions]),
        )
        # Alarms carry no action: CloudWatch could not publish to the KMS-encrypted topic without a key
        # policy grant to its service principal; route them to the team's paging from here.
        # The cluster's alarms are the operations package's (stacks/operations, kind daxCluster): with actions.
        self.endpoint_url = self.cluster.cluster_address.apply(endpoint_url)
        self.register_outputs({"arn": self.cluster.arn, "endpointUrl": self.endpoint_url, "port": self.cluster.port})


def outputs(cluster: DaxCluster, network: DaxNetwork) -> dict[str, Any]:
    """The stack outputs app teams connect with."""
    return {
        "clusterArn": cluster.cluster.arn,
        "endpointUrl": cluster.endpoint_url,
        "port": TLS_PORT,
        "clientSecurityGroupId": network.client_security_group.id,
        "subnetIds": network.subnet_ids,
        "vpcId": network.vpc_id,
    }
