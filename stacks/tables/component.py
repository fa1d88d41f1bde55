"""One DynamoDB table with its autoscaling and contributor insights."""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from .spec import ScalingTarget, TableSpec, capacity_ignore_changes, scaling_targets, table_args
from ..replication.spec import replica_scaling_targets

TYPE = "ddb-blueprint:index:Table"


class Table(pulumi.ComponentResource):
    table: aws.dynamodb.Table

    def __init__(
        self, name: str, spec: TableSpec, kms_key_arn: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None,
        replica_key_arns: Optional[Mapping[str, pulumi.Input[str]]] = None,
    ):
        super().__init__(TYPE, name, None, opts)
        self.spec = spec
        self.table = aws.dynamodb.Table(
            name,
            **table_args(spec, kms_key_arn, replica_key_arns),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=spec.protect,
                retain_on_delete=spec.retain_on_delete,
                ignore_changes=capacity_ignore_changes(spec),
            ),
        )
        self._create_autoscaling(name, scaling_targets(spec))
        for region in spec.replicas:
            # Each replica region scales its own capacity (T3); the replica exists once the table does.
            self._create_autoscaling(name, replica_scaling_targets(spec, region), region)
        if spec.contributor_insights:
            self._create_contributor_insights(name, spec)
            for region in spec.replicas:
                self._create_contributor_insights(name, spec, region)
        self.register_outputs({"name": self.table.name, "arn": self.table.arn, "streamArn": self.table.stream_arn,
                               "replicaRegions": list(spec.replicas)})

    def _create_autoscaling(self, name: str, targets: list[ScalingTarget], region: Optional[str] = None) -> None:
        for target in targets:
            scalable = aws.appautoscaling.Target(
                f"{name}-{target.suffix}-target",
                service_namespace="dynamodb",
                resource_id=target.resource_id,
                scalable_dimension=target.dimension,
                min_capacity=target.min_capacity,
                max_capacity=target.max_capacity,
                region=region,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.table]),
            )
            aws.appautoscaling.Policy(
                f"{name}-{target.suffix}-policy",
                policy_type="TargetTrackingScaling",
                service_namespace=scalable.service_namespace,
                resource_id=scalable.resource_id,
                scalable_dimension=scalable.scalable_dimension,
                target_tracking_scaling_policy_configuration={
                    "predefined_metric_specification": {"predefined_metric_type": target.metric},
                    "target_value": float(target.target_utilization),
                },
                region=region,
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _create_contributor_insights(self, name: str, spec: TableSpec, region: Optional[str] = None) -> None:
        prefix = f"{name}-{region}" if region else name
        # A replica's insights are a resource of its region; it exists once the table (with replicas) does.
        depends = [self.table] if region else []
        aws.dynamodb.ContributorInsights(
            f"{prefix}-insights", table_name=self.table.name, region=region,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        for index in sorted(spec.model.globalIndexes):
            aws.dynamodb.ContributorInsights(
                f"{prefix}-{index}-insights",
                table_name=self.table.name,
                index_name=index,
                region=region,
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
            )
