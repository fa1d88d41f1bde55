"""Pure resolution of a table's replication: replica blocks, witness, stream, per-region autoscaling
and contributor insights, and the ARNs of every copy. No Pulumi here.

Decisions (facts in /work/research/facts-KTP.md until docs/aws-facts.md lands):
- Replicas are the table's own `replicas` blocks (2019.11.21, T8); they list the OTHER regions (T10, T16).
- Each replica is encrypted with this stack's key in its region (K1); changing it recreates the
  replica (K3), so the key is created once per region and never swapped.
- EVENTUAL replicas always stream NEW_AND_OLD_IMAGES (T1): the spec turns the stream on for a
  global table that declares none, so the plan says what AWS will do.
- Provisioned tables: read and write capacity are autoscaled in every replica region (T3), reads
  with the per-region range of `replicaReadCapacity` when given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Optional

from ..tables.spec import ScalingTarget, TableSpec, scaling_targets
from .model import Topology

REPLICATED_STREAM_VIEW = "NEW_AND_OLD_IMAGES"


def table_regions(global_table: bool, topology: Topology) -> tuple[str, ...]:
    """Every region holding a copy of a table: home first."""
    return topology.regions if global_table else (topology.home,)


def replica_args(spec: TableSpec, key_arns: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The table's `replicas` blocks (T16): in-region CMK, PITR, deletion protection, tags propagated."""
    return [
        {
            "region_name": region,
            "kms_key_arn": key_arns[region],
            "point_in_time_recovery": spec.point_in_time_recovery,
            "deletion_protection_enabled": spec.deletion_protection,
            "propagate_tags": True,
            "consistency_mode": spec.consistency_mode,
        }
        for region in spec.replicas
    ]


def replication_table_args(spec: TableSpec, key_arns: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments added to aws.dynamodb.Table for a global table (empty for a regional one)."""
    if not spec.replicas:
        return {}
    args: dict[str, Any] = {"replicas": replica_args(spec, key_arns)}
    if spec.witness is not None:
        args["global_table_witness"] = {"region_name": spec.witness}
    if spec.consistency_mode == "EVENTUAL" and spec.model.stream is None:
        args["stream_enabled"] = True
        args["stream_view_type"] = REPLICATED_STREAM_VIEW
    return args


def streams(spec: TableSpec) -> bool:
    """Whether the table (and so each replica) has a stream."""
    return spec.model.stream is not None or bool(spec.replicas and spec.consistency_mode == "EVENTUAL")


def replica_scaling_targets(spec: TableSpec, region: str) -> list[ScalingTarget]:
    """Autoscaling of one replica region: the table's ranges, reads overridden per region."""
    read_override = spec.replica_read_capacity.get(region)
    targets = []
    for target in scaling_targets(spec):
        if read_override is not None and target.suffix == "read":
            target = replace(target, min_capacity=read_override.min, max_capacity=read_override.max)
        targets.append(replace(target, suffix=f"{region}-{target.suffix}"))
    return targets


@dataclass(frozen=True)
class RegionCopy:
    """One region's copy of a table, as outputs and policies name it."""

    region: str
    name: str
    arn: str
    home: bool

    @property
    def stream_arn_pattern(self) -> str:
        return f"{self.arn}/stream/*"


def copies(physical_name: str, partition: str, account: str, regions: tuple[str, ...]) -> list[RegionCopy]:
    """The same table name in every region (T9); the ARN differs by region only."""
    return [
        RegionCopy(region, physical_name, f"arn:{partition}:dynamodb:{region}:{account}:table/{physical_name}", i == 0)
        for i, region in enumerate(regions)
    ]


def regional_arn(home_arn: str, home: str, region: str) -> str:
    """The ARN of the copy in `region`, from the home table's ARN (same name, same account, T9)."""
    prefix, _, rest = home_arn.partition(f":dynamodb:{home}:")
    return f"{prefix}:dynamodb:{region}:{rest}" if rest else home_arn


def replica_stream_arn(replicas: Optional[list[Any]], region: str) -> Optional[str]:
    """The stream ARN the provider reports for one replica (`replica.*.stream_arn`, T16)."""
    for replica in replicas or []:
        get = replica.get if isinstance(replica, dict) else lambda k, r=replica: getattr(r, k, None)
        if get("region_name") == region:
            return get("stream_arn")
    return None


def stack_table_regions(tables: Mapping[str, Any], settings: Any) -> dict[str, tuple[str, ...]]:
    """Every table of a stack -> the regions holding a copy of it (home first)."""
    topology = Topology.of(settings)
    return {name: table_regions(model.is_global, topology) for name, model in tables.items()}
