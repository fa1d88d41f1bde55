"""Customer-managed KMS keys of one stack in one region: the tables' key (GOTCHAS K1, K5) and the
operational key (API logs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional, Sequence

import pulumi
import pulumi_aws as aws

from .policy import ops_key_policy, table_key_policy

TYPE = "ddb-blueprint:index:TableKey"
PolicyBuilder = Callable[[str, str, str, Any], dict]


@dataclass(frozen=True, kw_only=True)
class TableKeyArgs:
    region: str
    alias_name: str
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    admin_arns: Sequence[str] = ()
    deletion_window_days: int
    rotation_period_days: int
    protect: bool
    retain_on_delete: bool
    tags: dict[str, str] = field(default_factory=dict)
    # Set for keys outside the provider's region (replica regions); None uses the provider's.
    explicit_region: Optional[str] = None


class TableKey(pulumi.ComponentResource):
    """One symmetric CMK with rotation, an explicit key policy and an alias."""

    TYPE: ClassVar[str] = TYPE
    POLICY: ClassVar[PolicyBuilder] = staticmethod(table_key_policy)  # type: ignore[assignment]
    PURPOSE: ClassVar[str] = "the DynamoDB tables"
    key: aws.kms.Key
    alias: aws.kms.Alias

    def __init__(self, name: str, args: TableKeyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(self.TYPE, name, None, opts)
        self.key = self._create_key(name, args)
        self.alias = aws.kms.Alias(
            f"{name}-alias",
            name=args.alias_name,
            target_key_id=self.key.key_id,
            region=args.explicit_region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"arn": self.key.arn, "alias": self.alias.name})

    def _create_key(self, name: str, args: TableKeyArgs) -> aws.kms.Key:
        policy = pulumi.Output.all(args.partition, args.account_id).apply(
            lambda pa: self.POLICY(pa[0], pa[1], args.region, args.admin_arns)
        )
        return aws.kms.Key(
            name,
            description=f"Encrypts {self.PURPOSE} of {args.alias_name.removeprefix('alias/')} in {args.region}",
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            enable_key_rotation=True,
            rotation_period_in_days=args.rotation_period_days,
            deletion_window_in_days=args.deletion_window_days,
            bypass_policy_lockout_safety_check=False,
            policy=pulumi.Output.json_dumps(policy),
            region=args.explicit_region,
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.retain_on_delete
            ),
        )


class OpsKey(TableKey):
    """The stack's key for operational data: API access and execution logs."""

    TYPE = "ddb-blueprint:index:OpsKey"
    POLICY = staticmethod(ops_key_policy)  # type: ignore[assignment]
    PURPOSE = "the logs"
