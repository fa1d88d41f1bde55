"""Guardrails for DAX clusters (D1-D4, D10, D11): encryption at rest and in transit, node count and
AZ spread per stack policy, the cluster's security group, its service role, and the rule DAX itself
cannot enforce: no role that is row-scoped on a table may also reach a cluster caching that table.

Stack rules over the plan: clusters, their security groups and roles are joined through
`propertyDependencies`, as the program registers them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, StackValidationArgs

from .api import Stack, _dependency_urns, stack_rule
from .base import rule
from .props import get_prop, is_number, show

CLUSTER = "aws:dax/cluster:Cluster"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TLS_PORT = 9111
DAX_SERVICE = "dax.amazonaws.com"
TABLE_ARN = re.compile(r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/([^/*?]+)(/index/[^/*?]+)?$")
CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:dax:[a-z0-9-]+:\d{12}:cache/(.+)$")


# --- dax-cluster-encrypted (D11) ---------------------------------------------------------------

def _encrypted(stack: Stack, report_violation: ReportViolation) -> None:
    for cluster in stack.of(CLUSTER):
        sse = stack.read(cluster, "serverSideEncryption.enabled")
        if not sse.unknown and sse.value is not True:
            report_violation(f"DAX cluster {cluster.name}: serverSideEncryption.enabled {sse.describe()}; turn it on "
                             "(it can only be chosen at creation, D11)", cluster.urn)
        tls = stack.read(cluster, "clusterEndpointEncryptionType")
        if not tls.unknown and tls.value != "TLS":
            report_violation(f"DAX cluster {cluster.name}: clusterEndpointEncryptionType {tls.describe()}; set TLS so "
                             "clients connect with daxs:// (chosen at creation, D11)", cluster.urn)


# --- dax-cluster-resilience (D10), per stack policy config ---------------------------------------

RESILIENCE_SCHEMA = PolicyConfigSchema(properties={
    "minimumNodes": {"type": "integer", "default": 3, "minimum": 1, "maximum": 10,
                     "description": "Fewest nodes a DAX cluster of this stack may run (prod: 3; staging: 1, the smallest)."},
    "minimumAvailabilityZones": {"type": "integer", "default": 3, "minimum": 1, "maximum": 3,
                                 "description": "Fewest availability zones the cluster's nodes must be spread over."},
})


def _resilience(stack: Stack, report_violation: ReportViolation, config: Mapping[str, Any]) -> None:
    nodes_needed = config.get("minimumNodes", 3)
    zones_needed = config.get("minimumAvailabilityZones", 3)
    for cluster in stack.of(CLUSTER):
        nodes = stack.read(cluster, "replicationFactor")
        if not nodes.unknown and not (is_number(nodes.value) and nodes.value >= nodes_needed):
            report_violation(f"DAX cluster {cluster.name}: replicationFactor {nodes.describe()}; this stack's policy "
                             f"requires at least {nodes_needed} nodes (AWS recommends 3 or more in production, D10)", cluster.urn)
        zones = stack.read(cluster, "availabilityZones")
        if zones.unknown:
            continue
        distinct = len(set(zones.value or []))
        if distinct < zones_needed:
            report_violation(f"DAX cluster {cluster.name}: nodes in {distinct} availability zone(s) "
                             f"({show(zones.value)}); this stack's policy requires {zones_needed}", cluster.urn)


def _resilience_rule(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    stack = Stack(args.resources)
    config = {k: spec["default"] for k, spec in RESILIENCE_SCHEMA.properties.items()} | dict(args.get_config() or {})
    _resilience(stack, report_violation, config)
    stack.raise_undecided()


_resilience_rule.__name__ = "_validate_resilience"


# --- dax-security-group-tls-from-clients (D1) ------------------------------------------------------

def _security_groups(stack: Stack, report_violation: ReportViolation) -> None:
    for cluster in stack.of(CLUSTER):
        urns = _dependency_urns(cluster, "securityGroupIds")
        if not urns:
            groups = stack.read(cluster, "securityGroupIds")
            if groups.missing or groups.blank:
                report_violation(f"DAX cluster {cluster.name}: no security group of its own; DAX would use the VPC's "
                                 "default group (D1): give it one admitting the TLS port from its clients only", cluster.urn)
            continue
        for group in [r for r in stack.of(SECURITY_GROUP) if r.urn in urns]:
            inline = stack.read(group, "ingress")
            if inline.known and inline.value:
                report_violation(f"security group {group.name} of DAX cluster {cluster.name} has inline ingress; "
                                 f"admit only TCP {TLS_PORT} from the client security group, as separate rules", group.urn)
            for ingress in stack.of(INGRESS_RULE):
                if group.urn in _dependency_urns(ingress, "securityGroupId"):
                    _check_ingress(stack, ingress, group.name, cluster.name, report_violation)


def _check_ingress(stack: Stack, ingress: Any, group: str, cluster: str, report_violation: ReportViolation) -> None:
    where = f"ingress {ingress.name} of DAX cluster {cluster}'s security group {group}"
    for key in ("cidrIpv4", "cidrIpv6", "prefixListId"):
        value = get_prop(ingress.props, key)
        if not value.missing:
            report_violation(f"{where}: admits {key} {value.describe()}; admit the client security group only "
                             "(referencedSecurityGroupId), never an address range", ingress.urn)
    source = get_prop(ingress.props, "referencedSecurityGroupId")
    if source.missing:
        report_violation(f"{where}: names no referencedSecurityGroupId; admit the client security group only", ingress.urn)
    protocol, low, high = (stack.read(ingress, k) for k in ("ipProtocol", "fromPort", "toPort"))
    if any(p.unknown for p in (protocol, low, high)):
        return
    if (protocol.value, low.value, high.value) != ("tcp", TLS_PORT, TLS_PORT):
        report_violation(f"{where}: admits {show(protocol.value)} {show(low.value)}-{show(high.value)}; admit TCP {TLS_PORT} "
                         "(daxs://) only: 8111 is unencrypted and nothing else is DAX", ingress.urn)


# --- dax-service-role-scoped (D1, D3) --------------------------------------------------------------

def _documents(stack: Stack, role_urn: str) -> list[tuple[Any, dict | None]]:
    """(RolePolicy, its parsed document or None when unknown) of one role."""
    found = []
    for policy in stack.of(ROLE_POLICY):
        if role_urn in _dependency_urns(policy, "role"):
            document = stack.read(policy, "policy")
            found.append((policy, json.loads(document.value) if document.known and isinstance(document.value, str) else None))
    return found


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _service_role(stack: Stack, report_violation: ReportViolation) -> None:
    for cluster in stack.of(CLUSTER):
        for role in [r for r in stack.of(ROLE) if r.urn in _dependency_urns(cluster, "iamRoleArn")]:
            trust = stack.read(role, "assumeRolePolicy")
            if trust.known:
                principals = [s.get("Principal") for s in _statements(json.loads(trust.value))]
                if principals != [{"Service": DAX_SERVICE}]:
                    report_violation(f"role {role.name} of DAX cluster {cluster.name} is trusted by {show(principals)}; "
                                     f"only {DAX_SERVICE} may assume it (D1)", role.urn)
            for policy, document in _documents(stack, role.urn):
                for statement in _statements(document or {}):
                    _check_service_statement(statement, policy, role.name, cluster.name, report_violation)


def _check_service_statement(statement: Mapping[str, Any], policy: Any, role: str, cluster: str,
                             report_violation: ReportViolation) -> None:
    actions = _listed(statement.get("Action"))
    services = {a.split(":", 1)[0] for a in actions}
    if not services <= {"dynamodb", "kms"}:
        report_violation(f"role {role} of DAX cluster {cluster}: statement {statement.get('Sid')} allows "
                         f"{show(sorted(a for a in actions if not a.startswith(('dynamodb:', 'kms:'))))}; "
                         "a DAX role reads and writes tables (and their key) only", policy.urn)
    if "dynamodb" in services:
        bad = [r for r in _listed(statement.get("Resource")) if not TABLE_ARN.match(r)]
        if bad:
            report_violation(f"role {role} of DAX cluster {cluster}: statement {statement.get('Sid')} names {show(bad)}; "
                             "name the cached tables and their indexes only: every client inherits these rights (D3)", policy.urn)


# --- dax-no-row-scoped-clients (D3) ----------------------------------------------------------------

def _cached_tables(stack: Stack, cluster: Any) -> set[str]:
    tables: set[str] = set()
    for role_urn in _dependency_urns(cluster, "iamRoleArn"):
        for _, document in _documents(stack, role_urn):
            for statement in _statements(document or {}):
                for resource in _listed(statement.get("Resource")):
                    match = TABLE_ARN.match(resource)
                    if match:
                        tables.add(match.group(1))
    return tables


def _row_scoped_tables(document: Mapping[str, Any]) -> set[str]:
    tables = set()
    for statement in _statements(document):
        condition = statement.get("Condition") or {}
        if any("dynamodb:LeadingKeys" in (keys or {}) for keys in condition.values() if isinstance(keys, Mapping)):
            for resource in _listed(statement.get("Resource")):
                match = TABLE_ARN.match(resource)
                if match:
                    tables.add(match.group(1))
    return tables


def _dax_clusters(document: Mapping[str, Any]) -> set[str]:
    names = set()
    for statement in _statements(document):
        if statement.get("Effect") == "Allow" and any(a.lower().startswith("dax:") for a in _listed(statement.get("Action"))):
            for resource in _listed(statement.get("Resource")):
                match = CLUSTER_ARN.match(resource)
                names.add(match.group(1) if match else resource)
    return names


def _no_row_scoped_clients(stack: Stack, report_violation: ReportViolation) -> None:
    caching: dict[str, set[str]] = {}
    for cluster in stack.of(CLUSTER):
        name = stack.read(cluster, "clusterName")
        if name.known:
            caching[str(name.value).lower()] = _cached_tables(stack, cluster)
    if not caching:
        return
    by_role: dict[str, list[dict]] = {}
    for policy in stack.of(ROLE_POLICY):
        document = stack.read(policy, "policy")
        if document.known and isinstance(document.value, str):
            for role_urn in _dependency_urns(policy, "role") or {policy.urn}:
                by_role.setdefault(role_urn, []).append(json.loads(document.value))
    for role_urn, documents in by_role.items():
        scoped = set().union(*(_row_scoped_tables(d) for d in documents))
        clusters = set().union(*(_dax_clusters(d) for d in documents))
        for cluster in sorted(clusters):
            cached = caching.get(cluster.lower(), set()) if cluster != "*" else set().union(*caching.values())
            both = sorted(scoped & cached)
            if both:
                report_violation(f"role {role_urn.rsplit('::', 1)[-1]} is row-scoped (dynamodb:LeadingKeys) on {', '.join(both)} "
                                 f"and may use DAX cluster {cluster}, which caches it: DAX ignores per-user conditions, so "
                                 "through the cluster it could read every row (D3)", role_urn)


DAX_POLICIES = [
    rule("dax-cluster-encrypted", "DAX clusters encrypt at rest (SSE) and in transit (TLS endpoint, daxs://).",
         stack_rule(_encrypted), stack=True),
    rule("dax-cluster-resilience", ("DAX clusters run at least the stack policy's node count (minimumNodes) over its number of "
                                    "availability zones (minimumAvailabilityZones)."),
         _resilience_rule, stack=True, config_schema=RESILIENCE_SCHEMA),
    rule("dax-security-group-tls-from-clients", ("A DAX cluster has its own security group admitting only TCP 9111 from a "
                                                  "client security group: no address ranges, no unencrypted port."),
         stack_rule(_security_groups), stack=True),
    rule("dax-service-role-scoped", ("A DAX cluster's role is trusted by dax.amazonaws.com only and allows DynamoDB on named "
                                      "tables and indexes (and their key) only."),
         stack_rule(_service_role), stack=True),
    rule("dax-no-row-scoped-clients", ("No role is both row-scoped (dynamodb:LeadingKeys) on a table and allowed dax: actions "
                                        "on a cluster caching that table: DAX does not enforce per-user conditions."),
         stack_rule(_no_row_scoped_clients), stack=True),
]
