"""Least-privilege IAM from declared access: pure functions from grants to policy documents.

Every statement carries a Sid naming the grant it serves. Row scope uses `dynamodb:LeadingKeys`
with `ForAllValues:StringEquals` and a `Null` guard, on the actions that support the key only
(GOTCHAS I1-I4); attribute scope adds `dynamodb:Attributes`, `dynamodb:Select` and
`dynamodb:ReturnValues` (I5). Table keys are reached through DynamoDB only (K7).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from .model import AccessModel, Grant, Principal
from ..tables.model import TableModel
from ..naming import key_alias_name, ops_key_alias_name, physical_table_name, role_name

VERSION = "2012-10-17"

READ_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query")
WRITE_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
STREAM_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
# The only actions dynamodb:LeadingKeys applies to (GOTCHAS I2).
LEADING_KEYS_ACTIONS = frozenset(
    {
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PartiQLDelete",
        "dynamodb:PartiQLInsert",
        "dynamodb:PartiQLSelect",
        "dynamodb:PartiQLUpdate",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    }
)
ITEM_ACTIONS = LEADING_KEYS_ACTIONS | {"dynamodb:Scan"}
WHOLE_ITEM_WRITES = frozenset({"dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem"})
PARTIQL = frozenset(a for a in ITEM_ACTIONS if a.startswith("dynamodb:PartiQL"))
RETURN_VALUES_WITHOUT_OTHER_ATTRIBUTES = ["NONE", "UPDATED_NEW", "UPDATED_OLD"]
SERVICES = ("lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "states.amazonaws.com", "apigateway.amazonaws.com")
# Services that document aws:SourceAccount in role trust policies (confused-deputy prevention, I8, L10).
SOURCE_ACCOUNT_SERVICES = frozenset({"lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "states.amazonaws.com"})
# Why each service's trust has the confused-deputy conditions it has, for the review (I8, L10).
TRUST_CONDITION_NOTES = {
    "lambda.amazonaws.com": (
        "`aws:SourceAccount` = this account: the Lambda guide says a role a service assumes may be limited with "
        "aws:SourceAccount / aws:SourceArn, and AWS's own sample execution-role trust uses aws:SourceAccount (I8, L10). "
        "No aws:SourceArn: the function-ARN form is documented only in a community answer, and the role must exist "
        "before the function that would be its source."),
    "apigateway.amazonaws.com": (
        "none: AWS documents no aws:SourceAccount / aws:SourceArn support for the role API Gateway assumes as "
        "integration credentials (no confused-deputy page for API Gateway, I8); a condition the service does not "
        "send would deny every request of every route. The role's permissions are limited instead: exactly each "
        "route's action on its table or index."),
    "ecs-tasks.amazonaws.com": "`aws:SourceAccount` = this account (AWS-authored sample trust policy, I8).",
    "states.amazonaws.com": "`aws:SourceAccount` = this account (I8).",
}
TAG_KEY = re.compile(r"^[\w+=,.@-]{1,128}$")
USER_SUB_TAG = "userSub"  # session tag the identity pool maps from the user pool token's `sub`

Finding = tuple[str, str]


@dataclass(frozen=True)
class ArnContext:
    partition: str
    account: str
    region: str
    project: str
    stack: str
    dax_cluster: str = ""  # the stack's DAX cluster name, when it has one
    # Global tables: table -> every region holding a copy, home first (stacks/replication). A table
    # not listed lives in `region` only.
    table_regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def dax_cluster_arn(self) -> str:
        return f"arn:{self.partition}:dax:{self.region}:{self.account}:cache/{self.dax_cluster}"

    def regions_of(self, table: str) -> tuple[str, ...]:
        return tuple(self.table_regions.get(table) or (self.region,))

    def table_arn(self, table: str, region: Optional[str] = None) -> str:
        name = physical_table_name(self.project, self.stack, table)
        return f"arn:{self.partition}:dynamodb:{region or self.region}:{self.account}:table/{name}"


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def grant_actions(grant: Grant) -> list[str]:
    """The item and stream actions a grant expands to (access levels plus explicit actions)."""
    actions = set(grant.actions)
    if "read" in grant.access:
        actions |= set(READ_ACTIONS)
    if "write" in grant.access:
        actions |= set(WRITE_ACTIONS)
    if "stream" in grant.access:
        actions |= set(STREAM_ACTIONS)
    return sorted(actions)


def item_actions(grant: Grant) -> list[str]:
    return [a for a in grant_actions(grant) if a not in STREAM_ACTIONS]


def owner_variable(principal: Principal) -> Optional[str]:
    """The policy variable that holds the caller's identity, for row-scoped principals."""
    if principal.kind == "cognitoUser":
        if principal.ownerIdentity == "identityId":
            return "${cognito-identity.amazonaws.com:sub}"  # the identity pool identity id (I7)
        return f"${{aws:PrincipalTag/{USER_SUB_TAG}}}"
    if principal.kind == "tenantRole" and principal.tagKey:
        return f"${{aws:PrincipalTag/{principal.tagKey}}}"
    return None


