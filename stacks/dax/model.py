"""DAX settings of one stack (`ddb-blueprint:dax` in a stack file): off unless a stack turns it on.

Structure only; the rules DAX enforces (name, node count, AZs, TTLs, window) live in `rules`, so
every mistake is reported at once, located at its key.
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from ..config.base import Strict

# Parameter-group defaults of DAX (D7): five minutes for both caches.
DEFAULT_TTL_MILLIS = 300_000


class CreatedVpc(Strict):
    """A VPC the stack creates for DAX and its clients: private subnets only, no NAT."""

    cidr: str = Field(default="10.42.0.0/16", description="Private IPv4 range of the VPC (/16 to /24).")
    availabilityZones: list[str] = Field(description="Three availability zones of the stack's region, one private subnet each.")
    flowLogRetentionDays: int = Field(default=90, description="Days the VPC flow logs are kept (a CloudWatch Logs retention value).")


class ExistingVpc(Strict):
    """A VPC managed elsewhere: its id and the private subnets DAX and its clients use."""

    vpcId: str = Field(description="Id of the VPC (vpc-...).")
    subnets: dict[str, str] = Field(description="Subnet id (subnet-...) to its availability zone, so the AZ spread is known before deployment.")


class DaxNetwork(Strict):
    create: Optional[CreatedVpc] = Field(default=None, description="Create a VPC for DAX (exclusive with existing).")
    existing: Optional[ExistingVpc] = Field(default=None, description="Use a VPC managed elsewhere (exclusive with create).")


class DaxSettings(Strict):
    enabled: bool = Field(default=False, description="Run a DAX cluster in front of the listed tables.")
    clusterName: str = Field(default="", description="1-20 characters: lowercase letters, digits, hyphens; no secrets (TLS certificates are public, D10).")
    nodeType: str = Field(default="dax.t3.small", description="Node type (see rules.NODE_TYPES); changing it replaces the cluster.")
    nodes: int = Field(default=1, description="Node count: 1, or 3 to 10 (one primary, the rest read replicas); one AZ per node, so a change replaces the cluster.")
    itemTtlMillis: int = Field(default=DEFAULT_TTL_MILLIS, description="Item cache TTL (parameter record-ttl-millis).")
    queryTtlMillis: int = Field(default=DEFAULT_TTL_MILLIS, description="Query cache TTL (parameter query-ttl-millis); writes do not invalidate it.")
    maintenanceWindow: str = Field(default="sun:05:00-sun:06:00", description="Weekly window in UTC, ddd:hh24:mi-ddd:hh24:mi, at least 60 minutes.")
    tables: list[str] = Field(default=[], description="Tables of the data model the cluster caches.")
    network: Optional[DaxNetwork] = Field(default=None, description="create: {...} or existing: {...}.")
