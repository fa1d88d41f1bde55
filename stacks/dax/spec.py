"""Everything about the DAX cluster and its network that is data: names, subnet ranges, parameter
group values, security-group rules, the endpoint URL and the cluster ARN. Pure; the Network and
Cluster components only wire it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, Mapping

from .model import DaxSettings
from .rules import node_zones

TLS_PORT = 9111  # daxs:// (D1); 8111 (unencrypted dax://) is never opened
TLS_SCHEME = "daxs"
ENDPOINT_ENCRYPTION = "TLS"  # D11: chosen at creation, replaces the cluster when changed (D2)
# Services an in-VPC function reaches through an interface endpoint, by what its environment names.
# DynamoDB has a gateway endpoint (D6); DAX itself is in the VPC.
INTERFACE_ENDPOINT_SERVICES = {"topic": "sns"}


@dataclass(frozen=True)
class ClusterSpec:
    cluster_name: str
    node_type: str
    replication_factor: int
    availability_zones: list[str]
    maintenance_window: str
    parameters: list[dict[str, str]]
    subnet_group_name: str
    parameter_group_name: str
    role_name: str
    security_group_name: str
    client_security_group_name: str
    topic_name: str
    tables: list[str]
    description: str


def resource_prefix(project: str, stack: str) -> str:
    return f"{project}-{stack}-dax"


def parameters(settings: DaxSettings) -> list[dict[str, str]]:
    """The parameter group: both cache TTLs (D7), sorted so the plan is stable."""
    return [
        {"name": "query-ttl-millis", "value": str(settings.queryTtlMillis)},
        {"name": "record-ttl-millis", "value": str(settings.itemTtlMillis)},
    ]


def cluster_spec(project: str, stack: str, settings: DaxSettings) -> ClusterSpec:
    prefix = resource_prefix(project, stack)
    return ClusterSpec(
        cluster_name=settings.clusterName,
        node_type=settings.nodeType,
        replication_factor=settings.nodes,
        availability_zones=node_zones(settings),
        maintenance_window=settings.maintenanceWindow,
        parameters=parameters(settings),
        subnet_group_name=prefix,
        parameter_group_name=prefix,
        role_name=f"{prefix}-service",
        security_group_name=f"{prefix}-cluster",
        client_security_group_name=f"{prefix}-clients",
        topic_name=f"{prefix}-events",
        tables=sorted(settings.tables),
        description=f"DAX for {', '.join(sorted(settings.tables))} ({project}/{stack})",
    )


def subnet_cidrs(vpc_cidr: str, count: int = 3) -> list[str]:
    """One private range per AZ: the VPC range split in four (the fourth stays free)."""
    network = ipaddress.ip_network(vpc_cidr)
    return [str(s) for s in list(network.subnets(prefixlen_diff=2))[:count]]


def cluster_arn(partition: str, region: str, account: str, cluster_name: str) -> str:
    """arn:...:dax:<region>:<account>:cache/<name> (D4): known before the cluster exists."""
    return f"arn:{partition}:dax:{region}:{account}:cache/{cluster_name}"


def endpoint_url(cluster_address: str) -> str:
    """The cluster discovery endpoint the DAX client takes (D8), TLS scheme."""
    return f"{TLS_SCHEME}://{cluster_address}"


def interface_endpoint_services(environments: Iterable[Mapping[str, str]]) -> list[str]:
    """Interface endpoints the in-VPC functions need: one per AWS service their environment references
    (no NAT: without an endpoint they could not reach it, D6). The DAX readers reference none."""
    import re

    services = set()
    for environment in environments:
        for value in environment.values():
            match = re.match(r"^([a-z]+)\.", value)
            if match and match.group(1) in INTERFACE_ENDPOINT_SERVICES:
                services.add(INTERFACE_ENDPOINT_SERVICES[match.group(1)])
    return sorted(services)


def gateway_endpoint_policy(partition: str, region: str, account: str, project: str, stack: str) -> dict:
    """The DynamoDB gateway endpoint reaches this stack's tables only (and nothing of other accounts)."""
    tables = f"arn:{partition}:dynamodb:{region}:{account}:table/{project}-{stack}-*"
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OnlyThisStacksTables",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "dynamodb:*",
            "Resource": [tables, f"{tables}/*"],
            "Condition": {"StringEquals": {"aws:PrincipalAccount": account}},
        }],
    }


def flow_logs_trust_policy(account: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AssumedByVpcFlowLogs",
            "Effect": "Allow",
            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        }],
    }


def flow_logs_policy(partition: str, region: str, account: str, log_group: str) -> dict:
    group = f"arn:{partition}:logs:{region}:{account}:log-group:{log_group}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            # Streams are named per network interface at run time: the group's streams, nothing else.
            {"Sid": "WritesTheFlowLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": f"{group}:*"},
            {"Sid": "ListsTheFlowLogStreams", "Effect": "Allow", "Action": ["logs:DescribeLogStreams"], "Resource": group},
        ],
    }


@dataclass(frozen=True)
class AlarmSpec:
    metric: str
    statistic: str
    threshold: float
    description: str


# DAX publishes a metric only while it is non-zero (D12): missing data means "nothing happened".
ALARMS = (
    AlarmSpec("ErrorRequestCount", "Sum", 0, "requests DAX answered with an error (user errors included)"),
    AlarmSpec("FaultRequestCount", "Sum", 0, "requests that failed inside DAX"),
    AlarmSpec("ThrottledRequestCount", "Sum", 0, "requests DAX throttled: the cluster or the table is too small"),
    AlarmSpec("CPUUtilization", "Maximum", 70, "a node above 70% CPU: add nodes or a larger node type"),
)


def alarm_arguments(cluster_name: str, prefix: str) -> list[dict]:
    """CloudWatch alarms on the cluster (namespace AWS/DAX, dimension ClusterId, D12)."""
    return [{
        "name": f"{prefix}-{alarm.metric}",
        "namespace": "AWS/DAX",
        "metric_name": alarm.metric,
        "dimensions": {"ClusterId": cluster_name},
        "statistic": alarm.statistic,
        "period": 300,
        "evaluation_periods": 1,
        "threshold": alarm.threshold,
        "comparison_operator": "GreaterThanThreshold",
        "treat_missing_data": "notBreaching",
        "alarm_description": f"DAX cluster {cluster_name}: {alarm.description}",
    } for alarm in ALARMS]