def index_partition_attributes(table: TableModel, index: str) -> list[str]:
    if index in table.localIndexes:
        return [table.partitionKey]
    return table.globalIndexes[index].partition_attributes


# --------------------------------------------------------------------------------------------
# Validation: every problem with the declared access, as (path, message) under `access`.
# --------------------------------------------------------------------------------------------


def access_findings(
    access: AccessModel, tables: Mapping[str, TableModel], project: str, stack: str, trust: Mapping[str, list[str]],
    topics: Iterable[str] = (), dax_tables: Iterable[str] = (),
    table_regions: Optional[Mapping[str, tuple[str, ...]]] = None,
) -> list[Finding]:
    found: list[Finding] = []
    cached = set(dax_tables)
    cognito = [n for n, p in access.principals.items() if p.kind == "cognitoUser"]
    if len(cognito) > 1:
        found.append(("principals", f"at most one cognitoUser principal (the identity pool's role); got {', '.join(cognito)}"))
    for name, principal in access.principals.items():
        found += [(f"principals.{name}{sub}", msg) for sub, msg in _principal_findings(name, principal, project, stack, trust)]
        if not any(g.principal == name for g in access.grants.values()):
            found.append((f"principals.{name}", "has no grant; grant it something or remove it"))
    for name, grant in access.grants.items():
        if grant.topic is not None or grant.table is None:
            found += [(f"grants.{name}{sub}", msg) for sub, msg in _topic_grant_findings(grant, access, set(topics))]
            continue
        found += [(f"grants.{name}{sub}", msg) for sub, msg in _grant_findings(grant, access, tables)]
        if grant.via == "dax":
            from ..dax.rules import via_dax_findings  # DAX builds on this module

            found += [(f"grants.{name}{sub}", msg) for sub, msg in via_dax_findings(grant, access, cached)]
    if not found:
        found += _size_findings(access, tables, project, stack, table_regions)
    return found


# IAM counts an inline role policy without whitespace; all of a role's inline policies share it.
MAX_INLINE_POLICY_CHARS = 10_240


def _size_findings(access: AccessModel, tables: Mapping[str, TableModel], project: str, stack: str,
                   table_regions: Optional[Mapping[str, tuple[str, ...]]] = None) -> list[Finding]:
    # The longest partition and region names, so a policy that fits here fits everywhere; global
    # tables count once per region.
    longest = "ap-southeast-5"
    regions = {t: tuple(longest for _ in r) for t, r in (table_regions or {}).items()}
    ctx = ArnContext("aws-us-gov", "000000000000", longest, project, stack, table_regions=regions)
    found = []
    for name in sorted(access.principals):
        size = len(json.dumps(permission_policy(name, access, tables, ctx), separators=(",", ":")))
        if size > MAX_INLINE_POLICY_CHARS:
            found.append((f"principals.{name}", f"its generated policy is {size} characters; IAM allows "
                          f"{MAX_INLINE_POLICY_CHARS} per role: split its grants across principals"))
    return found


