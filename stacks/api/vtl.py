"""VTL mapping templates for direct API Gateway -> DynamoDB routes (pure: strings from declarations).

Rules these templates keep (GOTCHAS A3-A5, A9):
- every user value placed in JSON goes through `$util.escapeJavaScript(...)` plus
  `.replaceAll("\\'","'")` (escapeJavaScript emits `\'`, which is not valid JSON);
- numbers are checked with a regular expression before use, `limit` against its exact range;
- a pagination token carries only the sort-side key values (base64, dot-separated) and is
  re-validated; the partition key always comes from the caller's identity or the route's own
  parameter, never from the token;
- invalid input turns into a request DynamoDB refuses with a ValidationException, which the 4xx
  response template answers with 400 and a useful message (a request template cannot answer
  by itself);
- response templates strip DynamoDB type descriptors and escape stored strings too.
Templates never use `#if($ref)` on a value that may be absent: `"$!ref" != ""` behaves the same
in API Gateway and in the local engine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping, Optional

from .model import Route, ResponseField, path_parameters, source_kind, source_name
from .rules import key_schema
from ..tables.model import TableModel

ESCAPED_QUOTE_FIX = r""".replaceAll("\\'","'")"""
INTEGER = "^-?[0-9]{1,15}$"
NUMBER = r"^-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?$"
BASE64 = "(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
THROTTLED = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")


def path_param(name: str) -> str:
    return "$input.params().path.get('" + name + "')"


def query_param(name: str) -> str:
    return "$input.params().querystring.get('" + name + "')"


def escaped(expression: str) -> str:
    """A VTL expression rendered as the inside of a JSON string, safely."""
    return f"$util.escapeJavaScript({expression}){ESCAPED_QUOTE_FIX}"


def int_range_regex(low: int, high: int) -> str:
    """A regular expression matching exactly the decimal integers low..high (no sign, no leading zeros)."""
    if not 0 <= low <= high:
        raise ValueError("need 0 <= low <= high")
    return "^(?:" + "|".join(_range_parts(low, high)) + ")$"


def _range_parts(low: int, high: int) -> list[str]:
    parts: list[str] = []
    for digits in range(len(str(low)), len(str(high)) + 1):
        lo = max(low, 10 ** (digits - 1) if digits > 1 else 0)
        hi = min(high, 10**digits - 1)
        if lo <= hi:
            parts += _same_length(str(lo), str(hi))
    return parts


def _same_length(lo: str, hi: str) -> list[str]:
    """Patterns for the integers between lo and hi, both with the same number of digits."""
    if lo == hi:
        return [lo]
    if len(lo) == 1:
        return [f"[{lo}-{hi}]"]
    if lo[0] == hi[0]:
        return [lo[0] + p for p in _same_length(lo[1:], hi[1:])]
    rest = len(lo) - 1
    parts = [lo[0] + p for p in _same_length(lo[1:], "9" * rest)]
    if int(lo[0]) + 1 <= int(hi[0]) - 1:
        middle = f"[{int(lo[0]) + 1}-{int(hi[0]) - 1}]" if int(lo[0]) + 1 < int(hi[0]) - 1 else str(int(lo[0]) + 1)
        parts.append(middle + "[0-9]" * rest)
    parts += [hi[0] + p for p in _same_length("0" * rest, hi[1:])]
    return parts


@dataclass(frozen=True)
class RouteTemplates:
    request: str
    success: str  # integration response for 2xx
    client_error: str  # 4\d{2}
    server_error: str  # 5\d{2}
    success_status: int


@dataclass(frozen=True)
class _Context:
    route_id: str
    route: Route
    table: TableModel
    table_name: str
    owner_identity: str  # "userPoolSub" or "identityId" (iam routes)


def identity_setup(route: Route, owner_identity: str) -> str:
    """`$callerId`: the authenticated caller, never client input (GOTCHAS A9)."""
    if route.auth == "cognito":
        return "#set($callerId = $context.authorizer.claims.sub)"
    if owner_identity == "identityId":
        return "#set($callerId = $context.identity.cognitoIdentityId)"
    # With caller credentials the user-pool sub is the last part of the authentication provider:
    # "...,cognito-idp.<region>.amazonaws.com/<pool>:CognitoSignIn:<sub>".
    return (
        "#set($provider = \"$!context.identity.cognitoAuthenticationProvider\")\n"
        "#set($cut = $provider.lastIndexOf(':') + 1)\n"  # Velocity takes no arithmetic in method arguments
        "#set($callerId = $provider.substring($cut))"
    )


def _value_json(ctx: _Context, attribute: str, source: str) -> str:
    """The DynamoDB typed value for one attribute, e.g. {"S": "..."}."""
    kind, name = source_kind(source), source_name(source)
    declared = ctx.table.attributes.get(attribute)
    if kind == "identity":
        return f'{{"S": "{escaped("$callerId")}"}}'
    if kind == "path":
        return '{"S": "' + escaped(path_param(name)) + '"}'
    if kind == "query":
        return '{"S": "' + escaped(query_param(name)) + '"}'
    if kind == "server":
        if name == "requestId":
            return f'{{"S": "{escaped("$context.requestId")}"}}'
        if name == "now":
            return '{"N": "$nowSeconds"}'
        return f'{{"N": "$expires_{name.split(":")[1]}"}}'
    field = ctx.route.body[name]
    if field.type in ("integer", "number") or declared == "N":
        return f'{{"N": "$text_{name}"}}'
    if field.type == "boolean":
        return f'{{"BOOL": $body_{name}}}'
    return f'{{"S": "{escaped(f"$body_{name}")}"}}'


def _body_setup(route: Route) -> list[str]:
    lines = []
    for name, field in route.body.items():
        lines.append(f"#set($body_{name} = $input.path('$.{name}'))")
        check = {"integer": INTEGER, "number": NUMBER}.get(field.type)
        if check:
            # The request validator already checked the JSON schema; numbers are checked again
            # because they are placed into the DynamoDB request as they are (GOTCHAS A3).
            lines.append(f"#set($text_{name} = \"$!body_{name}\")")
            lines.append(f"#if($text_{name} != \"\" && !$text_{name}.matches('{check}'))#set($invalid = true)#end")
        if field.type == "boolean":
            lines.append(f"#if(\"$!body_{name}\" != \"\" && \"$body_{name}\" != \"true\" && \"$body_{name}\" != \"false\")#set($invalid = true)#end")
        if field.required:
            lines.append(f"#if(\"$!body_{name}\" == \"\")#set($invalid = true)#end")
    return lines


def _server_setup(route: Route) -> list[str]:
    sources = [*route.key.values(), *route.item.values(), *route.set.values(), *route.add.values()]
    lines = ["#set($nowSeconds = $context.requestTimeEpoch / 1000)"]
    for seconds in sorted({s.split(":")[1] for s in sources if s.startswith("server.expiresIn:")}):
        lines.append(f"#set($expires_{seconds} = $nowSeconds + {seconds})")
    return lines


def _floor_setup(route: Route) -> list[str]:
    """For ADD with bounds: the smallest (largest) current value that keeps the result at or above
    (at or below) them."""
    lines = []
    for i, (attribute, source) in enumerate(route.add.items()):
        if attribute in route.keepAtLeast:
            lines.append(f"#set($floor_{i} = {route.keepAtLeast[attribute]} - $body_{source_name(source)})")
            lines.append(f"#set($min_{i} = \"$!floor_{i}\")")
            lines.append(f"#if(!$min_{i}.matches('{INTEGER}'))#set($invalid = true)#end")
        if attribute in route.keepAtMost:
            lines.append(f"#set($ceiling_{i} = {route.keepAtMost[attribute]} - $body_{source_name(source)})")
            lines.append(f"#set($max_{i} = \"$!ceiling_{i}\")")
            lines.append(f"#if(!$max_{i}.matches('{INTEGER}'))#set($invalid = true)#end")
    return lines


def limits_text(route: Route) -> str:
    """The bounds an ADD keeps, in words (the 409 message)."""
    limits = [f"{a} at least {v}" for a, v in route.keepAtLeast.items()]
    limits += [f"{a} at most {v}" for a, v in route.keepAtMost.items()]
    return ", ".join(limits)


def _is_optional_body(route: Route, source: str) -> bool:
    return source_kind(source) == "body" and not route.body[source_name(source)].required


def _key_json(ctx: _Context) -> str:
    return "{" + ", ".join(f'"{a}": {_value_json(ctx, a, s)}' for a, s in ctx.route.key.items()) + "}"


def _invalid_request(ctx: _Context) -> str:
    """A request DynamoDB refuses with ValidationException; the 4xx template explains it.

    With caller credentials (iam routes) DynamoDB also authorizes the request against the caller's
    policy (LeadingKeys with a Null guard, GOTCHAS I3): a request without the caller's key would
    be denied (403) before it is found invalid. So reads keep the route's own request (the
    caller's key, projection and index; a valid `Limit`, no start key) plus an unused
    ExpressionAttributeNames entry naming the table's partition key, which DynamoDB refuses
    ("Value provided in ExpressionAttributeNames unused in expressions"); writes name only the
    caller's key with an empty ExpressionAttributeNames ("must not be empty").
    """
    name = json.dumps(ctx.table_name)
    if ctx.route.auth == "iam":
        if ctx.route.operation in ("Query", "GetItem"):
            reset = ["#set($limit = \"1\")", "#set($hasToken = false)"] if ctx.route.operation == "Query" else []
            return "\n".join([*reset, *_request_body(ctx, refused=True)])
        own = ", ".join(f'"{a}": {_value_json(ctx, a, s)}' for a, s in ctx.route.key.items() if s == "identity")
        part = "Item" if ctx.route.operation == "PutItem" else "Key"
        return f'{{"TableName": {name}, "{part}": {{{own}}}, "ExpressionAttributeNames": {{}}}}'
    return {
        "Query": f'{{"TableName": {name}, "Limit": 0}}',
        "PutItem": f'{{"TableName": {name}, "Item": {{}}}}',
    }.get(ctx.route.operation, f'{{"TableName": {name}, "Key": {{}}}}')


def _header(ctx: _Context, direction: str, example: str) -> str:
    r = ctx.route
    target = f"{r.operation} on {ctx.table_name}" + (f" index {r.index}" if r.index else "")
    return (
        f"## ddb-blueprint {direction} template of route {ctx.route_id}: {r.method} {r.path} -> {target} ({r.auth} auth)\n"
        f"## Generated by stacks/vtl.py from the route declaration; do not edit.\n"
        f"## Example: {example}\n"
    )


def _example(ctx: _Context) -> str:
    r = ctx.route
    path = r.path
    for p in path_parameters(r.path):
        path = path.replace("{" + p + "}", f"<{p}>")
    query = "?limit=10&nextToken=<token>" if r.operation == "Query" else ""
    body = " " + json.dumps({n: (1 if f.type in ("integer", "number") else "text" if f.type == "string" else True)
                             for n, f in r.body.items()}) if r.body else ""
    return f"{r.method} {path}{query}{body}"


def request_template(ctx: _Context) -> str:
    r = ctx.route
    lines = [_header(ctx, "request", _example(ctx)).rstrip("\n"), "#set($invalid = false)", identity_setup(r, ctx.owner_identity)]
    lines += _server_setup(r) + _body_setup(r) + _floor_setup(r)
    if r.operation == "Query":
        lines += _query_setup(ctx)
    lines.append("#if($invalid)")
    lines.append(_invalid_request(ctx))
    lines.append("#else")
    lines += _request_body(ctx)
    lines.append("#end")
    return "\n".join(lines) + "\n"


def _projection(ctx: _Context) -> tuple[str, dict[str, str]]:
    names = {f"#r{i}": field for i, field in enumerate(ctx.route.response)}
    return ", ".join(names), names


REFUSED_NAME = "#invalid"  # an ExpressionAttributeNames entry no expression uses: DynamoDB refuses the request


def _request_body(ctx: _Context, refused: bool = False) -> list[str]:
    r = ctx.route
    table = json.dumps(ctx.table_name)
    if r.operation == "GetItem":
        projection, names = _projection(ctx)
        if refused:
            names[REFUSED_NAME] = ctx.table.partitionKey
        return [
            "{",
            f'  "TableName": {table},',
            f'  "Key": {_key_json(ctx)},',
            f'  "ProjectionExpression": "{projection}",',
            f'  "ExpressionAttributeNames": {json.dumps(names)},',
            '  "ConsistentRead": true',
            "}",
        ]
    if r.operation == "Query":
        return _query_body(ctx, refused)
    if r.operation == "PutItem":
        return _put_body(ctx)
    if r.operation == "UpdateItem":
        return _update_body(ctx)
    return _delete_body(ctx)


def _condition(ctx: _Context, names: dict[str, str]) -> Optional[str]:
    partition = ctx.table.partitionKey
    names["#pk"] = partition
    if ctx.route.condition == "exists" or ctx.route.keepAtLeast or ctx.route.keepAtMost:
        return "attribute_exists(#pk)"
    if ctx.route.condition == "notExists":
        return "attribute_not_exists(#pk)"
    return None


def _put_body(ctx: _Context) -> list[str]:
    r = ctx.route
    names: dict[str, str] = {}
    condition = _condition(ctx, names)
    lines = ["{", f'  "TableName": {json.dumps(ctx.table_name)},', '  "Item": {']
    lines.append("    " + ", ".join(f'"{a}": {_value_json(ctx, a, s)}' for a, s in r.key.items()))
    for attribute, source in r.item.items():
        entry = f'    ,"{attribute}": {_value_json(ctx, attribute, source)}'
        if _is_optional_body(r, source):
            entry = f"#if(\"$!body_{source_name(source)}\" != \"\")\n{entry}\n#end"
        lines.append(entry)
    lines.append("  }")
    if condition:
        lines.append(f'  ,"ConditionExpression": "{condition}"')
        lines.append(f'  ,"ExpressionAttributeNames": {json.dumps(names)}')
        lines.append('  ,"ReturnValuesOnConditionCheckFailure": "ALL_OLD"')
    lines.append("}")
    return lines


def _optional_entries(required: list[str], optional: list[tuple[str, str]]) -> str:
    """Comma-separated entries; each optional one (entry, body field) only when its field was sent.
    `required` is never empty, so an optional entry always follows another one."""
    text = ", ".join(required)
    for entry, field in optional:
        text += f'#if("$!body_{field}" != ""), {entry}#end'
    return text


def _update_body(ctx: _Context) -> list[str]:
    r = ctx.route
    names: dict[str, str] = {}
    condition = _condition(ctx, names)
    required_names = [f'"{k}": {json.dumps(v)}' for k, v in names.items()]
    optional_names: list[tuple[str, str]] = []
    values: list[str] = []
    optional_values: list[tuple[str, str]] = []
    set_parts: list[str] = []
    optional_sets: list[tuple[str, str]] = []
    add_parts = []
    for i, (attribute, source) in enumerate(r.set.items()):
        name, value, part = f'"#s{i}": {json.dumps(attribute)}', f'":s{i}": {_value_json(ctx, attribute, source)}', f"#s{i} = :s{i}"
        if _is_optional_body(r, source):
            # An optional field that was not sent is not written (as PutItem leaves it out).
            field = source_name(source)
            optional_names.append((name, field))
            optional_values.append((value, field))
            optional_sets.append((part, field))
        else:
            required_names.append(name)
            values.append(value)
            set_parts.append(part)
    conditions = [condition] if condition else []
    for i, (attribute, source) in enumerate(r.add.items()):
        required_names.append(f'"#a{i}": {json.dumps(attribute)}')
        add_parts.append(f"#a{i} :a{i}")
        values.append(f'":a{i}": {_value_json(ctx, attribute, source)}')
        if attribute in r.keepAtLeast:
            # ADD cannot be bounded by itself: require the current value to stay >= floor - change.
            conditions.append(f"#a{i} >= :min{i}")
            values.append(f'":min{i}": {{"N": "$min_{i}"}}')
        if attribute in r.keepAtMost:
            conditions.append(f"#a{i} <= :max{i}")
            values.append(f'":max{i}": {{"N": "$max_{i}"}}')
    expression = " ".join(p for p in (
        ("SET " + _optional_entries(set_parts, optional_sets)) if set_parts else "",
        ("ADD " + ", ".join(add_parts)) if add_parts else "",
    ) if p)
    lines = [
        "{",
        f'  "TableName": {json.dumps(ctx.table_name)},',
        f'  "Key": {_key_json(ctx)},',
        f'  "UpdateExpression": "{expression}",',
        '  "ExpressionAttributeNames": {' + _optional_entries(required_names, optional_names) + "},",
        '  "ExpressionAttributeValues": {' + _optional_entries(values, optional_values) + "},",
    ]
    if conditions:
        lines.append(f'  "ConditionExpression": "{" AND ".join(conditions)}",')
        lines.append('  "ReturnValuesOnConditionCheckFailure": "ALL_OLD",')
    lines += ['  "ReturnValues": "ALL_NEW"', "}"]
    return lines


def _delete_body(ctx: _Context) -> list[str]:
    names: dict[str, str] = {}
    condition = _condition(ctx, names)
    lines = ["{", f'  "TableName": {json.dumps(ctx.table_name)},', f'  "Key": {_key_json(ctx)},']
    if condition:
        lines.append(f'  "ConditionExpression": "{condition}",')
        lines.append(f'  "ExpressionAttributeNames": {json.dumps(names)},')
    lines += ['  "ReturnValues": "ALL_OLD"', "}"]
    return lines


def token_attributes(route: Route, table: TableModel) -> list[tuple[str, str]]:
    """(attribute, type) carried by a pagination token, in order: every key of LastEvaluatedKey
    except the queried partition, which the caller cannot choose (GOTCHAS A4)."""
    partition, sort = key_schema(route, table)
    keys = [*sort, table.partitionKey] + ([table.sortKey] if table.sortKey else [])
    ordered: list[str] = []
    for attribute in keys:
        if attribute not in partition and attribute not in ordered:
            ordered.append(attribute)
    return [(a, table.attributes[a]) for a in ordered]


def token_regex(count: int) -> str:
    """`count` non-empty base64 parts separated by dots."""
    part = f"(?=[A-Za-z0-9+/]){BASE64}"
    return "^" + r"\.".join([part] * count) + "$" if count else "^$"


def _query_setup(ctx: _Context) -> list[str]:
    r = ctx.route
    page = r.pageSize
    assert page is not None
    parts = token_attributes(r, ctx.table)
    lines = [
        "#set($limit = \"$!input.params().querystring.get('limit')\")",
        f"#if($limit == \"\")#set($limit = \"{page.default}\")#end",
        f"#if(!$limit.matches('{int_range_regex(1, page.max)}'))#set($invalid = true)#end",
        "#set($token = \"$!input.params().querystring.get('nextToken')\")",
        "#set($hasToken = false)",
    ]
    if not parts:
        lines.append("#if($token != \"\")#set($invalid = true)#end")
        return lines
    lines.append("#if($token != \"\")")
    lines.append(f"  #if($token.length() > 4096 || !$token.matches('{token_regex(len(parts))}'))#set($invalid = true)#else")
    lines.append("    #set($hasToken = true)")
    lines.append("    #set($rest = $token)")
    for i, (attribute, type_) in enumerate(parts):
        if i < len(parts) - 1:
            lines.append("    #set($dot = $rest.indexOf('.'))")
            lines.append(f"    #set($t{i} = $util.base64Decode($rest.substring(0, $dot)))")
            lines.append("    #set($next = $dot + 1)")
            lines.append("    #set($rest = $rest.substring($next))")
        else:
            lines.append(f"    #set($t{i} = $util.base64Decode($rest))")
        if type_ == "N":
            lines.append(f"    #if(!$t{i}.matches('{NUMBER}'))#set($invalid = true)#end")
        elif type_ == "B":
            lines.append("    #set($invalid = true)")
    lines.append("  #end")
    lines.append("#end")
    return lines


def _query_body(ctx: _Context, refused: bool = False) -> list[str]:
    r = ctx.route
    partition, _ = key_schema(r, ctx.table)
    names = {f"#k{i}": a for i, a in enumerate(partition)}
    values = [f'":k{i}": {_value_json(ctx, a, r.key[a])}' for i, a in enumerate(partition)]
    condition = " AND ".join(f"#k{i} = :k{i}" for i in range(len(partition)))
    projection, projected = _projection(ctx)
    names.update(projected)
    if refused:
        names[REFUSED_NAME] = ctx.table.partitionKey
    lines = ["{", f'  "TableName": {json.dumps(ctx.table_name)},']
    if r.index:
        lines.append(f'  "IndexName": {json.dumps(r.index)},')
    lines += [
        f'  "KeyConditionExpression": "{condition}",',
        f'  "ExpressionAttributeNames": {json.dumps(names)},',
        '  "ExpressionAttributeValues": {' + ", ".join(values) + "},",
        f'  "ProjectionExpression": "{projection}",',
        f'  "ScanIndexForward": {"false" if r.newestFirst else "true"},',
        '  "Limit": $limit',
    ]
    parts = token_attributes(r, ctx.table)
    if parts:
        start = [f'"{a}": {_value_json(ctx, a, r.key[a])}' for a in partition]
        for i, (attribute, type_) in enumerate(parts):
            value = f'{{"N": "$t{i}"}}' if type_ == "N" else f'{{"S": "{escaped(f"$t{i}")}"}}'
            start.append(f'"{attribute}": {value}')
        lines.append("#if($hasToken)")
        lines.append('  ,"ExclusiveStartKey": {' + ", ".join(start) + "}")
        lines.append("#end")
    lines.append("}")
    return lines


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


def _field_json(variable: str, name: str, field: ResponseField) -> str:
    ref = f"${variable}.{name}"
    if field.type == "string":
        return f'"{name}": #if("$!{{{variable}.{name}.S}}" != "")"{escaped(f"{ref}.S")}"#else null#end'
    if field.type in ("integer", "number"):
        return f'"{name}": #if("$!{{{variable}.{name}.N}}" != "")${{{variable}.{name}.N}}#else null#end'
    if field.type == "boolean":
        return f'"{name}": #if("$!{{{variable}.{name}.BOOL}}" != "")${{{variable}.{name}.BOOL}}#else null#end'
    inner = ", ".join(_field_json(f"{name}Entry.M", sub, ResponseField(type=t)) for sub, t in field.items.items())
    return (f'"{name}": [#foreach(${name}Entry in ${variable}.{name}.L){{{inner}}}#if($foreach.hasNext),#end#end]')


def _object_json(variable: str, fields: Mapping[str, ResponseField]) -> str:
    return "{" + ", ".join(_field_json(variable, n, f) for n, f in fields.items()) + "}"


def success_template(ctx: _Context) -> tuple[str, int]:
    r = ctx.route
    head = _header(ctx, "response (2xx)", "the item(s) without DynamoDB type descriptors")
    if r.operation == "GetItem":
        body = (
            "#set($item = $input.path('$.Item'))\n"
            "#if(\"$!item\" == \"\" || \"$!item\" == \"{}\")\n"
            "#set($context.responseOverride.status = 404)\n"
            '{"message": "not found"}\n'
            "#else\n"
            f"{_object_json('item', r.response)}\n"
            "#end\n"
        )
        return head + body, 200
    if r.operation == "Query":
        parts = token_attributes(r, ctx.table)
        # base64 needs no escaping, but every stored value reaching the output goes through the one
        # escaping idiom, which the guardrail checks mechanically (A3).
        token = ".".join(escaped(f"$util.base64Encode($lek.{a}.{t})") for a, t in parts)
        body = (
            "#set($items = $input.path('$.Items'))\n"
            '{"items": [\n'
            f"#foreach($item in $items){_object_json('item', r.response)}#if($foreach.hasNext),#end\n#end\n]"
            + (
                "\n#set($lek = $input.path('$.LastEvaluatedKey'))\n"
                "#if(\"$!lek\" != \"\" && \"$!lek\" != \"{}\")\n"
                f', "nextToken": "{token}"\n'
                "#end\n"
                if parts else "\n"
            )
            + "}\n"
        )
        return head + body, 200
    # Response templates read only the integration's own response and $context: API Gateway documents no
    # method-request parameters ($input.params()) there (facts A10).
    if r.operation == "PutItem":
        # DynamoDB's PutItem returns no item on success: nothing to echo (a create-only write that answers
        # with the stored item is an UpdateItem with condition notExists).
        return head + "#set($context.responseOverride.status = 201)\n{}\n", 201
    if r.operation == "UpdateItem":
        created = r.condition == "notExists"
        status = "#set($context.responseOverride.status = 201)\n" if created else ""
        return head + status + f"#set($item = $input.path('$.Attributes'))\n{_object_json('item', r.response)}\n", 201 if created else 200
    body = (
        "#set($old = $input.path('$.Attributes'))\n"
        "#if(\"$!old\" == \"\" || \"$!old\" == \"{}\")\n"
        "#set($context.responseOverride.status = 404)\n"
        '{"message": "not found"}\n'
        "#else\n"
        "#set($context.responseOverride.status = 204)\n"
        "#end\n"
    )
    return head + body, 204


def client_error_template(ctx: _Context) -> str:
    """4xx from DynamoDB: 404 / 409 for conditions, 400 with the reason, 429, 403 (GOTCHAS A5)."""
    r = ctx.route
    head = _header(ctx, "response (4xx)", "a DynamoDB error mapped to a clear status and message")
    lines = [head.rstrip("\n"), "#set($type = \"$!input.path('$.__type')\")"]
    lines.append("#if($type.endsWith('ConditionalCheckFailedException'))")
    if r.condition == "notExists":
        lines += ["#set($context.responseOverride.status = 409)", '{"message": "already exists"}']
    elif r.keepAtLeast or r.keepAtMost:
        floors = limits_text(r)
        lines += [
            "#set($current = $input.path('$.Item'))",
            "#if(\"$!current\" == \"\" || \"$!current\" == \"{}\")",
            "#set($context.responseOverride.status = 404)",
            '{"message": "not found"}',
            "#else",
            "#set($context.responseOverride.status = 409)",
            f'{{"message": "the change would break a limit: {floors}"}}',
            "#end",
        ]
    else:
        lines += ["#set($context.responseOverride.status = 404)", '{"message": "not found"}']
    lines.append("#elseif($type.endsWith('ValidationException'))")
    lines.append("#set($context.responseOverride.status = 400)")
    if r.operation == "Query" and r.pageSize:
        # One message naming every parameter that can be wrong: a response template cannot read the
        # request's parameters (facts A10), and DynamoDB's own wording is not a contract.
        token = " and nextToken the nextToken of the previous page as it was returned" if token_attributes(r, ctx.table) else ""
        lines.append(f'{{"message": "invalid request: limit must be a whole number from 1 to {r.pageSize.max}{token}"}}')
    elif r.body:
        lines.append('{"message": "invalid request: the body does not match the schema or a key is not valid"}')
    else:
        lines.append('{"message": "invalid request: a key is not valid"}')
    throttled = " || ".join(f"$type.endsWith('{t}')" for t in THROTTLED)
    lines += [
        f"#elseif({throttled})",
        "#set($context.responseOverride.status = 429)",
        '{"message": "too many requests; retry with backoff"}',
        "#elseif($type.endsWith('AccessDeniedException'))",
        "#set($context.responseOverride.status = 403)",
        '{"message": "forbidden"}',
        "#else",
        "#set($context.responseOverride.status = 500)",
        '{"message": "internal error"}',
        "#end",
    ]
    return "\n".join(lines) + "\n"


def server_error_template(ctx: _Context) -> str:
    head = _header(ctx, "response (5xx)", "DynamoDB unavailable")
    return head + '{"message": "the database is unavailable; retry later"}\n'


def route_templates(
    route_id: str, route: Route, table: TableModel, table_name: str, owner_identity: str = "userPoolSub"
) -> RouteTemplates:
    if route.operation == "Query" and route.pageSize is None:
        from .model import PageSize

        route = route.model_copy(update={"pageSize": PageSize()})
    ctx = _Context(route_id, route, table, table_name, owner_identity)
    success, status = success_template(ctx)
    return RouteTemplates(
        request=request_template(ctx),
        success=success,
        client_error=client_error_template(ctx),
        server_error=server_error_template(ctx),
        success_status=status,
    )


def strip_header(template: str) -> str:
    return "\n".join(line for line in template.splitlines() if not re.match(r"^##", line))
