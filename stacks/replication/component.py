"""The Pulumi side of replication that is not the table itself: per-region stack outputs."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws

from ..tables.spec import TableSpec
from .spec import regional_arn, replica_stream_arn, streams


def replication_outputs(table: aws.dynamodb.Table, spec: TableSpec, home: str) -> dict[str, Any]:
    """`regions`: per region the name, ARN and stream ARN of the table's copy (home included)."""
    has_stream = streams(spec)
    regions: dict[str, Any] = {
        home: {"name": table.name, "arn": table.arn, "streamArn": table.stream_arn if has_stream else None}
    }
    for region in spec.replicas:
        regions[region] = {
            "name": table.name,
            "arn": table.arn.apply(lambda arn, r=region: regional_arn(arn, home, r)),
            "streamArn": table.replicas.apply(lambda rs, r=region: replica_stream_arn(rs, r)) if has_stream else None,
        }
    return {"regions": regions, "consistency": spec.consistency_mode if spec.replicas else None}
