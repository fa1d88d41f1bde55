"""Cognito for app users: user pool and app client (or existing ones), and the stack's identity pool."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from .policies import USER_SUB_TAG
from .model import CognitoEmail, ExistingUserPool

TYPE = "ddb-blueprint:index:AppIdentity"


@dataclass(frozen=True, kw_only=True)
class AppIdentityArgs:
    name: str
    region: str
    existing: Optional[ExistingUserPool]
    mfa: str
    map_user_sub_tag: bool  # set the userSub session tag from the token's sub claim
    deletion_protection: bool
    protect: bool
    retain_on_delete: bool
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)
    email: Optional[CognitoEmail] = None  # None: Cognito's own email (COGNITO_DEFAULT)


def email_configuration(email: Optional[CognitoEmail]) -> Optional[dict]:
    """The user pool's email_configuration: SES through the stack's identity (facts C1), or none."""
    if email is None:
        return None
    configuration = {"email_sending_account": "DEVELOPER", "source_arn": email.sesIdentityArn,
                     "from_email_address": email.fromAddress}
    if email.replyTo:
        configuration["reply_to_email_address"] = email.replyTo
    return configuration


class AppIdentity(pulumi.ComponentResource):
    user_pool_id: pulumi.Output[str]
    user_pool_arn: pulumi.Output[str]
    client_id: pulumi.Output[str]
    identity_pool: aws.cognito.IdentityPool

    def __init__(self, name: str, args: AppIdentityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        if args.existing is not None:
            self.user_pool_id = pulumi.Output.from_input(args.existing.userPoolId)
            self.client_id = pulumi.Output.from_input(args.existing.userPoolClientId)
            self.user_pool_arn = pulumi.Output.all(args.partition, args.account_id).apply(
                lambda pa: f"arn:{pa[0]}:cognito-idp:{args.region}:{pa[1]}:userpool/{args.existing.userPoolId}"  # type: ignore[union-attr]
            )
        else:
            self._create_user_pool(name, args)
        provider_name = pulumi.Output.concat("cognito-idp.", args.region, ".amazonaws.com/", self.user_pool_id)
        self.identity_pool = aws.cognito.IdentityPool(
            f"{name}-identities",
            identity_pool_name=args.name,
            allow_unauthenticated_identities=False,  # GOTCHAS I7
            allow_classic_flow=False,
            cognito_identity_providers=[
                {"client_id": self.client_id, "provider_name": provider_name, "server_side_token_check": True}
            ],
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.map_user_sub_tag:
            aws.cognito.IdentityPoolProviderPrincipalTag(
                f"{name}-user-sub-tag",
                identity_pool_id=self.identity_pool.id,
                identity_provider_name=provider_name,
                principal_tags={USER_SUB_TAG: "sub"},
                use_defaults=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs(
            {"userPoolId": self.user_pool_id, "userPoolClientId": self.client_id, "identityPoolId": self.identity_pool.id}
        )

    def _create_user_pool(self, name: str, args: AppIdentityArgs) -> None:
        pool = aws.cognito.UserPool(
            f"{name}-users",
            name=args.name,
            username_attributes=["email"],
            auto_verified_attributes=["email"],
            mfa_configuration=args.mfa,
            software_token_mfa_configuration={"enabled": True} if args.mfa != "OFF" else None,
            password_policy={
                "minimum_length": 12,
                "require_lowercase": True,
                "require_uppercase": True,
                "require_numbers": True,
                "require_symbols": True,
                "temporary_password_validity_days": 3,
            },
            account_recovery_setting={"recovery_mechanisms": [{"name": "verified_email", "priority": 1}]},
            admin_create_user_config={"allow_admin_create_user_only": False},
            deletion_protection="ACTIVE" if args.deletion_protection else "INACTIVE",
            email_configuration=email_configuration(args.email),
            tags=args.tags,
            # Users are state: the same protection as the tables.
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.retain_on_delete),
        )
        client = aws.cognito.UserPoolClient(
            f"{name}-app",
            name=f"{args.name}-app",
            user_pool_id=pool.id,
            generate_secret=False,  # public web/mobile clients cannot keep a secret
            explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            access_token_validity=60,
            id_token_validity=60,
            refresh_token_validity=30,
            token_validity_units={"access_token": "minutes", "id_token": "minutes", "refresh_token": "days"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.user_pool_id = pool.id
        self.user_pool_arn = pool.arn
        self.client_id = client.id

    def attach_authenticated_role(self, name: str, role_arn: pulumi.Input[str]) -> None:
        """The identity pool hands out this role to authenticated identities only (no unauthenticated role)."""
        aws.cognito.IdentityPoolRoleAttachment(
            f"{name}-roles",
            identity_pool_id=self.identity_pool.id,
            roles={"authenticated": role_arn},
            opts=pulumi.ResourceOptions(parent=self),
        )
