"""The whole data tier of one stack, composed from the validated config."""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from dataclasses import asdict

from .access.policies import ArnContext, grant_summary, invoke_policy, owner_variable, permission_policy, principal_grants, trust_policy
from .access.role import AccessRole, AccessRoleArgs
from .access.identity import AppIdentity, AppIdentityArgs
from .api.rules import cognito_principal
from .api.spec import (API_PRINCIPAL, STAGE_NAME, creates_items, iam_routes, integration_access, proxy_route_specs,
                       route_specs, route_throttles, stored_item_schema_json)
from .functions.component import Functions, FunctionsArgs
from .config.runtime import PROJECT_ROOT
from .api.component import Api, ApiArgs
from .outputs.component import OutputParameters
from .outputs.contract import CONTRACT_VERSION, parameter_prefix
from .keys.component import OpsKey, TableKey, TableKeyArgs
from .operations.component import Operations, OperationsArgs
from .operations.spec import inventory
from .tables.component import Table
from .config.loader import BlueprintConfig
from .naming import api_name, cognito_name, key_alias_name, ops_key_alias_name, role_name, standard_tags
from .tables.spec import resolve_table
from .dax.component import DaxCluster, DaxClusterArgs, DaxNetwork, DaxNetworkArgs, outputs as dax_outputs
from .dax.reader import dax_reader_functions
from .dax.spec import cluster_spec, interface_endpoint_services
from .replication.component import replication_outputs
from .replication.spec import stack_table_regions


def build(config: BlueprintConfig) -> dict[str, Any]:
    """Create every resource; return the stack outputs (the contract app teams build on)."""
    settings = config.settings
    identity = aws.get_caller_identity_output()
    partition = aws.get_partition_output()

    key = TableKey(f"tables-key-{settings.region}", _key_args(config, settings.region, key_alias_name(config.project, config.stack),
                                                              identity.account_id, partition.partition))

    replica_keys = _build_replica_keys(config, identity.account_id, partition.partition)
    tables: dict[str, Any] = {}
    components: dict[str, Table] = {}
    for name in sorted(config.tables):
        spec = resolve_table(config.project, config.stack, name, config.tables[name], settings)
        table = components[name] = Table(name, spec, key.key.arn,
                                         replica_key_arns={r: k.key.arn for r, k in replica_keys.items()})
        tables[name] = {
            "name": table.table.name,
            "arn": table.table.arn,
            "streamArn": table.table.stream_arn if spec.model.stream else None,
            "globalIndexes": sorted(spec.model.globalIndexes),
            "localIndexes": sorted(spec.model.localIndexes),
            **replication_outputs(table.table, spec, settings.region),
        }

    access, app_identity, roles = _build_access(config, identity.account_id, partition.partition)
    outputs = {
        "region": settings.region,
        "tables": tables,
        "kmsKeys": {settings.region: {"arn": key.key.arn, "alias": key.alias.name},
                    **{r: {"arn": k.key.arn, "alias": k.alias.name} for r, k in replica_keys.items()}},
        **access,
    }
    # The ops key also encrypts the alarm topic, which every stack has (its tables have alarms).
    ops_key = _build_ops_key(config, identity.account_id, partition.partition)
    dax = _build_dax(config, identity.account_id, partition.partition, ops_key) if settings.dax.enabled else None
    if dax is not None:
        outputs["dax"] = dax_outputs(*dax)
    functions = None
    if config.functions.functions:
        functions = Functions(
            "functions",
            FunctionsArgs(
                project=config.project, stack=config.stack, region=settings.region, root=config.root or PROJECT_ROOT,
                build_dir=(config.root or PROJECT_ROOT) / "build" / config.stack, functions=dict(config.functions.functions),
                topics={n: t.description for n, t in config.functions.topics.items()}, roles=roles,
                table_names={n: t.table.name for n, t in components.items()},
                stream_arns={n: t.table.stream_arn for n, t in components.items()},
                ops_key_arn=ops_key.key.arn, partition=partition.partition, account_id=identity.account_id,  # type: ignore[union-attr]
                runtime=settings.lambdaRuntime, layer_arn=settings.powertoolsLayerArn,
                log_retention_days=settings.functionLogRetentionDays, concurrency=settings.functionConcurrency,
                tags={**settings.tags, **standard_tags(config.project, config.stack)},
                item_schemas={rid: stored_item_schema_json(r) for rid, r in config.api.routes.items() if creates_items(r)},
                **_dax_function_args(config, dax),
            ),
        )
        outputs["functions"] = {n: f.arn for n, f in functions.functions.items()}
        outputs["topics"] = {n: t.arn for n, t in functions.topics.items()}
    if config.api.routes or proxy_route_specs(config):
        outputs["api"] = _build_api(config, identity.account_id, partition.partition, app_identity, roles, ops_key, functions)
    outputs["operations"] = _build_operations(config, ops_key)
    outputs["contractVersion"] = CONTRACT_VERSION
    if settings.outputParameters:
        prefix = parameter_prefix(config.project, config.stack)
        OutputParameters("output-parameters", prefix, outputs, settings.region,
                         {**settings.tags, **standard_tags(config.project, config.stack)})
        outputs["parameters"] = {"prefix": prefix}
    return outputs


