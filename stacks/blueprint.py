"""The whole data tier of one stack, composed from the validated config."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from dataclasses import asdict

from .access import ArnContext, grant_summary, owner_variable, permission_policy, principal_grants, trust_policy
from .components.access_role import AccessRole, AccessRoleArgs
from .components.identity import AppIdentity, AppIdentityArgs
from .components.keys import TableKey, TableKeyArgs
from .components.table import Table
from .config import BlueprintConfig
from .naming import cognito_name, key_alias_name, role_name, standard_tags
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

    access = _build_access(config, identity.account_id, partition.partition)
    return {
        "region": settings.region,
        "tables": tables,
        "kmsKeys": {settings.region: {"arn": key.key.arn, "alias": key.alias.name}},
        **access,
    }


def _build_access(config: BlueprintConfig, account_id: pulumi.Output[str], partition: pulumi.Output[str]) -> dict[str, Any]:
    """Cognito (when a cognitoUser principal exists) and one role per principal."""
    settings, model = config.settings, config.access
    tags = {**settings.tags, **standard_tags(config.project, config.stack)}
    context = pulumi.Output.all(partition, account_id).apply(
        lambda pa: ArnContext(pa[0], pa[1], settings.region, config.project, config.stack)
    )
    cognito_principals = [n for n, p in model.principals.items() if p.kind == "cognitoUser"]
    identity = None
    if cognito_principals:
        principal = model.principals[cognito_principals[0]]
        identity = AppIdentity(
            "app-identity",
            AppIdentityArgs(
                name=cognito_name(config.project, config.stack),
                region=settings.region,
                existing=settings.existingUserPool,
                mfa=settings.cognitoMfa,
                map_user_sub_tag=principal.ownerIdentity == "userPoolSub",
                deletion_protection=settings.deletionProtection,
                protect=settings.protect,
                retain_on_delete=settings.retainOnDelete,
                tags=tags,
            ),
        )
    roles: dict[str, Any] = {}
    for name in sorted(model.principals):
        principal = model.principals[name]
        pool_id = identity.identity_pool.id if identity and principal.kind == "cognitoUser" else None
        trusted = settings.principalTrust.get(name, [])
        review = {
            "kind": principal.kind,
            "description": principal.description,
            "service": principal.service,
            "ownerVariable": owner_variable(principal),
            "grants": [
                asdict(grant_summary(g_name, grant, principal, config.tables[grant.table]))
                for g_name, grant in principal_grants(model, name)
            ],
        }
        role = AccessRole(
            f"{name}-role",
            AccessRoleArgs(
                role_name=role_name(config.project, config.stack, name),
                description=principal.description or f"{principal.kind} principal {name}",
                trust_policy=context.apply(lambda ctx, n=name, p=principal, i=pool_id, t=trusted: trust_policy(n, p, ctx, i, t)),
                permission_policy=context.apply(lambda ctx, n=name: permission_policy(n, model, config.tables, ctx)),
                review=review,
                tags=tags,
            ),
        )
        roles[name] = role.role.arn
        if identity is not None and principal.kind == "cognitoUser":
            identity.attach_authenticated_role("app-identity", role.role.arn)
    outputs: dict[str, Any] = {"roles": roles}
    if identity is not None:
        outputs["cognito"] = {
            "userPoolId": identity.user_pool_id,
            "userPoolClientId": identity.client_id,
            "identityPoolId": identity.identity_pool.id,
        }
    return outputs
