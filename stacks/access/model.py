"""The access model: principals and the grants they receive (declared once in Pulumi.yaml)."""

from __future__ import annotations

from typing import Literal, Optional

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..config.base import Strict

PrincipalKind = Literal["cognitoUser", "service", "tenantRole"]
AccessLevel = Literal["read", "write", "stream", "publish"]
OwnerIdentity = Literal["userPoolSub", "identityId"]
MfaMode = Literal["OFF", "OPTIONAL", "ON"]


class ExistingUserPool(Strict):
    userPoolId: str = Field(pattern=r"^[\w-]+_[0-9a-zA-Z]+$", description="Id of a user pool managed elsewhere.")
    userPoolClientId: str = Field(pattern=r"^[\w+]+$", description="Id of its app client the apps use.")



# An SES identity (an email address or a domain) in any partition (facts C1).
SES_IDENTITY_ARN = r"^arn:aws(-cn|-us-gov)?:ses:([a-z]{2}(-[a-z]+)+-\d):(\d{12}):identity/(.+)$"
EMAIL = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)"


class CognitoEmail(Strict):
    sesIdentityArn: str = Field(
        description="ARN of a verified SES identity (email address or domain) in the stack's account and region: "
        "arn:aws:ses:<region>:<account>:identity/<address or domain>."
    )
    fromAddress: str = Field(description="Sender: an address of that identity, optionally with a name: `Shop <no-reply@shop.example>`.")
    replyTo: Optional[str] = Field(default=None, description="Reply-To address (optional).")

    @model_validator(mode="after")
    def _addresses_belong_to_the_identity(self) -> "CognitoEmail":
        arn = re.match(SES_IDENTITY_ARN, self.sesIdentityArn)
        if arn is None:
            raise ValueError("sesIdentityArn must be an SES identity ARN: arn:aws:ses:<region>:<12-digit account>:"
                             "identity/<email address or domain>")
        identity = arn.group(5)
        sender = re.fullmatch(r"(?:[^<>]{1,100} )?<(" + EMAIL + r")>|(" + EMAIL + r")", self.fromAddress)
        if sender is None:
            raise ValueError("fromAddress must be an email address, or `Name <address>`")
        address = (sender.group(1) or sender.group(4)).lower()
        if "@" in identity and address != identity.lower():
            raise ValueError(f"fromAddress must be the verified address {identity!r} (an email-address identity "
                             "sends from that address only)")
        if "@" not in identity and address.split("@", 1)[1] != identity.lower():
            raise ValueError(f"fromAddress must be an address at the verified domain {identity!r}")
        if self.replyTo is not None and not re.fullmatch(EMAIL, self.replyTo):
            raise ValueError("replyTo must be an email address")
        return self

    @property
    def region(self) -> str:
        return re.match(SES_IDENTITY_ARN, self.sesIdentityArn).group(2)  # type: ignore[union-attr]

    @property
    def account(self) -> str:
        return re.match(SES_IDENTITY_ARN, self.sesIdentityArn).group(4)  # type: ignore[union-attr]


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
    directWrites: bool = Field(
        default=False,
        description="cognitoUser only: the app users may write these items directly, bypassing the API's validation. "
        "Required (true) for any write by a cognitoUser principal, so it is never granted by accident; scope it with "
        "`attributes` where possible.",
    )
    reason: str = Field(min_length=1, description="Why the principal needs this (shown next to each statement).")
    via: Optional[Literal["dax"]] = Field(
        default=None, description="dax: through the stack's DAX cluster (dax: actions on the cluster; no row or attribute scope, D3)."
    )

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