def _build_operations(config: BlueprintConfig, ops_key: OpsKey) -> dict[str, Any]:
    """Alarms and the dashboard of everything the plan declares (spec.inventory lists it)."""
    settings = config.settings
    has_api = bool(config.api.routes or proxy_route_specs(config))
    monitored = inventory(
        project=config.project, stack=config.stack,
        tables={name: sorted(table.globalIndexes) for name, table in config.tables.items()},
        functions={name: fn.stream is not None for name, fn in config.functions.functions.items()},
        api=(api_name(config.project, config.stack, config.api.name), STAGE_NAME) if has_api else None,
        replicas={name: list(settings.replicaRegions) for name, table in config.tables.items() if table.is_global},
        dax_clusters=[settings.dax.clusterName] if settings.dax.enabled else [],
    )
    operations = Operations("operations", OperationsArgs(
        project=config.project, stack=config.stack, region=settings.region, resources=monitored,
        settings=settings.alarms, ops_key_arn=ops_key.key.arn,
        tags={**settings.tags, **standard_tags(config.project, config.stack)},
    ))
    return {"alarmTopicArn": operations.topic.arn, "dashboard": operations.dashboard.dashboard_name,
            "alarms": sorted(operations.alarms)}


def _build_dax(config: BlueprintConfig, account_id: Any, partition: Any, ops_key: Any) -> tuple[DaxCluster, DaxNetwork]:
    """The DAX network and cluster (stacks/dax), when the stack enables DAX."""
    settings = config.settings
    tags = {**settings.tags, **standard_tags(config.project, config.stack)}
    context = pulumi.Output.all(partition, account_id).apply(
        lambda pa: ArnContext(pa[0], pa[1], settings.region, config.project, config.stack, settings.dax.clusterName))
    in_vpc = [f.environment for n, f in config.functions.functions.items() if n in dax_reader_functions(config)]
    network = DaxNetwork("dax-network", DaxNetworkArgs(
        project=config.project, stack=config.stack, region=settings.region, settings=settings.dax,
        interface_services=interface_endpoint_services(in_vpc), ops_key_arn=ops_key.key.arn,
        partition=partition, account_id=account_id, tags=tags))
    cluster = DaxCluster("dax", DaxClusterArgs(
        spec=cluster_spec(config.project, config.stack, settings.dax), region=settings.region, network=network,
        access=config.access, context=context, ops_key_arn=ops_key.key.arn, tags=tags))
    return cluster, network


def _dax_function_args(config: BlueprintConfig, dax: Any) -> dict[str, Any]:
    """The readers of DAX run in its VPC with the client security group and the cluster endpoint."""
    readers = dax_reader_functions(config)
    if dax is None or not readers:
        return {}
    cluster, network = dax
    return {"vpc_functions": frozenset(readers), "vpc_subnet_ids": network.subnet_ids,
            "vpc_security_group_ids": [network.client_security_group.id],
            "extra_environment": {fn: {"DAX_ENDPOINT": cluster.endpoint_url} for fn in readers}}


def _build_replica_keys(config: BlueprintConfig, account_id: Any, partition: Any) -> dict[str, TableKey]:
    """This stack's table key in each replica region (K1): same policy rendered for that region,
    same alias name, created with the per-resource region argument (K2). The home key is unchanged."""
    settings = config.settings
    if not any(t.is_global for t in config.tables.values()):
        return {}
    return {
        region: TableKey(f"tables-key-{region}", _key_args(config, region, key_alias_name(config.project, config.stack),
                                                           account_id, partition, explicit_region=region))
        for region in settings.replicaRegions
    }


def _build_ops_key(config: BlueprintConfig, account_id: Any, partition: Any) -> OpsKey:
    settings = config.settings
    # Logs, topics and queues are not the system of record; the key still follows the stack's
    # protection settings.
    return OpsKey(f"ops-key-{settings.region}",
                  _key_args(config, settings.region, ops_key_alias_name(config.project, config.stack), account_id, partition))


def _key_args(config: BlueprintConfig, region: str, alias: str, account_id: Any, partition: Any,
              explicit_region: Optional[str] = None) -> TableKeyArgs:
    """One key's arguments: the stack's key settings, protection and tags (every key of the stack)."""
    settings = config.settings
    return TableKeyArgs(
        region=region,
        explicit_region=explicit_region,
        alias_name=alias,
        partition=partition,
        account_id=account_id,
        admin_arns=settings.keyAdminArns,
        deletion_window_days=settings.keyDeletionWindowDays,
        rotation_period_days=settings.keyRotationPeriodDays,
        protect=settings.protect,
        retain_on_delete=settings.retainOnDelete,
        tags={**settings.tags, **standard_tags(config.project, config.stack)},
    )


