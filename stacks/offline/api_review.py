"""The API section of the security review: per route its auth mode, the credentials DynamoDB sees,
the table/index and action, the isolation guarantee of its template with evidence, and the stage's
CORS, WAF, throttling and logging.

The evidence is measured, not asserted: the plan's own templates run on the local runtime's pieces
(moto as DynamoDB, the local gateway evaluating the caller's policy on caller-credential routes) and
each route that addresses a user's rows is attacked by a second user (`isolation_evidence`). That
takes about a second, so `audit` runs it every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api.model import Route, source_kind, source_name
from ..api.rules import OPERATION_ACTION, cognito_principal
from ..api.rules import user_owned_tables
from ..api.spec import API_PRINCIPAL, creates_items, proxy_route_specs
from ..config.loader import BlueprintConfig
from ..naming import physical_table_name, role_name

OWNER, INTRUDER = "alice", "mallory"
MARK = "owned-by-alice"


@dataclass(frozen=True)
class Evidence:
    ok: bool
    detail: str


def credentials_text(config: BlueprintConfig, route: Route) -> str:
    if route.auth == "iam":
        owner = cognito_principal(config.access)
        return f"the caller's own identity-pool credentials (role `{role_name(config.project, config.stack, owner or '?')}`)"
    return f"the integration role `{role_name(config.project, config.stack, API_PRINCIPAL)}` (one for all callers)"


def guarantee_text(route: Route) -> str:
    own = [a for a, s in route.key.items() if s == "identity"]
    if not own:
        return "shared data: every signed-in user reads the same items (no per-user rows)"
    where = ("the authorizer's verified `sub` claim" if route.auth == "cognito"
             else "the caller's identity from the SigV4 signature; DynamoDB checks it again against the caller's row-scoped policy (LeadingKeys)")
    return f"partition key {', '.join(f'`{a}`' for a in own)} = {where}; never taken from the request (path, query, body, token)"


def _user_key(config: BlueprintConfig, route: Route, user: str, region: str) -> str:
    from ..local.gateway import Identity
    from ..local.tokens import user_sub

    principal = cognito_principal(config.access)
    owner_identity = config.access.principals[principal].ownerIdentity if principal else "userPoolSub"
    if route.auth == "iam" and owner_identity == "identityId":
        return Identity({"sub": user_sub(user)}, region).context()["cognitoIdentityId"]
    return user_sub(user)


def _value(kind: str) -> dict[str, Any]:
    return {"string": {"S": MARK}, "number": {"N": "1"}, "integer": {"N": "5"}, "boolean": {"BOOL": True},
            "list": {"L": []}}.get(kind, {"S": MARK})


def _body(route: Route) -> str:
    body: dict[str, Any] = {}
    for name, field in route.body.items():
        if not field.required:
            continue
        if field.type in ("integer", "number"):
            low = field.minimum if field.minimum is not None else 1
            high = field.maximum if field.maximum is not None else max(low, 1)
            body[name] = max(low, min(1, high))
        elif field.type == "boolean":
            body[name] = True
        else:
            body[name] = "x" * max(1, field.minLength or 1)
    return json.dumps(body)


def _probe(config: BlueprintConfig, route_id: str, route: Route, gateway: Any, client: Any, issuer: Any, region: str) -> Evidence:
    from ..local.gateway import HttpRequest

    table = config.tables[route.table]
    name = physical_table_name(config.project, config.stack, route.table)
    segment = f"iso-{route_id}"
    path = route.path
    key: dict[str, Any] = {}
    for attribute, source in route.key.items():
        if source == "identity":
            key[attribute] = {"S": _user_key(config, route, OWNER, region)}
        else:
            key[attribute] = {"S": segment}
            if source_kind(source) == "path":
                path = path.replace("{" + source_name(source) + "}", segment)
    for attribute in (table.partitionKey, table.sortKey):
        if attribute and attribute not in key:
            key[attribute] = {"S": segment}
    item = {**{f: _value(field.type) for f, field in route.response.items()}, **{a: {"N": "5"} for a in route.keepAtLeast}, **key}
    client.put_item(TableName=name, Item=item)

    def call(user: str):
        body = _body(route) if route.body else ""
        headers = {"Authorization": issuer.mint(user), "Content-Type": "application/json"}
        return gateway.handle(HttpRequest(route.method, f"/v1{path}", headers, body))

    def owner_item():
        return client.get_item(TableName=name, Key={a: key[a] for a in (table.partitionKey, table.sortKey) if a}, ConsistentRead=True).get("Item")

    try:
        attack = call(INTRUDER)
        after = owner_item()
        text = attack.body if isinstance(attack.body, str) else json.dumps(attack.body)
        if route.operation == "GetItem":
            ok = attack.status == 404 and MARK not in text and call(OWNER).status == 200
            detail = f"{INTRUDER} GET of {OWNER}'s item: {attack.status} (owner: 200)"
        elif route.operation == "Query":
            own = call(OWNER)
            ok = attack.status == 200 and MARK not in text and MARK in own.body
            detail = f"{INTRUDER}'s list: {attack.status} without {OWNER}'s item; {OWNER}'s list has it"
        elif route.operation == "PutItem" or creates_items(route):  # create-only PUT (PutItem or UpdateItem)
            ok = attack.status in (201, 400) and after == item
            detail = f"{INTRUDER} PUT on the same path: {attack.status}, writes only {INTRUDER}'s own row; {OWNER}'s row unchanged"
        elif route.operation == "UpdateItem":
            ok = attack.status == 404 and after == item
            detail = f"{INTRUDER} PATCH of {OWNER}'s item: {attack.status}; {OWNER}'s row unchanged"
        else:
            ok = attack.status == 404 and after == item
            detail = f"{INTRUDER} DELETE of {OWNER}'s item: {attack.status}; {OWNER}'s row still there"
        return Evidence(ok, detail)
    finally:
        for user in (OWNER, INTRUDER):
            own_key = {a: ({"S": _user_key(config, route, user, region)} if route.key.get(a) == "identity" else key[a])
                       for a in (table.partitionKey, table.sortKey) if a}
            client.delete_item(TableName=name, Key=own_key)


def isolation_evidence(config: BlueprintConfig, plan: dict[str, Any], build_dir: Path) -> dict[str, Evidence]:
    """Each route that addresses a user's own rows, attacked by another user on the local runtime."""
    from ..local.api_plan import load_api
    from ..local.aws import LocalAws, bootstrap, plan_region
    from ..local.gateway import LocalGateway
    from ..local.runtime import dynamodb_caller
    from ..local.tokens import LocalIssuer

    routes = {rid: r for rid, r in config.api.routes.items() if "identity" in r.key.values()}
    if not routes:
        return {}
    results: dict[str, Evidence] = {}
    with LocalAws(plan_region(plan)) as aws:
        local = bootstrap(plan, aws)
        api = load_api(plan)
        tables = {t.name: t.arn for t in local.tables.values()}
        keys = {r["inputs"]["name"]: r["inputs"]["hashKey"] for r in plan["resources"] if r["type"] == "aws:dynamodb/table:Table"}
        issuer = LocalIssuer.for_stack(build_dir, config.stack)
        gateway = LocalGateway(api, issuer, dynamodb_caller(aws.endpoint_url, aws.region), region=aws.region,
                               account="123456789012", table_arns=tables, partition_keys=keys)
        client = aws.client("dynamodb")
        for route_id in sorted(routes):
            try:
                results[route_id] = _probe(config, route_id, routes[route_id], gateway, client, issuer, aws.region)
            except Exception as exc:  # noqa: BLE001 - a probe that cannot run is a failed proof, shown in the report
                results[route_id] = Evidence(False, f"the probe could not run: {exc}")
    return results