def trust_findings(access: AccessModel, trust: Mapping[str, list[str]]) -> list[Finding]:
    """Problems with `principalTrust` (a stack setting) against the access model."""
    found: list[Finding] = []
    for name in trust:
        principal = access.principals.get(name)
        if principal is None or principal.kind != "tenantRole":
            found.append((name, "principalTrust applies to tenantRole principals of the access model only"))
    return found


def _principal_findings(name: str, principal: Principal, project: str, stack: str, trust: Mapping[str, list[str]]) -> list[Finding]:
    found: list[Finding] = []
    if not re.match(r"^[a-z][a-zA-Z0-9]{0,39}$", name):
        found.append(("", "principal names are identifiers: a lowercase letter, then letters or digits, at most 40"))
    if len(role_name(project, stack, name)) > 64:
        found.append(("", f"role name {role_name(project, stack, name)!r} exceeds IAM's 64 characters"))
    if principal.kind == "service":
        if principal.service not in SERVICES:
            found.append((".service", f"must be one of {', '.join(SERVICES)}"))
    elif principal.service is not None:
        found.append((".service", "only service principals name a service"))
    if principal.kind == "tenantRole":
        if not principal.tagKey or not TAG_KEY.match(principal.tagKey):
            found.append((".tagKey", "tenantRole needs tagKey: the session tag holding the tenant id"))
        if not trust.get(name):
            found.append(("", f"tenantRole needs ddb-blueprint:principalTrust.{name} in the stack file: who may assume it"))
    elif principal.tagKey is not None:
        found.append((".tagKey", "only tenantRole principals use tagKey"))
    if principal.kind != "cognitoUser" and "ownerIdentity" in principal.model_fields_set:
        found.append((".ownerIdentity", "only cognitoUser principals choose an owner identity"))
    return found


def _topic_grant_findings(grant: Grant, access: AccessModel, topics: set[str]) -> list[Finding]:
    found: list[Finding] = []
    if grant.table is not None and grant.topic is not None:
        return [("", "a grant is on a table or on a topic, not both")]
    if grant.topic is None:
        return [(".table", "a grant names a table or a topic")]
    if grant.principal not in access.principals:
        found.append((".principal", f"no principal {grant.principal!r}; principals: {', '.join(sorted(access.principals))}"))
    if grant.topic not in topics:
        found.append((".topic", f"no topic {grant.topic!r} in ddb-blueprint:functions.topics ({', '.join(sorted(topics)) or 'none'})"))
    if grant.access != ["publish"] or grant.actions or grant.indexes or grant.rowScope or grant.attributes:
        found.append((".access", "a topic grant is exactly access: [publish]"))
    return found


def _grant_findings(grant: Grant, access: AccessModel, tables: Mapping[str, TableModel]) -> list[Finding]:
    found: list[Finding] = []
    principal = access.principals.get(grant.principal)
    if principal is None:
        found.append((".principal", f"no principal {grant.principal!r}; principals: {', '.join(sorted(access.principals))}"))
    table = tables.get(grant.table)
    if table is None:
        found.append((".table", f"no table {grant.table!r}; tables: {', '.join(sorted(tables))}"))
    if not grant.access and not grant.actions:
        found.append(("", "grants nothing: set access (read, write, stream) or actions"))
    if "publish" in grant.access:
        found.append((".access", "publish applies to topic grants"))
    for action in grant.actions:
        if action not in ITEM_ACTIONS:
            found.append((".actions", f"{action!r} is not a DynamoDB item action (allowed: {', '.join(sorted(ITEM_ACTIONS))})"))
    if len(set(grant.access)) != len(grant.access) or len(set(grant.actions)) != len(grant.actions):
        found.append(("", "lists an access level or action twice"))
    if table is None or principal is None:
        return found
    actions = set(grant_actions(grant))
    found += _direct_write_findings(grant, principal, actions)
    for index in grant.indexes:
        if index not in table.globalIndexes and index not in table.localIndexes:
            found.append((".indexes", f"table {grant.table!r} has no index {index!r}"))
    if "stream" in grant.access and table.stream is None:
        found.append((".access", f"table {grant.table!r} has no stream; declare stream: in the data model"))
    if grant.rowScope == "owner":
        found += _row_scope_findings(grant, principal, table, actions)
    if grant.attributes:
        whole = sorted(actions & WHOLE_ITEM_WRITES)
        if whole:
            found.append((".attributes", f"attribute-scoped grants cannot write whole items: remove {', '.join(whole)} (GOTCHAS I5)"))
        if "stream" in grant.access:
            found.append((".attributes", "stream records carry whole items; a stream grant cannot be attribute-scoped"))
    return found


