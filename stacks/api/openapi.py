"""The OpenAPI 3.0.3 document of the REST API, for the app teams that call it (pure: dicts from declarations).

Everything here is derived from the same route declarations as the mapping templates
(stacks/api/vtl.py) and the API Gateway resources (stacks/api/spec.py), so the document says what the
deployed API does:

- `body_schema(route)` is THE request body schema: the program uploads it as the API Gateway
  request model (JSON Schema draft 4) and this document shows it, so both always agree. It uses
  only keywords that mean the same in draft 4 and in OpenAPI 3.0 schema objects (no `$schema`,
  no `nullable`, `required` only when non-empty).
- Responses follow the templates: GetItem/UpdateItem answer the response fields (every field is
  present, `null` when the item has no such attribute; a `list` field is always an array),
  Query answers `{"items": [...], "nextToken"?: "..."}`, a create-only UpdateItem 201 with the
  stored item, PutItem 201 with `{}` (nothing to echo, facts A10), DeleteItem 204. Errors are `{"message": "..."}`, with 404/409 only on routes that can
  produce them.
- Output is deterministic: the same declarations give the same document, whatever order the
  routes, fields or origins were declared in (`openapi_json` renders it byte for byte).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from .model import ApiModel, BodyField, PageSize, ResponseField, Route, path_parameters, source_kind, source_name
from ..tables.model import TableModel
from .vtl import token_attributes, token_regex

OPENAPI_VERSION = "3.0.3"
METHOD_ORDER = ("get", "put", "post", "patch", "delete")
NEXT_TOKEN_MAX_LENGTH = 4096  # the request template refuses longer tokens (stacks/api/vtl.py)
ERROR_SCHEMA = "Error"
ERROR_REF = f"#/components/schemas/{ERROR_SCHEMA}"
CORS_HEADER = "Access-Control-Allow-Origin"
CORS_HEADER_REF = "#/components/headers/AccessControlAllowOrigin"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "cognito": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": (
            "The Cognito user pool ID token of the signed-in user, as is (no `Bearer ` prefix), checked by "
            "API Gateway's Cognito user-pool authorizer. Missing, malformed or expired tokens get 401."
        ),
        "x-amazon-apigateway-authtype": "cognito_user_pools",
    },
    "sigv4": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": (
            "AWS Signature Version 4 (service `execute-api`) made with the caller's temporary credentials from "
            "the Cognito identity pool (authenticated identities), including `X-Amz-Date` and "
            "`X-Amz-Security-Token`. DynamoDB itself enforces that callers reach only their own items."
        ),
        "x-amazon-apigateway-authtype": "awsSigv4",
    },
}
AUTH_SCHEME = {"cognito": "cognito", "iam": "sigv4"}

# Errors every route can answer (API Gateway itself or the mapping templates), and 415 for routes
# with a body (the integration only accepts application/json).
COMMON_RESPONSES: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", (
        "Invalid input: the body does not match the request schema, a required parameter is missing, or a key, "
        "`limit` or `nextToken` is not valid. The message says which."
    )),
    "401": ("Unauthorized", "Not signed in: the credentials in the Authorization header are missing, malformed or expired."),
    "403": ("Forbidden", (
        "The caller is denied: credentials that may not call this route (for SigV4 routes also a missing, "
        "invalid or expired signature), or DynamoDB refusing the access."
    )),
    "404": ("NotFound", "No such item."),
    "415": ("UnsupportedMediaType", "The body must be sent with `Content-Type: application/json`."),
    "429": ("TooManyRequests", "Throttled by this method's API limit (all callers together) or by DynamoDB; retry with exponential backoff and jitter."),
    "500": ("InternalError", "An unexpected error, or the database is unavailable; retry later."),
}
ALWAYS = ("400", "401", "403", "429", "500")


# --------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------


def _field_schema(field: BodyField) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": field.type}
    for keyword in ("minimum", "maximum", "minLength", "maxLength", "pattern"):
        value = getattr(field, keyword)
        if value is not None:
            schema[keyword] = value
    if field.description:
        schema["description"] = field.description
    return dict(sorted(schema.items()))


def body_schema(route: Route) -> dict[str, Any]:
    """The request body of `route` as a JSON Schema valid both as draft 4 (API Gateway request
    models) and as an OpenAPI 3.0 schema object: an object of exactly the declared fields."""
    schema: dict[str, Any] = {
        "additionalProperties": False,
        "properties": {name: _field_schema(route.body[name]) for name in sorted(route.body)},
        "type": "object",
    }
    required = sorted(name for name, field in route.body.items() if field.required)
    if required:  # draft 4 and OpenAPI 3.0 both refuse an empty `required`
        schema["required"] = required
    return dict(sorted(schema.items()))


def _response_field_schema(field: ResponseField) -> dict[str, Any]:
    if field.type == "list":
        # The template always writes an array (empty when the attribute is absent); its elements
        # carry every declared field, null when missing.
        element = _object_schema({name: ResponseField(type=t) for name, t in field.items.items()})
        return {"items": element, "type": "array"}
    return {"nullable": True, "type": field.type}


def _object_schema(fields: Mapping[str, ResponseField]) -> dict[str, Any]:
    """A response object: every declared field is present (null when the item lacks it)."""
    schema: dict[str, Any] = {
        "properties": {name: _response_field_schema(fields[name]) for name in sorted(fields)},
        "type": "object",
    }
    if fields:
        schema["required"] = sorted(fields)
    return dict(sorted(schema.items()))


def _page_schema(item_ref: str, has_token: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {"items": {"items": {"$ref": item_ref}, "type": "array"}}
    if has_token:
        properties["nextToken"] = {
            "description": "Present when there may be more items: pass it as `?nextToken=` to get the next page.",
            "type": "string",
        }
    return {"properties": properties, "required": ["items"], "type": "object"}


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


def _schema_name(route_id: str, suffix: str) -> str:
    return route_id[0].upper() + route_id[1:] + suffix


def _page_size(route: Route) -> PageSize:
    return route.pageSize if route.pageSize is not None else PageSize()  # as stacks/api/vtl.py does


def has_next_token(route: Route, table: TableModel) -> bool:
    """A Query route pages with `nextToken` unless its key has no sort side (one item at most)."""
    return route.operation == "Query" and bool(token_attributes(route, table))


def error_statuses(route: Route) -> list[str]:
    """Error statuses the route can answer: the common ones, 415 with a body, 404/409 from its
    operation and condition (the same rule as the method responses in stacks/api/spec.py)."""
    statuses = set(ALWAYS)
    if route.auth == "iam":
        # An unsigned or badly signed call gets 403 from API Gateway, never 401.
        statuses.discard("401")
    if route.body:
        statuses.add("415")
    if route.operation in ("GetItem", "DeleteItem") or route.condition == "exists" or route.keepAtLeast or route.keepAtMost:
        statuses.add("404")
    if route.condition == "notExists" or route.keepAtLeast or route.keepAtMost:
        statuses.add("409")
    return sorted(statuses)


def _conflict_description(route: Route) -> str:
    if route.condition == "notExists":
        return "The item already exists (this route only creates)."
    limits = [f"`{a}` at least {v}" for a, v in sorted(route.keepAtLeast.items())]
    limits += [f"`{a}` at most {v}" for a, v in sorted(route.keepAtMost.items())]
    return f"The change would break a limit: {', '.join(limits)}."


def _summary(route: Route) -> str:
    text = route.description.strip()
    if not text:
        return f"{route.operation} on {route.table}"
    first = text.split(". ", 1)[0].rstrip(".")
    return first if len(first) <= 120 else first[:117].rstrip() + "..."


def _server_value(source: str) -> str:
    name = source_name(source)
    if name == "requestId":
        return "the request id"
    if name == "now":
        return "the request time (epoch seconds)"
    return f"{name.split(':')[1]} seconds after the request (epoch seconds)"


def _details(route: Route) -> list[str]:
    lines: list[str] = []
    target = f"index `{route.index}` of table `{route.table}`" if route.index else f"table `{route.table}`"
    order = " (newest first)" if route.newestFirst else ""
    lines.append(f"DynamoDB {route.operation} on {target}{order}.")
    own = sorted(a for a, s in route.key.items() if s == "identity")
    if own:
        names = ", ".join(f"`{a}`" for a in own)
        lines.append(f"Only the caller's own items: {names} is the caller's identity, never taken from the request.")
    written = {**route.item, **route.set}
    server = sorted((a, s) for a, s in written.items() if source_kind(s) == "server")
    if server:
        lines.append("Set by the server: " + "; ".join(f"`{a}` = {_server_value(s)}" for a, s in server) + ".")
    if route.add:
        changes = ", ".join(f"`{a}` by `{source_name(s)}`" for a, s in sorted(route.add.items()))
        lines.append(f"Atomic change: adds to {changes}.")
    statuses = error_statuses(route)
    if "404" in statuses:
        lines.append("404 when the item does not exist.")
    if "409" in statuses:
        lines.append("409: " + _conflict_description(route))
    if route.auth == "iam":
        lines.append("Auth: AWS SigV4 with the caller's Cognito identity-pool credentials.")
    else:
        lines.append("Auth: the Cognito ID token in `Authorization`.")
    return lines


def _parameters(route: Route, table: TableModel) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in path_parameters(route.path):
        attributes = sorted(a for a, s in route.key.items() if s == f"path.{name}")
        params.append({
            "description": ("Key " + ", ".join(f"`{a}`" for a in attributes) + ".") if attributes else f"`{name}`.",
            "in": "path",
            "name": name,
            "required": True,
            "schema": {"minLength": 1, "type": "string"},  # an empty segment is another (unknown) route
        })
    query = sorted({source_name(s): a for a, s in route.key.items() if source_kind(s) == "query"}.items())
    for name, attribute in query:
        where = f" of index `{route.index}`" if route.index else ""
        params.append({
            "description": f"Key `{attribute}`{where}: the items to list.",
            "in": "query",
            "name": name,
            "required": True,
            "schema": {"minLength": 1, "type": "string"},  # API Gateway refuses an empty required parameter
        })
    if route.operation == "Query":
        page = _page_size(route)
        params.append({
            "description": f"Items per page, 1 to {page.max} (default {page.default}).",
            "in": "query",
            "name": "limit",
            "required": False,
            "schema": {"default": page.default, "maximum": page.max, "minimum": 1, "type": "integer"},
        })
        if has_next_token(route, table):
            params.append({
                "description": "Opaque: the `nextToken` of the previous page, exactly as it was returned.",
                "in": "query",
                "name": "nextToken",
                "required": False,
                # The shape the request template accepts (stacks/api/vtl.py); anything else is a 400.
                "schema": {"maxLength": NEXT_TOKEN_MAX_LENGTH,
                           "pattern": token_regex(len(token_attributes(route, table))), "type": "string"},
            })
    return params


def _with_cors(response: dict[str, Any], cors: bool) -> dict[str, Any]:
    if cors:
        response["headers"] = {CORS_HEADER: {"$ref": CORS_HEADER_REF}}
    return response


def _json_response(description: str, schema: dict[str, Any], cors: bool) -> dict[str, Any]:
    return _with_cors({"content": {"application/json": {"schema": schema}}, "description": description}, cors)


def _success(route_id: str, route: Route, table: TableModel, schemas: dict[str, Any], cors: bool) -> tuple[str, dict[str, Any]]:
    op = route.operation
    if op == "DeleteItem":
        return "204", _with_cors({"description": "Deleted: no content."}, cors)
    if op == "PutItem":
        name = _schema_name(route_id, "Created")
        schemas[name] = {"type": "object"}
        return "201", _json_response("Created: an empty object.", {"$ref": f"#/components/schemas/{name}"}, cors)
    if op == "UpdateItem" and route.condition == "notExists":
        name = _schema_name(route_id, "Created")
        schemas[name] = _object_schema(route.response)
        return "201", _json_response("Created: the item as stored.", {"$ref": f"#/components/schemas/{name}"}, cors)
    if op == "Query":
        item, page = _schema_name(route_id, "Item"), _schema_name(route_id, "Page")
        schemas[item] = _object_schema(route.response)
        schemas[page] = _page_schema(f"#/components/schemas/{item}", has_next_token(route, table))
        text = "One page of items (possibly empty); follow `nextToken` for the next page." if has_next_token(route, table) \
            else "The items (possibly none)."
        return "200", _json_response(text, {"$ref": f"#/components/schemas/{page}"}, cors)
    name = _schema_name(route_id, "Response")
    schemas[name] = _object_schema(route.response)
    text = "The item after the change." if op == "UpdateItem" else "The item."
    return "200", _json_response(text, {"$ref": f"#/components/schemas/{name}"}, cors)


def _operation(route_id: str, route: Route, table: TableModel, schemas: dict[str, Any], cors: bool) -> dict[str, Any]:
    description = "\n\n".join(p for p in (route.description.strip(), " ".join(_details(route))) if p)
    operation: dict[str, Any] = {
        "operationId": route_id,
        "summary": _summary(route),
        "description": description,
        "tags": [route.table],
        "security": [{AUTH_SCHEME[route.auth]: []}],
    }
    parameters = _parameters(route, table)
    if parameters:
        operation["parameters"] = parameters
    if route.body:
        name = _schema_name(route_id, "Body")  # the API Gateway model's name too (stacks/api/spec.py)
        schemas[name] = body_schema(route)
        operation["requestBody"] = {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
            "required": True,
        }
    status, success = _success(route_id, route, table, schemas, cors)
    responses: dict[str, Any] = {status: success}
    for code in error_statuses(route):
        if code == "409":
            responses[code] = _json_response(_conflict_description(route), {"$ref": ERROR_REF}, cors)
        else:
            responses[code] = {"$ref": f"#/components/responses/{COMMON_RESPONSES[code][0]}"}
    operation["responses"] = dict(sorted(responses.items()))
    return operation


# --------------------------------------------------------------------------------------------
# Function-backed routes (Lambda proxy)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionRoute:
    """A route served by a Lambda function: its declaration and the function's own HTTP contract
    (lambdas/<code>/api.json: summary, parameters, schemas, responses), which the function's tests
    hold to the handler's real responses."""

    route_id: str
    function: str
    method: str
    path: str
    description: str
    source: Any  # functions.model.RouteSource (method, path, description, body)
    contract: Mapping[str, Any]