def _find(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def api_section(config: BlueprintConfig, plan: dict[str, Any], evidence: dict[str, Evidence]) -> list[str]:
    if not config.api.routes and not proxy_route_specs(config):
        return []
    lines = ["## API", "",
             "Per route: who may call it, the credentials DynamoDB sees, what it may do, and what keeps users apart. "
             f"Isolation evidence: the plan's own templates on the local runtime (moto as DynamoDB; caller-credential routes "
             f"evaluated against the caller's policy), each route attacked by `{INTRUDER}` on `{OWNER}`'s seeded item.", "",
             "| route | auth | DynamoDB sees | action | isolation guarantee | evidence |", "|---|---|---|---|---|---|"]
    for route_id in sorted(config.api.routes):
        route = config.api.routes[route_id]
        target = f"`{physical_table_name(config.project, config.stack, route.table)}`" + (f" index `{route.index}`" if route.index else "")
        auth = "Cognito user-pool authorizer (ID token)" if route.auth == "cognito" else "AWS_IAM (SigV4, identity-pool credentials)"
        proof = evidence.get(route_id)
        shown = "n/a (shared data)" if proof is None else (("PASS: " if proof.ok else "**FAIL**: ") + proof.detail)
        lines.append(f"| `{route.method} {route.path}` | {auth} | {credentials_text(config, route)} | "
                     f"`{OPERATION_ACTION[route.operation]}` on {target} | {guarantee_text(route)} | {shown} |")
    owned = user_owned_tables(config.access)
    for spec in proxy_route_specs(config):
        fn = config.functions.functions[spec.function]
        grants = [g for g in config.access.grants.values() if g.principal == fn.principal]
        if any(g.table in owned for g in grants):
            guarantee = ("the caller is the authorizer's `sub` claim in the event, never the body (lambdas/"
                         f"{fn.code}) | tests/lambdas (`test_the_user_comes_from_the_claims_not_the_body`)")
        else:
            guarantee = ("no user-owned rows: every signed-in user gets the same shared data (lambdas/"
                         f"{fn.code}) | n/a (shared data)")
        lines.append(f"| `{spec.method} {spec.path}` | Cognito user-pool authorizer (ID token) | the function `{spec.function}`'s role "
                     f"`{role_name(config.project, config.stack, fn.principal)}` | Lambda proxy; the function's grants (Roles) | "
                     f"{guarantee} |")
    lines.append("")
    settings = config.settings
    method_settings = (_find(plan, "aws:apigateway/methodSettings:MethodSettings") or [{"inputs": {}}])[0]["inputs"].get("settings", {})
    stage = (_find(plan, "aws:apigateway/stage:Stage") or [{"inputs": {}}])[0]["inputs"]
    waf = _find(plan, "aws:wafv2/webAclAssociation:WebAclAssociation")
    access_logs = stage.get("accessLogSettings", {})
    lines += [
        "Stage `v1`:", "",
        f"- CORS: {'only ' + ', '.join(f'`{o}`' for o in settings.apiCorsOrigins) if settings.apiCorsOrigins else 'off (no browser origin may call it)'}.",
        f"- WAF: {'web ACL `' + waf[0]['inputs'].get('webAclArn', '?') + '` associated' if waf else '**none** (`ddb-blueprint:apiWafAclArn` is empty)'}.",
        f"- Throttling: {method_settings.get('throttlingRateLimit')} requests/s, burst {method_settings.get('throttlingBurstLimit')} (every method of the stage).",
        f"- Logging: JSON access logs to an encrypted log group ({'configured' if access_logs.get('destinationArn') else '**missing**'}), "
        f"execution logs `{method_settings.get('loggingLevel')}`, data traces {'**on**' if method_settings.get('dataTraceEnabled') else 'off'}, "
        f"metrics {'on' if method_settings.get('metricsEnabled') else 'off'}, X-Ray {'on' if stage.get('xrayTracingEnabled') else '**off**'}.",
        "",
    ]
    return lines


def api_failures(evidence: dict[str, Evidence]) -> int:
    return sum(1 for e in evidence.values() if not e.ok)