def _direct_write_findings(grant: Grant, principal: Principal, actions: set[str]) -> list[Finding]:
    """App users write through the API, which validates every value; a direct write is declared on purpose."""
    writes = sorted(actions & set(WRITE_ACTIONS))
    if principal.kind != "cognitoUser":
        if grant.directWrites:
            return [(".directWrites", "applies to grants of the cognitoUser principal only (app users' own credentials)")]
        return []
    if writes and not grant.directWrites:
        return [("", f"gives app users {', '.join(writes)} with their own credentials, which bypasses the API's "
                     "validation (any value, any size, no expiry); let them write through the API, or declare it on "
                     "purpose with directWrites: true (and attributes: to limit what they may write)")]
    if grant.directWrites and not writes:
        return [(".directWrites", "this grant has no write action; remove directWrites")]
    return []


def _row_scope_findings(grant: Grant, principal: Principal, table: TableModel, actions: set[str]) -> list[Finding]:
    found: list[Finding] = []
    if owner_variable(principal) is None:
        found.append((".rowScope", f"{principal.kind} principals have no per-caller identity to scope rows by"))
    full_table = sorted(a for a in actions if a == "dynamodb:Scan" or a in PARTIQL)
    if full_table:
        found.append((".rowScope", f"row-scoped grants cannot include {', '.join(full_table)}: they read the whole table (GOTCHAS I3)"))
    if "stream" in grant.access:
        found.append((".rowScope", "stream actions ignore dynamodb:LeadingKeys: a stream grant cannot be row-scoped (GOTCHAS I2)"))
    for index in grant.indexes:
        if index in table.globalIndexes or index in table.localIndexes:
            partition = index_partition_attributes(table, index)
            if partition != [table.partitionKey]:
                found.append(
                    (
                        ".indexes",
                        f"index {index!r} is partitioned by {'+'.join(partition)}, not by the owner attribute "
                        f"{table.partitionKey!r}; LeadingKeys would compare the caller with {'+'.join(partition)} (GOTCHAS I4)",
                    )
                )
    return found


# --------------------------------------------------------------------------------------------
# Policy documents.
# --------------------------------------------------------------------------------------------


