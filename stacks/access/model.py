"""The access model: principals and the grants they receive (declared once in Pulumi.yaml)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config.base import Strict

PrincipalKind = Literal["cognitoUser", "service", "tenantRole"]
AccessLevel = Literal["read", "write", "stream", "publish"]
OwnerIdentity = Literal["userPoolSub", "identityId"]
MfaMode = Literal["OFF", "OPTIONAL", "ON"]


class ExistingUserPool(Strict):
    userPoolId: str = Field(pattern=r"^[\w-]+_[0-9a-zA-Z]+$", description="Id of a user pool managed elsewhere.")
    userPoolClientId: str = Field(pattern=r"^[\w+]+$", description="Id of its app client the apps use.")



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

    @field_validator("description")
    @classmethod
    def _iam_accepts_the_description(cls, description: str) -> str:
        # It becomes the IAM role's description: tab, newlines and Latin-1 printable characters only (I9).
        bad = sorted({c for c in description if not (c in "\t\n\r" or " " <= c <= "~" or "\u00a1" <= c <= "\u00ff")})
        if bad:
            shown = ", ".join(repr(c) for c in bad[:5])
            raise ValueError(f"IAM role descriptions take Latin-1 text only; replace {shown} (GOTCHAS I9)")
        return description


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

    @field_validator("reason")
    @classmethod
    def _reason_says_something(cls, reason: str) -> str:
        # The security review shows it next to every statement; blank text approves nothing.
        if not reason.strip():
            raise ValueError("must say why the principal needs this access (not only whitespace)")
        return reason


class AccessModel(Strict):
    principals: dict[str, Principal] = Field(default={}, description="Who may reach the data, by name.")
    grants: dict[str, Grant] = Field(default={}, description="What each principal may do, by grant name.")


class Access(BaseModel):
    """Root wrapper for the access model."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    access: AccessModel
