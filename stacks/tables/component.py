"""One DynamoDB table with its autoscaling and contributor insights."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from .spec import TableSpec, capacity_ignore_changes, scaling_targets, table_args

TYPE = "ddb-blueprint:index:Table"


class Table(pulumi.ComponentResource):
    table: aws.dynamodb.Table

    def __init__(
        self, name: str, spec: TableSpec, kms_key_arn: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__(TYPE, name, None, opts)
        self.table = aws.dynamodb.Table(
            name,
            **table_args(spec, kms_key_arn),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=spec.protect,
                retain_on_delete=spec.retain_on_delete,
                ignore_changes=capacity_ignore_changes(spec),
            ),
        )
        self._create_autoscaling(name, spec)
        if spec.contributor_insights:
            self._create_contributor_insights(name, spec)
        self.register_outputs({"name": self.table.name, "arn": self.table.arn, "streamArn": self.table.stream_arn})

    def _create_autoscaling(self, name: str, spec: TableSpec) -> None:
        for target in scaling_targets(spec):
            scalable = aws.appautoscaling.Target(
                f"{name}-{target.suffix}-target",
                service_namespace="dynamodb",
                resource_id=target.resource_id,
                scalable_dimension=target.dimension,
                min_capacity=target.min_capacity,
                max_capacity=target.max_capacity,
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
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _create_contributor_insights(self, name: str, spec: TableSpec) -> None:
        aws.dynamodb.ContributorInsights(
            f"{name}-insights", table_name=self.table.name, opts=pulumi.ResourceOptions(parent=self)
        )
        for index in sorted(spec.model.globalIndexes):
            aws.dynamodb.ContributorInsights(
                f"{name}-{index}-insights",
                table_name=self.table.name,
                index_name=index,
                opts=pulumi.ResourceOptions(parent=self),
            )
