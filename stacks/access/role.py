"""One IAM role per principal, with the policy generated from its grants (nothing hand-written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

TYPE = "ddb-blueprint:index:AccessRole"


@dataclass(frozen=True, kw_only=True)
class AccessRoleArgs:
    role_name: str
    description: str
    # Documents as Outputs of plain dicts; leaves may themselves be Outputs (e.g. an identity pool id).
    trust_policy: pulumi.Output[Any]
    permission_policy: pulumi.Output[Any]
    review: dict[str, Any]  # what the security review shows next to the policies (grants, isolation)
    tags: dict[str, str] = field(default_factory=dict)


class AccessRole(pulumi.ComponentResource):
    role: aws.iam.Role

    def __init__(self, name: str, args: AccessRoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        # Nested Outputs resolved for the role's inputs; kept granular in this component's outputs,
        # so the plan shows a trust policy whose only unknown is the identity pool id.
        trust = args.trust_policy.apply(pulumi.Output.from_input)
        self.role = aws.iam.Role(
            name,
            name=args.role_name,
            description=args.description[:1000],
            assume_role_policy=pulumi.Output.json_dumps(trust),
            max_session_duration=3600,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-access",
            name="declared-access",
            role=self.role.id,
            policy=pulumi.Output.json_dumps(args.permission_policy.apply(pulumi.Output.from_input)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "roleArn": self.role.arn,
                "roleName": args.role_name,
                "trustPolicy": args.trust_policy,
                "permissionPolicy": args.permission_policy,
                "review": args.review,
            }
        )
