"""The rules DAX enforces at create time, checked before anything is registered (D10, D7).

Pure: settings in, (path, message) findings out, paths relative to `ddb-blueprint:dax`. Whether a
stack needs several nodes over several AZs is a policy of the stack (the `dax-cluster-resilience`
guardrail with per-stack policy config), not a rule of DAX: one node is a valid cluster.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Mapping

from ..config.base import LOG_RETENTION_DAYS
from .model import DaxSettings
from ..access.model import AccessModel, Grant

Finding = tuple[str, str]

MAX_NAME = 20  # D10
NAME = re.compile(r"^[a-z][a-z0-9-]*$")
# Documented node types (D10: the DAX guide points to the pricing page; the sizing guide names sizes
# up to r5.8xlarge). A type missing here is one line away; an unknown one would fail at create time.
NODE_TYPES = (
    "dax.t3.small", "dax.t3.medium",
    "dax.r5.large", "dax.r5.xlarge", "dax.r5.2xlarge", "dax.r5.4xlarge", "dax.r5.8xlarge",
)
MIN_NODES, MIN_MULTI_NODES, MAX_NODES = 1, 3, 10  # 1, or 3-10 (CreateCluster API, D10)
# The parameter group accepts 0 and up (D7), but 0 means "never expire" for items and is unclear
# for queries; a cache that never expires hides every write. One second to one day.
MIN_TTL_MILLIS, MAX_TTL_MILLIS = 1_000, 86_400_000
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
WINDOW = re.compile(r"^(sun|mon|tue|wed|thu|fri|sat):([01]\d|2[0-3]):([0-5]\d)-(sun|mon|tue|wed|thu|fri|sat):([01]\d|2[0-3]):([0-5]\d)$")
MIN_WINDOW_MINUTES = 60
AVAILABILITY_ZONES = 3  # a created VPC has one private subnet in each of three AZs
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")


def name_findings(name: str) -> list[Finding]:
    if not name:
        return [("clusterName", "is required when DAX is enabled: 1-20 lowercase letters, digits or hyphens")]
    problems = []
    if len(name) > MAX_NAME:
        problems.append(f"is {len(name)} characters; DAX allows at most {MAX_NAME}")
    if not NAME.match(name):
        problems.append("must start with a lowercase letter and hold only lowercase letters, digits and hyphens")
    if name.endswith("-") or "--" in name:
        problems.append("may not end with a hyphen or contain two hyphens in a row")
    return [("clusterName", f"{name!r} {'; '.join(problems)} (D10)")] if problems else []


def window_minutes(window: str) -> int | None:
    """Length of a ddd:hh24:mi-ddd:hh24:mi window in minutes (wrapping over the week), or None."""
    match = WINDOW.match(window)
    if not match:
        return None
    d1, h1, m1, d2, h2, m2 = match.groups()
    start = DAYS.index(d1) * 1440 + int(h1) * 60 + int(m1)
    end = DAYS.index(d2) * 1440 + int(h2) * 60 + int(m2)
    return (end - start) % (7 * 1440)


def availability_zones(settings: DaxSettings) -> list[str]:
    """The AZs of the cluster's subnets, in order (created VPC: as listed; existing: by subnet)."""
    network = settings.network
    if network is None:
        return []
    if network.create is not None:
        return list(network.create.availabilityZones)
    if network.existing is not None:
        return sorted(set(network.existing.subnets.values()))
    return []


def node_zones(settings: DaxSettings) -> list[str]:
    """One AZ per node, round-robin over the subnets' AZs: DAX wants exactly `nodes` entries (D10)."""
    zones = availability_zones(settings)
    return [zones[i % len(zones)] for i in range(settings.nodes)] if zones else []


def _zone_findings(path: str, zones: list[str], region: str) -> list[Finding]:
    found = []
    for zone in zones:
        if not re.match(rf"^{re.escape(region)}[a-z]$", zone):
            found.append((path, f"{zone!r} is not an availability zone of the stack's region {region} ({region}a, {region}b, ...)"))
    return found