def function_route_statuses(route: FunctionRoute) -> list[str]:
    """The function's own statuses plus API Gateway's: 401 (authorizer), 403, 415 with a body, 500."""
    statuses = set(route.contract.get("responses", {})) | {"401", "403", "500"}
    if route.source.body:
        statuses |= {"400", "415"}
    return sorted(statuses)


def _function_operation(route: FunctionRoute, schemas: dict[str, Any], cors: bool) -> dict[str, Any]:
    contract = route.contract
    for name, schema in contract.get("schemas", {}).items():
        schemas[name] = copy.deepcopy(schema)
    operation: dict[str, Any] = {
        "operationId": route.route_id,
        "summary": contract.get("summary") or route.description or f"{route.method} {route.path}",
        "description": "\n\n".join(p for p in (route.description.strip(),
                                                f"Served by the Lambda function `{route.function}` (proxy integration). "
                                                "Auth: the Cognito ID token in `Authorization`.") if p),
        "tags": ["functions"],
        "security": [{"cognito": []}],
    }
    parameters = copy.deepcopy(list(contract.get("parameters", [])))
    if parameters:
        operation["parameters"] = parameters
    if route.source.body:
        name = _schema_name(route.route_id, "Body")  # the API Gateway model's name too (stacks/api/spec.py)
        schemas[name] = body_schema(route.source)
        operation["requestBody"] = {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
            # API Gateway validates the body against the model before the function runs: send `{}` at least.
            "required": True,
        }
    responses: dict[str, Any] = {}
    for code in function_route_statuses(route):
        declared = contract.get("responses", {}).get(code)
        if declared is None:
            responses[code] = {"$ref": f"#/components/responses/{COMMON_RESPONSES[code][0]}"}
            continue
        response = _json_response(declared["description"], {"$ref": f"#/components/schemas/{declared['schema']}"}, cors)
        if declared.get("retryAfter"):
            response.setdefault("headers", {})["Retry-After"] = {
                "description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
        responses[code] = response
    operation["responses"] = responses
    return operation


def stage_server(region: str) -> dict[str, Any]:
    """The stage URL, templated: the API id is known after `pulumi up` (output `api.id`)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return {
        "url": "https://{apiId}.execute-api.{region}." + suffix + "/v1",
        "description": "The stack's API stage (the `api.url` stack output).",
        "variables": {
            "apiId": {"default": "apiId", "description": "The REST API id: the `api.id` stack output."},
            "region": {"default": region, "enum": [region], "description": "The stack's region."},
        },
    }


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


def _info_description(api: ApiModel, origins: list[str]) -> str:
    parts = [api.description.strip()] if api.description.strip() else []
    parts.append(
        "Every route needs credentials: routes secured by `cognito` take the Cognito ID token in the "
        "`Authorization` header; routes secured by `sigv4` are signed (AWS SigV4, service `execute-api`) "
        "with the caller's Cognito identity-pool credentials."
    )
    parts.append(
        "Errors answer `{\"message\": \"...\"}`: 400 invalid input, 401 not signed in, 403 denied, 404 no such item, "
        "409 a failed condition or limit, 429 throttled (retry with backoff), 500 internal error. "
        "List routes answer `{\"items\": [...], \"nextToken\": \"...\"}` and take `?limit=` and `?nextToken=`; "
        "response fields are null when an item has no such attribute."
    )
    if origins:
        parts.append("Browsers may call the API from: " + ", ".join(origins) + ".")
    return "\n\n".join(parts)


def openapi_document(
    api: ApiModel,
    tables: Mapping[str, TableModel],
    *,
    title: str,
    version: str,
    server_url: Optional[str],
    cors_origins: Sequence[str] = (),
    region: Optional[str] = None,
    function_routes: Sequence[FunctionRoute] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of `api` (whose routes address `tables`) and of the
    function-backed routes; `servers` is `server_url` when known, else the templated stage URL."""
    missing = sorted({r.table for r in api.routes.values()} - set(tables))
    if missing:
        raise ValueError(f"routes name tables that are not in the data model: {', '.join(missing)}")
    origins = sorted(set(cors_origins))
    cors = bool(origins)
    schemas: dict[str, Any] = {ERROR_SCHEMA: {
        "properties": {"message": {"description": "What went wrong, for people.", "type": "string"}},
        "required": ["message"],
        "type": "object",
    }}
    paths: dict[str, dict[str, Any]] = {}
    for route_id in sorted(api.routes):
        route = api.routes[route_id]
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route_id, route, tables[route.table], schemas, cors
        )
    for function_route in sorted(function_routes, key=lambda f: f.route_id):
        paths.setdefault(function_route.path, {})[function_route.method.lower()] = _function_operation(
            function_route, schemas, cors)
    ordered_paths = {
        path: {m: paths[path][m] for m in METHOD_ORDER if m in paths[path]} for path in sorted(paths)
    }
    used_codes = sorted({code for item in ordered_paths.values() for op in item.values() for code in op["responses"]
                         if code in COMMON_RESPONSES})
    responses = {
        COMMON_RESPONSES[code][0]: _json_response(COMMON_RESPONSES[code][1], {"$ref": ERROR_REF}, cors)
        for code in used_codes
    }
    used_schemes = sorted({AUTH_SCHEME[r.auth] for r in api.routes.values()} | ({"cognito"} if function_routes else set()))
    components: dict[str, Any] = {}
    if cors:
        components["headers"] = {CORS_HEADER_REF.rsplit("/", 1)[1]: {
            "description": "The calling page's origin, when it is one of the allowed origins.",
            "schema": {"enum": origins, "type": "string"},
        }}
    components["responses"] = dict(sorted(responses.items()))
    components["schemas"] = dict(sorted(schemas.items()))
    components["securitySchemes"] = {name: copy.deepcopy(SECURITY_SCHEMES[name]) for name in used_schemes}
    info: dict[str, Any] = {"title": title, "version": version, "description": _info_description(api, origins)}
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    if server_url:
        document["servers"] = [{"url": server_url}]
    elif region:
        document["servers"] = [stage_server(region)]
    used_tables = sorted({r.table for r in api.routes.values()})
    document["tags"] = [
        {"name": name, **({"description": tables[name].description} if tables[name].description else {})}
        for name in used_tables
    ] + ([{"name": "functions", "description": "Routes served by Lambda functions."}] if function_routes else [])
    document["paths"] = ordered_paths
    document["components"] = components
    return document


def openapi_json(document: Mapping[str, Any]) -> str:
    """The document as stable JSON text (insertion order is already deterministic)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
