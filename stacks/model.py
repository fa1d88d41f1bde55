"""The typed stack configuration: the data model (declared once) and per-environment settings.

Only structure and value ranges live here. Defaults of top-level keys live in Pulumi.yaml (one
source of truth, also what the Pulumi CLI applies); nested defaults live on these fields.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AttributeType = Literal["S", "N", "B"]
BillingMode = Literal["PAY_PER_REQUEST", "PROVISIONED"]
TableClass = Literal["STANDARD", "STANDARD_INFREQUENT_ACCESS"]
StreamViewType = Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]
Projection = Literal["ALL", "KEYS_ONLY", "INCLUDE"]

# An IAM role/user ARN in any partition. Wildcards are refused: key admins are named principals.
IAM_PRINCIPAL_ARN = r"^arn:aws(-cn|-us-gov|-iso[a-z-]*)?:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$"
LOGICAL_NAME = r"^[a-z][a-zA-Z0-9]{0,39}$"


class Strict(BaseModel):
    """Frozen, typo-proof config objects: unknown keys are errors, types are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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


PrincipalKind = Literal["cognitoUser", "service", "tenantRole"]
AccessLevel = Literal["read", "write", "stream", "publish"]
OwnerIdentity = Literal["userPoolSub", "identityId"]
MfaMode = Literal["OFF", "OPTIONAL", "ON"]


class ExistingUserPool(Strict):
    userPoolId: str = Field(pattern=r"^[\w-]+_[0-9a-zA-Z]+$", description="Id of a user pool managed elsewhere.")
    userPoolClientId: str = Field(pattern=r"^[\w+]+$", description="Id of its app client the apps use.")


LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


class ApiThrottle(Strict):
    rateLimit: int = Field(ge=1, le=10_000, description="Steady requests per second for the whole stage.")
    burstLimit: int = Field(ge=1, le=5_000, description="Requests accepted in a burst.")


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
    principalTrust: dict[str, list[str]]
    apiThrottle: ApiThrottle
    apiLogRetentionDays: int
    apiExecutionLogLevel: Literal["ERROR", "INFO"]
    apiCorsOrigins: list[str]
    apiWafAclArn: str
    functionLogRetentionDays: int
    functionConcurrency: dict[str, int]
    powertoolsLayerArn: str
    lambdaRuntime: Literal["python3.11", "python3.12", "python3.13"]

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


class Principal(Strict):
    kind: PrincipalKind = Field(
        description="cognitoUser (signed-in app users through the identity pool), service (an AWS service role) "
        "or tenantRole (assumed with a session tag naming the tenant)."
    )
    description: str = Field(default="", description="Who or what this principal is (shown in the audit).")
    service: Optional[str] = Field(default=None, description="service only: the one service principal trusted.")
    ownerIdentity: OwnerIdentity = Field(
        default="userPoolSub",
        description="cognitoUser only: the identity row-scoped keys hold: the user pool `sub` (mapped to the "
        "session tag userSub, the same value API Gateway's Cognito authorizer sees) or the identity pool identity id.",
    )
    tagKey: Optional[str] = Field(default=None, description="tenantRole only: the session tag holding the tenant id.")


class Grant(Strict):
    principal: str = Field(description="The principal receiving the grant.")
    table: Optional[str] = Field(default=None, description="The table of the data model it applies to.")
    topic: Optional[str] = Field(default=None, description="Or: a topic of ddb-blueprint:functions it may publish to.")
    access: list[AccessLevel] = Field(default=[], description="read, write and/or stream (tables); publish (topics).")
    actions: list[str] = Field(default=[], description="Explicit DynamoDB item actions, e.g. dynamodb:UpdateItem.")
    indexes: list[str] = Field(default=[], description="Indexes the principal may query (none unless listed).")
    rowScope: Optional[Literal["owner"]] = Field(
        default=None, description="owner: only items whose partition key equals the caller's identity."
    )
    attributes: list[str] = Field(
        default=[], description="Readable/writable attributes only (key attributes are added); no whole-item writes."
    )
    reason: str = Field(min_length=1, description="Why the principal needs this (shown next to each statement).")


class AccessModel(Strict):
    principals: dict[str, Principal] = Field(default={}, description="Who may reach the data, by name.")
    grants: dict[str, Grant] = Field(default={}, description="What each principal may do, by grant name.")


class Tables(BaseModel):
    """Root wrapper so the data model gets the same strict validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    tables: dict[str, TableModel]


class Access(BaseModel):
    """Root wrapper for the access model."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    access: AccessModel

