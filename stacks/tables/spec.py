"""From the model plus this environment's settings to the exact arguments of each table.

Pure: no Pulumi here. `table_args` returns the keyword arguments of `aws.dynamodb.Table` with the
key ARN passed in, so every rule about what a table looks like is testable as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .model import CapacityRange, OnDemandThroughput, ProvisionedCapacity, TableModel
from ..config.settings import StackSettings
from ..naming import physical_table_name, standard_tags
from .rules import effective_billing_mode


@dataclass(frozen=True)
class TableSpec:
    """One table, fully resolved for one stack."""

    logical_name: str
    physical_name: str
    model: TableModel
    billing_mode: str
    capacity: Optional[ProvisionedCapacity]
    max_throughput: Optional[OnDemandThroughput]
    table_class: str
    contributor_insights: bool
    point_in_time_recovery: bool
    pitr_recovery_period_days: int
    deletion_protection: bool
    protect: bool
    retain_on_delete: bool
    tags: dict[str, str]
    apply_index_changes: bool = False
    # Global tables (stacks/replication): the OTHER regions holding a replica, empty when regional.
    replicas: tuple[str, ...] = ()
    consistency_mode: str = "EVENTUAL"
    witness: Optional[str] = None
    replica_read_capacity: Mapping[str, CapacityRange] = field(default_factory=dict)

    @property
    def provisioned(self) -> bool:
        return self.billing_mode == "PROVISIONED"


def resolve_table(project: str, stack: str, name: str, model: TableModel, settings: StackSettings) -> TableSpec:
    override = settings.tableOverrides.get(name)

    def pick(attribute: str, default: Any) -> Any:
        value = getattr(override, attribute) if override else None
        return default if value is None else value

    return TableSpec(
        logical_name=name,
        physical_name=physical_table_name(project, stack, name),
        model=model,
        billing_mode=effective_billing_mode(settings, name),
        capacity=override.capacity if override else None,
        max_throughput=override.maxThroughput if override else None,
        table_class=pick("tableClass", settings.tableClass),
        contributor_insights=pick("contributorInsights", settings.contributorInsights),
        point_in_time_recovery=settings.pointInTimeRecovery,
        pitr_recovery_period_days=settings.pitrRecoveryPeriodDays,
        deletion_protection=settings.deletionProtection,
        protect=settings.protect,
        retain_on_delete=settings.retainOnDelete,
        tags={**settings.tags, **standard_tags(project, stack), "table": name},
        apply_index_changes=bool(override and override.applyIndexChanges),
        **_replication(model, settings, override),
    )


def _replication(model: TableModel, settings: StackSettings, override: Any) -> dict[str, Any]:
    from ..replication.model import Topology

    topology = Topology.of(settings)
    if not model.is_global or not topology.replicated:
        return {}
    return {
        "replicas": topology.replicas,
        "consistency_mode": topology.mode,
        "witness": topology.witness,
        "replica_read_capacity": dict(override.replicaReadCapacity) if override else {},
    }


def index_capacity(spec: TableSpec, index: str) -> tuple[CapacityRange, CapacityRange]:
    """Read and write ranges of a GSI: its own if configured, else the table's."""
    assert spec.capacity is not None
    own = spec.capacity.indexes.get(index)
    return (own.read, own.write) if own else (spec.capacity.read, spec.capacity.write)


