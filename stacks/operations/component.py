"""The Operations component: the alarm topic (encrypted with the ops key), its subscriptions, the
alarms of every monitored resource and the stack's dashboard. All arguments come from `spec`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws

from .model import AlarmSettings
from .spec import Monitored, alarm_specs, dashboard_body, metric_alarm_args

TYPE = "ddb-blueprint:index:Operations"


@dataclass
class OperationsArgs:
    project: str
    stack: str
    region: str
    resources: Sequence[Monitored]
    settings: AlarmSettings
    ops_key_arn: pulumi.Input[str]
    tags: dict[str, str]


class Operations(pulumi.ComponentResource):
    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard

    def __init__(self, name: str, args: OperationsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{args.project}-{args.stack}"
        self.topic = aws.sns.Topic(f"{name}-alarm-topic", name=f"{prefix}-alarms", kms_master_key_id=args.ops_key_arn,
                                   region=args.region, tags=args.tags, opts=child)
        for i, subscription in enumerate(args.settings.subscriptions):
            aws.sns.TopicSubscription(f"{name}-alarm-subscription-{i}", topic=self.topic.arn, protocol=subscription.protocol,
                                      endpoint=subscription.endpoint, region=args.region, opts=child)
        specs = alarm_specs(args.project, args.stack, args.resources, args.settings)
        self.alarms = {
            spec.name: aws.cloudwatch.MetricAlarm(f"{name}-{spec.kind}-{spec.resource}-{spec.alarm}",
                                                  **metric_alarm_args(spec, self.topic.arn), region=args.region,
                                                  tags=args.tags, opts=child)
            for spec in specs
        }
        body: Any = dashboard_body(args.region, args.resources, specs, args.settings.periodSeconds)
        self.dashboard = aws.cloudwatch.Dashboard(f"{name}-dashboard", dashboard_name=prefix,
                                                  dashboard_body=pulumi.Output.json_dumps(body), region=args.region, opts=child)
        self.register_outputs({"alarmTopicArn": self.topic.arn, "dashboard": self.dashboard.dashboard_name})