def _condition_for(grant: Grant, principal: Principal, table: TableModel) -> dict[str, Any]:
    condition: dict[str, Any] = {}
    for_all: dict[str, Any] = {}
    if grant.rowScope == "owner":
        for_all["dynamodb:LeadingKeys"] = [owner_variable(principal)]
        # ForAllValues is true when the key is absent: require it (GOTCHAS I3).
        condition["Null"] = {"dynamodb:LeadingKeys": "false"}
    if grant.attributes:
        keys = {table.partitionKey} | ({table.sortKey} if table.sortKey else set())
        for index in grant.indexes:
            keys |= set(index_partition_attributes(table, index))
            if index in table.globalIndexes:
                keys |= set(table.globalIndexes[index].sort_attributes)
            else:
                keys.add(table.localIndexes[index].sortKey)
        for_all["dynamodb:Attributes"] = sorted(set(grant.attributes) | keys)
        if_exists: dict[str, Any] = {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
        if "dynamodb:UpdateItem" in grant_actions(grant):
            if_exists["dynamodb:ReturnValues"] = RETURN_VALUES_WITHOUT_OTHER_ATTRIBUTES
        condition["StringEqualsIfExists"] = if_exists
    if for_all:
        condition["ForAllValues:StringEquals"] = for_all
    return dict(sorted(condition.items()))


def grant_statements(name: str, grant: Grant, principal: Principal, table: TableModel, ctx: ArnContext) -> list[dict[str, Any]]:
    """The statements one grant produces, each with a Sid naming the grant."""
    sid = pascal(name)
    # A global table: the same grant on every region's copy (T9); access follows the data.
    table_arns = [ctx.table_arn(grant.table, region) for region in ctx.regions_of(grant.table)]
    statements: list[dict[str, Any]] = []
    items = item_actions(grant)
    if items:
        resources = [r for arn in table_arns for r in [arn] + [f"{arn}/index/{index}" for index in sorted(grant.indexes)]]
        statement: dict[str, Any] = {"Sid": f"{sid}Items", "Effect": "Allow", "Action": items, "Resource": resources}
        condition = _condition_for(grant, principal, table)
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    if "stream" in grant.access:
        statements.append(
            {"Sid": f"{sid}Stream", "Effect": "Allow", "Action": list(STREAM_ACTIONS),
             "Resource": _one_or_list([f"{arn}/stream/*" for arn in table_arns])}
        )
        # ListStreams cannot be scoped to a resource (GOTCHAS L3).
        statements.append({"Sid": f"{sid}ListStreams", "Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": "*"})
    statements.append(_key_statement(sid, grant, ctx))
    return statements


def _one_or_list(values: list[str]) -> Any:
    """A single-region table keeps the plain string form its policies always had."""
    return values[0] if len(values) == 1 else values


def _key_statement(sid: str, grant: Grant, ctx: ArnContext) -> dict[str, Any]:
    """Use of the table key, only through DynamoDB in its region (GOTCHAS K7).

    The key is named by its alias (kms:ResourceAliases) rather than its id, which AWS assigns at
    creation: the policy is then complete at preview time, and still limited to the keys of this
    account and region that carry the stack's table-key alias.
    """
    actions = {"kms:Decrypt"}
    if {"write"} & set(grant.access) or set(grant.actions) & set(WRITE_ACTIONS):
        actions |= {"kms:Encrypt", "kms:GenerateDataKey"}
    # Each region's copy is encrypted with the stack's key in that region (K1), all with the same alias.
    regions = ctx.regions_of(str(grant.table))
    return {
        "Sid": f"{sid}TableKey",
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": _one_or_list([f"arn:{ctx.partition}:kms:{r}:{ctx.account}:key/*" for r in regions]),
        "Condition": {
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": [key_alias_name(ctx.project, ctx.stack)]},
            "StringEquals": {"kms:ViaService": _one_or_list([f"dynamodb.{r}.amazonaws.com" for r in regions])},
        },
    }


def topic_arn(ctx: ArnContext, topic: str) -> str:
    return f"arn:{ctx.partition}:sns:{ctx.region}:{ctx.account}:{ctx.project}-{ctx.stack}-{topic}"


def topic_statements(name: str, grant: Grant, ctx: ArnContext) -> list[dict[str, Any]]:
    """Publishing to an encrypted topic: sns:Publish (PublishBatch too) on it, and its key through SNS."""
    sid = pascal(name)
    return [
        {"Sid": f"{sid}Publish", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": topic_arn(ctx, str(grant.topic))},
        {
            "Sid": f"{sid}TopicKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": f"arn:{ctx.partition}:kms:{ctx.region}:{ctx.account}:key/*",
            "Condition": {
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [ops_key_alias_name(ctx.project, ctx.stack)]},
                "StringEquals": {"kms:ViaService": f"sns.{ctx.region}.amazonaws.com"},
            },
        },
    ]


def principal_grants(access: AccessModel, principal: str) -> list[tuple[str, Grant]]:
    return sorted((n, g) for n, g in access.grants.items() if g.principal == principal)


def permission_policy(
    principal_name: str, access: AccessModel, tables: Mapping[str, TableModel], ctx: ArnContext
) -> dict[str, Any]:
    principal = access.principals[principal_name]
    statements: list[dict[str, Any]] = []
    for name, grant in principal_grants(access, principal_name):
        if grant.topic is not None:
            statements += topic_statements(name, grant, ctx)
        elif grant.via == "dax":
            from ..dax.policies import client_statements  # DAX builds on this module

            statements += client_statements(name, grant, ctx)
        else:
            statements += grant_statements(name, grant, principal, tables[str(grant.table)], ctx)
    return {"Version": VERSION, "Statement": statements}


def trust_policy(
    principal_name: str, principal: Principal, ctx: ArnContext, identity_pool_id: Any = None, trusted: Sequence[str] = ()
) -> dict[str, Any]:
    """Who may assume the principal's role (GOTCHAS I7, I8). `identity_pool_id` may be an Output."""
    sid = pascal(principal_name)
    if principal.kind == "cognitoUser":
        actions = ["sts:AssumeRoleWithWebIdentity"]
        if principal.ownerIdentity == "userPoolSub":
            actions.append("sts:TagSession")  # the identity pool sets the userSub session tag
        statement: dict[str, Any] = {
            "Sid": f"{sid}AuthenticatedIdentities",
            "Effect": "Allow",
            "Principal": {"Federated": "cognito-identity.amazonaws.com"},
            "Action": actions,
            "Condition": {
                "StringEquals": {"cognito-identity.amazonaws.com:aud": identity_pool_id},
                "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
            },
        }
    elif principal.kind == "service":
        statement = {
            "Sid": f"{sid}AssumedBy{pascal(str(principal.service).split('.')[0])}",
            "Effect": "Allow",
            "Principal": {"Service": principal.service},
            "Action": "sts:AssumeRole",
        }
        if principal.service in SOURCE_ACCOUNT_SERVICES:
            statement["Condition"] = {"StringEquals": {"aws:SourceAccount": ctx.account}}
    else:
        tag = principal.tagKey
        statement = {
            "Sid": f"{sid}AssumedWithTenantTag",
            "Effect": "Allow",
            "Principal": {"AWS": sorted(trusted)},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringLike": {f"aws:RequestTag/{tag}": "?*"},  # the tenant tag must be set, non-empty
                "ForAllValues:StringEquals": {"aws:TagKeys": [tag]},  # and no other tag may be
            },
        }
    return {"Version": VERSION, "Statement": [statement]}


@dataclass(frozen=True)
class GrantSummary:
    """What a reviewer needs about one grant, in words."""

    grant: str
    table: str
    actions: list[str]
    indexes: list[str]
    isolation: str
    attributes: list[str]
    reason: str
    directWrites: bool = False


def grant_summary(name: str, grant: Grant, principal: Principal, table: Optional[TableModel]) -> GrantSummary:
    if table is None:
        return GrantSummary(name, f"topic {grant.topic}", ["sns:Publish"], [], "publishes to the topic", [], grant.reason)
    if grant.rowScope == "owner":
        isolation = (
            f"row-scoped: only items whose partition key {table.partitionKey!r} equals {owner_variable(principal)}"
        )
    else:
        isolation = "not row-scoped: every item of the table"
    attributes = sorted(_condition_for(grant, principal, table).get("ForAllValues:StringEquals", {}).get("dynamodb:Attributes", []))
    return GrantSummary(name, grant.table, grant_actions(grant), sorted(grant.indexes), isolation, attributes, grant.reason,
                        grant.directWrites)


def principals_with_grants(access: AccessModel) -> Iterable[str]:
    return sorted(access.principals)


def invoke_policy(partition: str, account: str, region: str, api_id: str, stage: str, specs: Sequence[Any]) -> dict[str, Any]:
    """execute-api:Invoke on exactly the routes that use caller credentials (iam auth)."""
    statements = []
    for spec in specs:
        path = re.sub(r"\{[^}]+\}", "*", spec.route.path)  # any value of a path parameter
        statements.append({
            "Sid": f"Route{pascal(spec.route_id)}Invoke",
            "Effect": "Allow",
            "Action": ["execute-api:Invoke"],
            "Resource": f"arn:{partition}:execute-api:{region}:{account}:{api_id}/{stage}/{spec.route.method}{path}",
        })
    return {"Version": VERSION, "Statement": statements}