def _projection(projection: str, non_key: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {"projection_type": projection}
    if projection == "INCLUDE":
        args["non_key_attributes"] = list(non_key)
    return args


def _global_index_args(spec: TableSpec, name: str) -> dict[str, Any]:
    gsi = spec.model.globalIndexes[name]
    # key_schemas (not hash_key/range_key): supports multi-attribute keys (GOTCHAS T11).
    key_schemas = [{"attribute_name": a, "key_type": "HASH"} for a in gsi.partition_attributes]
    key_schemas += [{"attribute_name": a, "key_type": "RANGE"} for a in gsi.sort_attributes]
    args: dict[str, Any] = {"name": name, "key_schemas": key_schemas, **_projection(gsi.projection, gsi.nonKeyAttributes)}
    if spec.provisioned:
        read, write = index_capacity(spec, name)
        args["read_capacity"] = read.min
        args["write_capacity"] = write.min
    return args


def table_args(spec: TableSpec, kms_key_arn: Any, replica_key_arns: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Keyword arguments for aws.dynamodb.Table (snake_case, nested dicts).

    `replica_key_arns` maps each replica region to this stack's key there (K1); required when the
    table has replicas.
    """
    model = spec.model
    args: dict[str, Any] = {
        "name": spec.physical_name,
        # Always explicit: the provider's default is PROVISIONED (GOTCHAS T4).
        "billing_mode": spec.billing_mode,
        "hash_key": model.partitionKey,
        "attributes": [{"name": n, "type": t} for n, t in sorted(model.attributes.items())],
        "server_side_encryption": {"enabled": True, "kms_key_arn": kms_key_arn},  # CMK (K4)
        "point_in_time_recovery": {"enabled": spec.point_in_time_recovery},
        "deletion_protection_enabled": spec.deletion_protection,
        "table_class": spec.table_class,
        "tags": dict(sorted(spec.tags.items())),
    }
    if spec.point_in_time_recovery:
        args["point_in_time_recovery"]["recovery_period_in_days"] = spec.pitr_recovery_period_days
    if model.sortKey:
        args["range_key"] = model.sortKey
    if model.globalIndexes:
        args["global_secondary_indexes"] = [_global_index_args(spec, n) for n in sorted(model.globalIndexes)]
    if model.localIndexes:
        args["local_secondary_indexes"] = [
            {"name": n, "range_key": lsi.sortKey, **_projection(lsi.projection, lsi.nonKeyAttributes)}
            for n, lsi in sorted(model.localIndexes.items())
        ]
    if model.ttlAttribute:
        args["ttl"] = {"attribute_name": model.ttlAttribute, "enabled": True}
    if model.stream:
        args["stream_enabled"] = True
        args["stream_view_type"] = model.stream
    if spec.provisioned:
        assert spec.capacity is not None
        args["read_capacity"] = spec.capacity.read.min
        args["write_capacity"] = spec.capacity.write.min
    elif spec.max_throughput is not None:
        ceilings = {
            "max_read_request_units": spec.max_throughput.read,
            "max_write_request_units": spec.max_throughput.write,
        }
        args["on_demand_throughput"] = {k: v for k, v in ceilings.items() if v is not None}
    if spec.replicas:
        from ..replication.spec import replication_table_args

        args.update(replication_table_args(spec, replica_key_arns or {}))
    return args


def capacity_ignore_changes(spec: TableSpec) -> list[str]:
    """Autoscaled capacities are owned by Application Auto Scaling after creation (GOTCHAS T7).

    The provider's GSIs are a set: Terraform has no per-field ignore inside it and pulumi-aws #2856
    shows set elements matched by content, so a path such as `globalSecondaryIndexes[*].readCapacity`
    is not relied on. The whole `globalSecondaryIndexes` is ignored instead; index changes then need
    the deliberate `applyIndexChanges: true` deploy (README: Tables, capacity and autoscaling)."""
    if not spec.provisioned:
        return []
    paths = ["readCapacity", "writeCapacity"]
    if spec.model.globalIndexes and not spec.apply_index_changes:
        paths.append("globalSecondaryIndexes")
    return paths


@dataclass(frozen=True)
class ScalingTarget:
    """One Application Auto Scaling target plus its target-tracking policy."""

    suffix: str  # resource name suffix, e.g. "read" or "byCategory-write"
    resource_id: str  # table/<name> or table/<name>/index/<index>
    dimension: str
    metric: str
    min_capacity: int
    max_capacity: int
    target_utilization: int


def scaling_targets(spec: TableSpec) -> list[ScalingTarget]:
    if not spec.provisioned:
        return []
    assert spec.capacity is not None
    table_id = f"table/{spec.physical_name}"
    entries = [("", table_id, "table", spec.capacity.read, spec.capacity.write)]
    for index in sorted(spec.model.globalIndexes):
        read, write = index_capacity(spec, index)
        entries.append((f"{index}-", f"{table_id}/index/{index}", "index", read, write))
    targets = []
    for prefix, resource_id, kind, read, write in entries:
        for direction, rng in (("Read", read), ("Write", write)):
            targets.append(
                ScalingTarget(
                    suffix=f"{prefix}{direction.lower()}",
                    resource_id=resource_id,
                    dimension=f"dynamodb:{kind}:{direction}CapacityUnits",
                    metric=f"DynamoDB{direction}CapacityUtilization",
                    min_capacity=rng.min,
                    max_capacity=rng.max,
                    target_utilization=spec.capacity.targetUtilization,
                )
            )
    return targets