def network_findings(settings: DaxSettings, region: str) -> list[Finding]:
    network = settings.network
    if network is None or (network.create is None and network.existing is None):
        return [("network", "DAX runs only in a VPC (D1): set network.create (a VPC the stack creates) or network.existing")]
    if network.create is not None and network.existing is not None:
        return [("network", "set either create or existing, not both: a cluster lives in one VPC")]
    found: list[Finding] = []
    if network.create is not None:
        created = network.create
        zones = created.availabilityZones
        if len(zones) != AVAILABILITY_ZONES or len(set(zones)) != len(zones):
            found.append(("network.create.availabilityZones", f"list {AVAILABILITY_ZONES} different availability zones (got {len(zones)})"))
        found += _zone_findings("network.create.availabilityZones", zones, region)
        try:
            cidr = ipaddress.ip_network(created.cidr)
            if not (16 <= cidr.prefixlen <= 24) or not cidr.is_private or cidr.version != 4:
                found.append(("network.create.cidr", f"{created.cidr!r} must be a private IPv4 range from /16 to /24"))
        except ValueError:
            found.append(("network.create.cidr", f"{created.cidr!r} is not an IPv4 network (e.g. 10.42.0.0/16)"))
        if created.flowLogRetentionDays not in LOG_RETENTION_DAYS:
            found.append(("network.create.flowLogRetentionDays", "must be one of CloudWatch Logs' retention values (G2)"))
    else:
        existing = network.existing
        assert existing is not None
        if not VPC_ID.match(existing.vpcId):
            found.append(("network.existing.vpcId", f"{existing.vpcId!r} is not a VPC id (vpc-...)"))
        if not existing.subnets:
            found.append(("network.existing.subnets", "list the private subnets (subnet id: availability zone)"))
        for subnet, zone in existing.subnets.items():
            if not SUBNET_ID.match(subnet):
                found.append((f"network.existing.subnets.{subnet}", f"{subnet!r} is not a subnet id (subnet-...)"))
            found += _zone_findings(f"network.existing.subnets.{subnet}", [zone], region)
    return found


def dax_findings(settings: DaxSettings, tables: Mapping[str, object], region: str) -> list[Finding]:
    """Every problem with the stack's DAX settings (paths under `ddb-blueprint:dax`)."""
    if not settings.enabled:
        return []
    found = name_findings(settings.clusterName)
    if settings.nodeType not in NODE_TYPES:
        found.append(("nodeType", f"{settings.nodeType!r} is not a DAX node type; allowed: {', '.join(NODE_TYPES)}"))
    if not (settings.nodes == MIN_NODES or MIN_MULTI_NODES <= settings.nodes <= MAX_NODES):
        found.append(("nodes", f"{settings.nodes} nodes: DAX runs 1 node, or {MIN_MULTI_NODES} to {MAX_NODES} (one primary and read replicas, D10)"))
    for key in ("itemTtlMillis", "queryTtlMillis"):
        value = getattr(settings, key)
        if not MIN_TTL_MILLIS <= value <= MAX_TTL_MILLIS:
            found.append((key, f"{value} ms is outside {MIN_TTL_MILLIS}-{MAX_TTL_MILLIS} ms (one second to one day; "
                          "0 would mean never expire, D7)"))
    minutes = window_minutes(settings.maintenanceWindow)
    if minutes is None:
        found.append(("maintenanceWindow", f"{settings.maintenanceWindow!r} is not ddd:hh24:mi-ddd:hh24:mi in UTC (e.g. sun:05:00-sun:06:00)"))
    elif minutes < MIN_WINDOW_MINUTES:
        found.append(("maintenanceWindow", f"is {minutes} minutes; DAX needs at least {MIN_WINDOW_MINUTES} (D10)"))
    if not settings.tables:
        found.append(("tables", "list the tables the cluster caches"))
    if len(set(settings.tables)) != len(settings.tables):
        found.append(("tables", "lists a table twice"))
    for table in settings.tables:
        if table not in tables:
            found.append(("tables", f"no table {table!r} in the data model ({', '.join(sorted(tables))})"))
    found += network_findings(settings, region)
    return found


def cached_tables(settings: DaxSettings) -> list[str]:
    return sorted(settings.tables) if settings.enabled else []


def via_dax_findings(grant: "Grant", access: "AccessModel", cached: set[str]) -> list[Finding]:
    """A `via: dax` grant (paths under its `grants.<name>`). DAX enforces no per-caller conditions:
    only the cluster role's rights apply and every client inherits them all (D3)."""
    found: list[Finding] = []
    if grant.rowScope is not None:
        found.append((".rowScope", "DAX does not enforce per-user conditions (dynamodb:LeadingKeys): a row-scoped "
                      "grant cannot go through DAX; remove via: dax (read DynamoDB directly) or the row scope (D3)"))
    if grant.attributes:
        found.append((".attributes", "DAX does not enforce dynamodb:Attributes: an attribute-scoped grant cannot go "
                      "through DAX; remove via: dax or the attribute scope (D3)"))
    if "stream" in grant.access:
        found.append((".access", "streams are read from DynamoDB Streams, not through DAX; use a separate grant without via"))
    if grant.table is not None and grant.table not in cached:
        listed = ", ".join(sorted(cached)) or "none: DAX is off in this stack"
        found.append((".via", f"the stack's DAX cluster does not cache {grant.table!r} (ddb-blueprint:dax.tables: {listed})"))
    principal = access.principals.get(grant.principal)
    if principal is not None and principal.kind != "service":
        found.append((".via", f"{principal.kind} principals cannot use DAX: it is reached from inside the VPC only, "
                      "and every client inherits the cluster's rights on all cached items (D3)"))
    return found