def _build_api(config: BlueprintConfig, account_id: Any, partition: Any, app_identity: Any, roles: dict[str, Any],
               ops_key: Any, functions: Any) -> dict[str, Any]:
    """The integration role, the API (direct and function routes), and invoke rights for iam routes."""
    settings = config.settings
    tags = {**settings.tags, **standard_tags(config.project, config.stack)}
    specs = route_specs(config)
    integration = integration_access(config)
    integration_role = None
    if integration is not None:
        context = pulumi.Output.all(partition, account_id).apply(
            lambda pa: ArnContext(pa[0], pa[1], settings.region, config.project, config.stack,
                                  table_regions=stack_table_regions(config.tables, settings))
        )
        principal = integration.principals[API_PRINCIPAL]
        integration_role = AccessRole(
            "api-integration-role",
            AccessRoleArgs(
                role_name=role_name(config.project, config.stack, API_PRINCIPAL),
                description=principal.description,
                trust_policy=context.apply(lambda ctx: trust_policy(API_PRINCIPAL, principal, ctx)),
                permission_policy=context.apply(lambda ctx: permission_policy(API_PRINCIPAL, integration, config.tables, ctx)),
                review=_review(API_PRINCIPAL, principal, integration, config),
                tags=tags,
            ),
        )
    api = Api(
        "api",
        ApiArgs(
            name=api_name(config.project, config.stack, config.api.name),
            description=config.api.description,
            specs=specs,
            proxy_specs=proxy_route_specs(config),
            proxy_functions=functions.functions if functions is not None else {},
            partition=partition,
            region=settings.region,
            user_pool_arn=app_identity.user_pool_arn if app_identity is not None else None,
            integration_role_arn=integration_role.role.arn if integration_role is not None else None,
            log_key_arn=ops_key.key.arn,
            log_retention_days=settings.apiLogRetentionDays,
            execution_log_level=settings.apiExecutionLogLevel,
            throttle_rate=settings.apiThrottle.rateLimit,
            throttle_burst=settings.apiThrottle.burstLimit,
            route_throttles=route_throttles(config),
            cors_origin=settings.apiCorsOrigins[0] if settings.apiCorsOrigins else None,
            waf_acl_arn=settings.apiWafAclArn or None,
            tags=tags,
        ),
    )
    iam = iam_routes(specs)
    owner = cognito_principal(config.access)
    if iam and owner is not None:
        # Callers of iam routes sign with the cognitoUser role: it needs execute-api:Invoke on
        # exactly those routes. A policy of its own, since the API id is only known after apply.
        invoke = pulumi.Output.all(partition, account_id, api.rest_api.id).apply(
            lambda v: invoke_policy(v[0], v[1], settings.region, v[2], STAGE_NAME, iam)
        )
        aws.iam.RolePolicy(
            f"{owner}-role-invoke",
            name="invoke-iam-routes",
            role=roles[owner].role.id,
            policy=pulumi.Output.json_dumps(invoke),
            opts=pulumi.ResourceOptions(parent=roles[owner]),
        )
    return {"url": api.stage.invoke_url, "id": api.rest_api.id, "stage": STAGE_NAME}


def _review(name: str, principal: Any, model: Any, config: BlueprintConfig) -> dict[str, Any]:
    return {
        "kind": principal.kind,
        "description": principal.description,
        "service": principal.service,
        "ownerVariable": owner_variable(principal),
        "grants": [
            asdict(grant_summary(g_name, grant, principal, config.tables.get(grant.table or "")))
            for g_name, grant in principal_grants(model, name)
        ],
    }


def _build_access(config: BlueprintConfig, account_id: pulumi.Output[str], partition: pulumi.Output[str]) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Cognito (when a cognitoUser principal exists) and one role per principal."""
    settings, model = config.settings, config.access
    tags = {**settings.tags, **standard_tags(config.project, config.stack)}
    context = pulumi.Output.all(partition, account_id).apply(
        lambda pa: ArnContext(pa[0], pa[1], settings.region, config.project, config.stack,
                              settings.dax.clusterName if settings.dax.enabled else "",
                              table_regions=stack_table_regions(config.tables, settings))
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
                email=settings.cognitoEmail,
                map_user_sub_tag=principal.ownerIdentity == "userPoolSub",
                deletion_protection=settings.deletionProtection,
                protect=settings.protect,
                retain_on_delete=settings.retainOnDelete,
                partition=partition,
                account_id=account_id,
                tags=tags,
            ),
        )
    roles: dict[str, Any] = {}
    for name in sorted(model.principals):
        principal = model.principals[name]
        pool_id = identity.identity_pool.id if identity and principal.kind == "cognitoUser" else None
        trusted = settings.principalTrust.get(name, [])
        review = _review(name, principal, model, config)
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
        roles[name] = role
        if identity is not None and principal.kind == "cognitoUser":
            identity.attach_authenticated_role("app-identity", role.role.arn)
    outputs: dict[str, Any] = {"roles": {name: role.role.arn for name, role in roles.items()}}
    if identity is not None:
        outputs["cognito"] = {
            "userPoolId": identity.user_pool_id,
            "userPoolClientId": identity.client_id,
            "identityPoolId": identity.identity_pool.id,
        }
    return outputs, identity, roles
