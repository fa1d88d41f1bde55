"""The data model of the tables (declared once in Pulumi.yaml) and their per-environment overrides."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config.base import Strict

AttributeType = Literal["S", "N", "B"]
BillingMode = Literal["PAY_PER_REQUEST", "PROVISIONED"]
TableClass = Literal["STANDARD", "STANDARD_INFREQUENT_ACCESS"]
StreamViewType = Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]
Projection = Literal["ALL", "KEYS_ONLY", "INCLUDE"]

def _as_list(value: Union[str, list[str], None]) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class GlobalIndex(Strict):
    partitionKey: Union[str, list[str]] = Field(
        description="Partition key attribute, or up to 4 attributes (multi-attribute key)."
    )
    sortKey: Union[str, list[str], None] = Field(
        default=None, description="Sort key attribute, or up to 4 attributes (multi-attribute key)."
    )
    projection: Projection = Field(default="ALL", description="Attributes copied into the index.")
    nonKeyAttributes: list[str] = Field(default=[], description="Extra attributes projected with INCLUDE.")

    @property
    def partition_attributes(self) -> list[str]:
        return _as_list(self.partitionKey)

    @property
    def sort_attributes(self) -> list[str]:
        return _as_list(self.sortKey)


class LocalIndex(Strict):
    sortKey: str = Field(description="Alternative sort key; the partition key is the table's.")
    projection: Projection = Field(default="ALL", description="Attributes copied into the index.")
    nonKeyAttributes: list[str] = Field(default=[], description="Extra attributes projected with INCLUDE.")


class TableModel(Strict):
    description: str = Field(default="", description="What the table holds (shown in docs and the audit).")
    attributes: dict[str, AttributeType] = Field(
        description="Key attributes (of the table and its indexes) and their types: S, N or B."
    )
    partitionKey: str = Field(description="Partition (hash) key attribute. Changing it replaces the table.")
    sortKey: Optional[str] = Field(default=None, description="Sort (range) key attribute. Changing it replaces the table.")
    globalIndexes: dict[str, GlobalIndex] = Field(default={}, description="Global secondary indexes by name (at most 20).")
    localIndexes: dict[str, LocalIndex] = Field(
        default={}, description="Local secondary indexes by name (at most 5; create-time only)."
    )
    ttlAttribute: Optional[str] = Field(default=None, description="Attribute holding the expiry time (epoch seconds).")
    stream: Optional[StreamViewType] = Field(default=None, description="Stream view type; omitted means no stream.")
    global_: bool = Field(
        default=True,
        alias="global",
        description="Replicated to the stack's replicaRegions (a global table); false keeps it in the home region only.",
    )

    @property
    def is_global(self) -> bool:
        return self.global_


class CapacityRange(Strict):
    min: int = Field(ge=1, le=40000, description="Lowest provisioned units (also the initial capacity).")
    max: int = Field(ge=1, le=40000, description="Highest units autoscaling may provision.")

    @model_validator(mode="after")
    def _min_not_above_max(self) -> "CapacityRange":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class IndexCapacity(Strict):
    read: CapacityRange = Field(description="Index read capacity range.")
    write: CapacityRange = Field(description="Index write capacity range.")


class ProvisionedCapacity(Strict):
    read: CapacityRange = Field(description="Table read capacity range.")
    write: CapacityRange = Field(description="Table write capacity range.")
    targetUtilization: int = Field(default=70, ge=20, le=90, description="Autoscaling target, percent of provisioned.")
    indexes: dict[str, IndexCapacity] = Field(
        default={}, description="Per-GSI ranges; a GSI not listed here gets the table's ranges."
    )


class OnDemandThroughput(Strict):
    read: Optional[int] = Field(default=None, ge=1, description="Maximum read request units per second.")
    write: Optional[int] = Field(default=None, ge=1, description="Maximum write request units per second.")


class TableOverride(Strict):
    billingMode: Optional[BillingMode] = Field(default=None, description="This table's capacity mode.")
    capacity: Optional[ProvisionedCapacity] = Field(
        default=None, description="Provisioned capacity and autoscaling (required when PROVISIONED)."
    )
    maxThroughput: Optional[OnDemandThroughput] = Field(
        default=None, description="On-demand ceilings (PAY_PER_REQUEST only)."
    )
    tableClass: Optional[TableClass] = Field(default=None, description="This table's storage class.")
    contributorInsights: Optional[bool] = Field(default=None, description="Contributor Insights on this table and its GSIs.")
    applyIndexChanges: bool = Field(
        default=False,
        description="PROVISIONED tables with global indexes only: Pulumi ignores their whole globalSecondaryIndexes, "
        "whose capacities Application Auto Scaling owns (the provider's GSIs are a set: no per-index ignore, facts T7). "
        "Set true for the one deploy that adds, removes or changes an index, then back to false.",
    )
    replicaReadCapacity: dict[str, CapacityRange] = Field(
        default={}, description="PROVISIONED global tables: read capacity range per replica region (default: the table's)."
    )


class Tables(BaseModel):
    """Root wrapper so the data model gets the same strict validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    tables: dict[str, TableModel]
