"""Everything a stack file may set: the per-environment settings, validated with their AWS ranges.

Only structure and value ranges live here. Defaults of top-level keys live in Pulumi.yaml (one
source of truth, also what the Pulumi CLI applies); nested defaults live on the fields.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator

from ..access.model import CognitoEmail, ExistingUserPool, MfaMode
from ..api.model import ApiThrottle
from ..dax.model import DaxSettings
from ..operations.model import AlarmSettings
from ..tables.model import BillingMode, TableClass, TableOverride
from ..replication.model import ConsistencyMode
from .base import IAM_PRINCIPAL_ARN, LOG_RETENTION_DAYS, Strict

class StackSettings(Strict):
    """Everything a stack file may set (keys without the `ddb-blueprint:` namespace)."""

    region: str
    allowedAccountIds: list[str] = []
    billingMode: BillingMode
    tableClass: TableClass
    pointInTimeRecovery: bool
    pitrRecoveryPeriodDays: int = Field(ge=1, le=35)
    deletionProtection: bool
    protect: bool
    retainOnDelete: bool
    contributorInsights: bool
    keyDeletionWindowDays: int = Field(ge=7, le=30)
    keyRotationPeriodDays: int = Field(ge=90, le=2560)
    keyAdminArns: list[str]
    tags: dict[str, str]
    tableOverrides: dict[str, TableOverride]
    existingUserPool: Optional[ExistingUserPool]
    cognitoMfa: MfaMode
    cognitoEmail: Optional[CognitoEmail] = None
    principalTrust: dict[str, list[str]]
    apiThrottle: ApiThrottle
    apiRouteThrottle: dict[str, ApiThrottle]
    apiLogRetentionDays: int
    apiExecutionLogLevel: Literal["ERROR", "INFO"]
    apiCorsOrigins: list[str]
    apiWafAclArn: str
    outputParameters: bool
    functionLogRetentionDays: int
    functionConcurrency: dict[str, int]
    powertoolsLayerArn: str
    # Python runtimes Lambda still creates functions with (facts L7); 3.14 is the newest.
    lambdaRuntime: Literal["python3.11", "python3.12", "python3.13", "python3.14"]
    dax: DaxSettings
    # Global tables (stacks/replication): topology rules live in stacks/replication/rules.py.
    replicaRegions: list[str] = []
    replicaConsistency: ConsistencyMode = "EVENTUAL"
    witnessRegion: str = ""
    alarms: AlarmSettings

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_values_are_text(cls, tags: object) -> object:
        # `pulumi config set --path 'ddb-blueprint:tags.year' 2024` stores a number, `true` a boolean
        # (P8); a tag value is text either way.
        if isinstance(tags, dict):
            return {k: (str(v).lower() if isinstance(v, bool) else str(v)) if isinstance(v, (bool, int)) else v
                    for k, v in tags.items()}
        return tags

    @field_validator("functionLogRetentionDays")
    @classmethod
    def _function_retention(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of CloudWatch Logs' retention values: {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return days

    @field_validator("powertoolsLayerArn")
    @classmethod
    def _layer_arn(cls, arn: str) -> str:
        import re

        if not re.match(r"^arn:aws[a-z-]*:lambda:(\{region\}|[a-z0-9-]+):\d{12}:layer:[\w{}-]+:\d+$", arn):
            raise ValueError("must be a Lambda layer version ARN (arn:aws:lambda:{region}:<account>:layer:<name>:<version>)")
        return arn

    @field_validator("apiLogRetentionDays")
    @classmethod
    def _retention_is_a_cloudwatch_value(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of CloudWatch Logs' retention values: {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return days

    @field_validator("apiCorsOrigins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        import re

        if len(origins) > 1:
            raise ValueError(
                "one origin per stack: API Gateway answers AWS-integration routes with a static "
                "Access-Control-Allow-Origin header"
            )
        for origin in origins:
            if not re.match(r"^(https://[a-z0-9.-]+(:[0-9]{1,5})?|http://localhost(:[0-9]{1,5})?)$", origin):
                raise ValueError(f"{origin!r} is not an exact origin (https://host[:port], or http://localhost[:port]); no wildcards")
        return origins

    @field_validator("apiWafAclArn")
    @classmethod
    def _waf_arn(cls, arn: str) -> str:
        import re

        if arn and not re.match(r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/[\w-]+/[\w-]+$", arn):
            raise ValueError("must be a regional WAFv2 web ACL ARN (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>) or empty")
        return arn

    @field_validator("existingUserPool", mode="before")
    @classmethod
    def _empty_means_create(cls, value: object) -> object:
        # Pulumi config cannot default to null, so "{}" (the declared default) means "create one".
        return None if value == {} else value

    @field_validator("cognitoEmail", mode="before")
    @classmethod
    def _empty_means_cognito_default(cls, value: object) -> object:
        return None if value == {} else value  # "{}" (the declared default): Cognito's own email

    @field_validator("cognitoEmail")
    @classmethod
    def _identity_in_the_stack(cls, email: Optional[CognitoEmail], info: Any) -> Optional[CognitoEmail]:
        if email is None:
            return email
        region = info.data.get("region")
        if region and email.region != region:
            raise ValueError(f"the SES identity is in {email.region}, the stack in {region}: Cognito sends through "
                             "SES in the user pool's region (typically the same, facts C1); use an identity verified in "
                             f"{region}")
        accounts = info.data.get("allowedAccountIds") or []
        if accounts and email.account not in accounts:
            raise ValueError(f"the SES identity is in account {email.account}, but this stack deploys to "
                             f"{', '.join(accounts)} (aws:allowedAccountIds)")
        if info.data.get("existingUserPool") is not None:
            raise ValueError("the user pool is managed elsewhere (existingUserPool): configure its email there")
        return email

    @field_validator("principalTrust")
    @classmethod
    def _trusted_principals_are_named(cls, trust: dict[str, list[str]]) -> dict[str, list[str]]:
        import re

        for principal, arns in trust.items():
            bad = [a for a in arns if not re.match(IAM_PRINCIPAL_ARN, a)]
            if bad or not arns:
                raise ValueError(
                    f"{principal}: list IAM role or user ARNs (arn:aws:iam::<account>:role/<name>), no wildcards"
                )
        return trust

    @field_validator("keyAdminArns")
    @classmethod
    def _admins_are_named_principals(cls, arns: list[str]) -> list[str]:
        import re

        bad = [a for a in arns if not re.match(IAM_PRINCIPAL_ARN, a)]
        if bad:
            raise ValueError(
                f"{bad[0]!r} is not an IAM role or user ARN (arn:aws:iam::<12-digit account>:role/<name>); "
                "wildcards are not allowed"
            )
        return arns

    @field_validator("allowedAccountIds")
    @classmethod
    def _account_ids(cls, ids: list[str]) -> list[str]:
        bad = [i for i in ids if not (i.isdigit() and len(i) == 12)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a 12-digit AWS account id")
        return ids
