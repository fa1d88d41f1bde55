"""The whole data tier of one stack, composed from the validated config."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from .components.keys import TableKey, TableKeyArgs
from .components.table import Table
from .config import BlueprintConfig
from .naming import key_alias_name, standard_tags
from .table_spec import resolve_table


def build(config: BlueprintConfig) -> dict[str, Any]:
    """Create every resource; return the stack outputs (the contract app teams build on)."""
    settings = config.settings
    identity = aws.get_caller_identity_output()
    partition = aws.get_partition_output()

    key = TableKey(
        f"tables-key-{settings.region}",
        TableKeyArgs(
            region=settings.region,
            alias_name=key_alias_name(config.project, config.stack),
            partition=partition.partition,
            account_id=identity.account_id,
            admin_arns=settings.keyAdminArns,
            deletion_window_days=settings.keyDeletionWindowDays,
            rotation_period_days=settings.keyRotationPeriodDays,
            protect=settings.protect,
            retain_on_delete=settings.retainOnDelete,
            tags={**settings.tags, **standard_tags(config.project, config.stack)},
        ),
    )

    tables: dict[str, Any] = {}
    for name in sorted(config.tables):
        spec = resolve_table(config.project, config.stack, name, config.tables[name], settings)
        table = Table(name, spec, key.key.arn)
        tables[name] = {
            "name": table.table.name,
            "arn": table.table.arn,
            "streamArn": table.table.stream_arn if spec.model.stream else None,
            "globalIndexes": sorted(spec.model.globalIndexes),
            "localIndexes": sorted(spec.model.localIndexes),
        }

    return {
        "region": settings.region,
        "tables": tables,
        "kmsKeys": {settings.region: {"arn": key.key.arn, "alias": key.alias.name}},
    }
