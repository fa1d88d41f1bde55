"""IAM of DAX: the cluster's service role and the clients' `dax:` statements (D1, D3, D4, D9).

Through DAX only the cluster role's rights apply to table data, and every client of the cluster
inherits all of them (D3). So the role holds the union of what the declared `via: dax` grants need,
on the cached tables and the indexes those grants name, and nothing else.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..access.model import AccessModel, Grant
from ..access.policies import READ_ACTIONS, VERSION, WRITE_ACTIONS, ArnContext, item_actions, pascal
from ..naming import key_alias_name

DAX_SERVICE = "dax.amazonaws.com"
# The protocol actions every DAX client policy needs besides the item actions (D4).
PROTOCOL_ACTIONS = ("dax:DefineAttributeList", "dax:DefineAttributeListId", "dax:DefineKeySchema", "dax:Endpoints")
# DAX learns a table's key schema from DynamoDB: AWS's sample service-role policy lists DescribeTable (D13).
SCHEMA_ACTIONS = ("dynamodb:DescribeTable",)


def dax_actions(dynamodb_actions: Iterable[str]) -> list[str]:
    """The dax: counterparts of DynamoDB item actions (same names, D4), plus the protocol actions."""
    return sorted({a.replace("dynamodb:", "dax:") for a in dynamodb_actions} | set(PROTOCOL_ACTIONS))


def dax_grants(access: AccessModel) -> list[tuple[str, Grant]]:
    return sorted((n, g) for n, g in access.grants.items() if g.via == "dax")


def client_statements(name: str, grant: Grant, ctx: ArnContext) -> list[dict[str, Any]]:
    """A `via: dax` grant: dax: actions on the cluster ARN; no DynamoDB or KMS rights of its own."""
    return [{
        "Sid": f"{pascal(name)}ViaDax",
        "Effect": "Allow",
        "Action": dax_actions(item_actions(grant)),
        "Resource": ctx.dax_cluster_arn(),
    }]


def service_trust_policy() -> dict[str, Any]:
    """dax.amazonaws.com assumes the role. No aws:SourceAccount/SourceArn condition: AWS documents
    none for DAX (D1, I8); the review says so."""
    return {"Version": VERSION, "Statement": [{
        "Sid": "AssumedByDax", "Effect": "Allow", "Principal": {"Service": DAX_SERVICE}, "Action": "sts:AssumeRole"}]}


def service_actions(access: AccessModel, table: str) -> tuple[list[str], list[str]]:
    """(DynamoDB item actions, indexes) the cluster role needs on one cached table: reads always
    (a cache reads), writes only if a `via: dax` grant writes through it."""
    actions, indexes = set(READ_ACTIONS), set()
    for _, grant in dax_grants(access):
        if grant.table == table:
            actions |= set(item_actions(grant))
            indexes |= set(grant.indexes)
    return sorted(actions), sorted(indexes)


def service_permission_policy(access: AccessModel, tables: Iterable[str], ctx: ArnContext) -> dict[str, Any]:
    statements: list[dict[str, Any]] = []
    writes = False
    for table in sorted(tables):
        actions, indexes = service_actions(access, table)
        writes |= bool(set(actions) & set(WRITE_ACTIONS))
        arn = ctx.table_arn(table)
        statements.append({"Sid": f"Cache{pascal(table)}", "Effect": "Allow", "Action": actions,
                           "Resource": [arn] + [f"{arn}/index/{index}" for index in indexes]})
        statements.append({"Sid": f"Describe{pascal(table)}", "Effect": "Allow", "Action": list(SCHEMA_ACTIONS), "Resource": arn})
    key_actions = ["kms:Decrypt", "kms:DescribeKey"] + (["kms:Encrypt", "kms:GenerateDataKey"] if writes else [])
    statements.append({
        "Sid": "TableKeyThroughDynamoDB",
        "Effect": "Allow",
        "Action": sorted(key_actions),
        "Resource": f"arn:{ctx.partition}:kms:{ctx.region}:{ctx.account}:key/*",
        # D9: DAX reaches CMK-encrypted tables as the role, through DynamoDB only.
        "Condition": {
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": [key_alias_name(ctx.project, ctx.stack)]},
            "StringEquals": {"kms:ViaService": f"dynamodb.{ctx.region}.amazonaws.com"},
        },
    })
    return {"Version": VERSION, "Statement": statements}


def vpc_access_statement(sid: str) -> dict[str, Any]:
    """What Lambda needs to attach a function to the VPC (D6). EC2's network-interface actions take
    no resource-level scoping Lambda could use here."""
    return {
        "Sid": f"{sid}AttachesToTheVpc",
        "Effect": "Allow",
        "Action": ["ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                   "ec2:DescribeNetworkInterfaces", "ec2:UnassignPrivateIpAddresses"],
        "Resource": "*",
    }


def cached_by(tables: Mapping[str, Any], cached: Iterable[str]) -> list[str]:
    return sorted(t for t in cached if t in tables)
