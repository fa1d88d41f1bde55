"""What a stack says about replication, and the AWS facts the rules check it against.

Stack keys (Pulumi.<stack>.yaml): `replicaRegions` (the OTHER regions; the home region is
`aws:region`), `replicaConsistency` (EVENTUAL = MREC, the default; STRONG = MRSC) and
`witnessRegion` (MRSC only). The data model says per table whether it is global (`global`,
default true: a stack with replica regions replicates its data unless a table opts out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Optional

ConsistencyMode = Literal["EVENTUAL", "STRONG"]

# The region sets an MRSC global table may span; a table cannot span sets (facts T10, from
# CloudFormation's GlobalTableWitness documentation).
MRSC_REGION_SETS: Mapping[str, tuple[str, ...]] = {
    "US": ("us-east-1", "us-east-2", "us-west-2"),
    "EU": ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"),
    "AP": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3"),
}
MRSC_REPLICA_REGIONS = 3  # three replicas (home + 2 replica blocks), or two replicas + a witness (T10)


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to; a global table cannot leave its partition (K2)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith(("us-iso", "eu-iso")):
        return "aws-iso"
    if region.startswith("eusc-"):
        return "aws-eusc"
    return "aws"


def region_set_of(region: str) -> Optional[str]:
    return next((name for name, regions in MRSC_REGION_SETS.items() if region in regions), None)


@dataclass(frozen=True)
class Topology:
    """The regions of one stack's global tables. `replicas` excludes the home region (T10, T16)."""

    home: str
    replicas: tuple[str, ...] = ()
    mode: ConsistencyMode = "EVENTUAL"
    witness: Optional[str] = None

    @property
    def regions(self) -> tuple[str, ...]:
        """Home region first, then the replica regions in configured order."""
        return (self.home, *self.replicas)

    @property
    def replicated(self) -> bool:
        return bool(self.replicas)

    @classmethod
    def of(cls, settings: object) -> "Topology":
        return cls(
            home=getattr(settings, "region"),
            replicas=tuple(getattr(settings, "replicaRegions", ()) or ()),
            mode=getattr(settings, "replicaConsistency", "EVENTUAL"),
            witness=getattr(settings, "witnessRegion", "") or None,
        )
