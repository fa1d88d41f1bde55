"""A local stand-in for API Gateway that serves the plan's API with the plan's own templates.

Per request, in API Gateway's order: route match, authorization (locally minted Cognito tokens),
request validation (required parameters, JSON schema of the body), the integration request
template, the call to DynamoDB (moto), selection of the integration response by the backend's status
(GOTCHAS A5), and the response template. For `iam` routes, where DynamoDB checks the caller's own
credentials, the gateway evaluates the app users' role policy from the plan with stacks.iam_eval
before the call, as DynamoDB would, and answers AccessDeniedException when it denies.

Local differences from AWS, on purpose: no throttling; no execute-api:Invoke check (that policy
names the API id, which only AWS assigns); SigV4 is replaced by the same local token.

Whatever a client sends, the answer is JSON with a status API Gateway could send: a method or path
with no route is API Gateway's 403 MISSING_AUTHENTICATION_TOKEN (GOTCHAS A15); a URL longer than a
regional API accepts is a 414 and a payload over 10 MB a 413 (GOTCHAS A16); a body that cannot be
used (bytes that are not UTF-8, nesting deeper than a parser can follow, a lone UTF-16 surrogate,
which no UTF-8 backend can store) the plan's 400 BAD_REQUEST_BODY; an unexpected local failure a
500 like API Gateway's own, never a dropped connection. The HTTP layer (runtime.py) adds the
transport limits: header values, malformed request lines, any method token.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional
from urllib.parse import parse_qsl, urlsplit

import jsonschema

from ..access.evaluator import Request as IamRequest
from ..access.evaluator import evaluate
from .api_plan import LocalApi, LocalRoute
from .tokens import LocalIssuer
from .vtl import VtlBodyParseError, VtlError, VtlRequest, render_request, render_response

DynamoCall = Callable[[str, str], tuple[int, str]]  # (action, JSON body) -> (status, JSON body)

MAX_URL_CHARACTERS = 10_240  # "Length, in characters, of the URL for a regional API" (GOTCHAS A16)
MAX_BODY_BYTES = 10 * 1024 * 1024  # REST API payload size (GOTCHAS A16)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path with query string, e.g. /v1/products?category=books
    headers: Mapping[str, str]
    body: str = ""


@dataclass
class HttpResponse:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


@dataclass(frozen=True)
class Identity:
    claims: Mapping[str, Any]
    region: str

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    def context(self) -> dict[str, Any]:
        pool = f"cognito-idp.{self.region}.amazonaws.com/{self.region}_local"
        return {
            "cognitoIdentityId": f"{self.region}:{uuid.uuid5(uuid.NAMESPACE_URL, self.sub)}",
            "cognitoAuthenticationProvider": f"{pool},{pool}:CognitoSignIn:{self.sub}",
            "cognitoAuthenticationType": "authenticated",
            "sourceIp": "127.0.0.1",
        }


class LocalGateway:
    def __init__(self, api: LocalApi, issuer: LocalIssuer, dynamodb: DynamoCall, *, region: str, account: str,
                 table_arns: Mapping[str, str], partition_keys: Mapping[str, str],
                 invoke: Optional[Callable[[str, Any], Any]] = None):
        self.api = api
        self.issuer = issuer
        self.dynamodb = dynamodb
        self.region = region
        self.account = account
        self.table_arns = table_arns  # physical table name -> ARN (for iam-route authorization)
        self.partition_keys = partition_keys  # physical table name -> partition key attribute
        self.invoke = invoke  # (function URN, event) -> result, for Lambda proxy routes

    # -- the request pipeline -----------------------------------------------------------------

    def handle(self, request: HttpRequest) -> HttpResponse:
        """The answer to one request; never raises (a local failure is API Gateway's JSON 500)."""
        try:
            return self._handle(request)
        except Exception as exc:  # noqa: BLE001  (a bug here must not drop the client's connection)
            return HttpResponse(500, json.dumps({"message": "Internal server error", "local-detail": repr(exc)}))

    def _handle(self, request: HttpRequest) -> HttpResponse:
        if len(request.target) > MAX_URL_CHARACTERS:
            return HttpResponse(414, json.dumps({"message": "Request-URI Too Long"}))
        if len(request.body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
            # REQUEST_TOO_LARGE cannot be customized on REST APIs: API Gateway's own answer, not the plan's.
            return HttpResponse(413, json.dumps({"message": "Request Entity Too Large"}))
        url = urlsplit(request.target)
        prefix = f"/{self.api.stage}"
        path = url.path[len(prefix):] if url.path.startswith(prefix + "/") else None
        route, path_params = self.api.route(request.method, path) if path else (None, {})
        if route is None:
            return self._gateway("MISSING_AUTHENTICATION_TOKEN", 403)
        headers = {k.lower(): v for k, v in request.headers.items()}
        identity = None
        if route.authorization in ("COGNITO_USER_POOLS", "AWS_IAM"):
            claims = self.issuer.verify(headers.get("authorization"))
            if claims is None:
                kind = "UNAUTHORIZED" if route.authorization == "COGNITO_USER_POOLS" else "MISSING_AUTHENTICATION_TOKEN"
                return self._gateway(kind, 401 if kind == "UNAUTHORIZED" else 403)
            identity = Identity(claims, self.region)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        invalid = self._validate(route, path_params, query, request.body, headers)
        if invalid is not None:
            return invalid
        context = self._context(route, request, path, identity)
        vtl_request = VtlRequest(body=request.body, path=path_params, querystring=query, header=dict(request.headers), context=context)
        try:
            rendered = render_request(route.request_template, vtl_request)
        except VtlBodyParseError:
            return HttpResponse(400, json.dumps({"message": "Could not parse request body into json"}))
        except VtlError as exc:
            return HttpResponse(500, json.dumps({"message": "Internal server error", "local-detail": str(exc)}))
        if route.integration_type == "MOCK":
            # The request template names the status; the integration response for it adds the static
            # headers (the CORS preflight's Access-Control-* values).
            status = mock_status(rendered.output)
            return self._integration_response(route, vtl_request, status, "")
        if route.integration_type == "AWS_PROXY":
            return self._proxy(route, request, path or "", path_params, query, identity)
        status, body = self._call(route, rendered.output, identity)
        return self._integration_response(route, vtl_request, status, body)

    def _validate(self, route: LocalRoute, path: Mapping[str, str], query: Mapping[str, str], body: str,
                  headers: Mapping[str, str]) -> Optional[HttpResponse]:
        if route.validate_parameters:
            for parameter in route.required_parameters:
                kind, _, name = parameter.removeprefix("method.request.").partition(".")
                source = {"path": path, "querystring": query, "header": headers}.get(kind, {})
                if not source.get(name if kind != "header" else name.lower()):
                    return self._gateway("BAD_REQUEST_PARAMETERS", 400)
        content_type = headers.get("content-type", "application/json").split(";")[0].strip()
        if body and content_type != "application/json":
            # Templates exist for application/json only and passthrough is NEVER (GOTCHAS A2).
            return self._gateway("UNSUPPORTED_MEDIA_TYPE", 415)
        if body.strip() and unusable_json(body):
            return self._gateway("BAD_REQUEST_BODY", 400)
        if route.validate_body and route.body_schema is not None:
            try:
                document = json.loads(body) if body.strip() else None
                jsonschema.Draft4Validator(route.body_schema).validate(document)
            except (json.JSONDecodeError, jsonschema.ValidationError, RecursionError):
                return self._gateway("BAD_REQUEST_BODY", 400)
        return None

    def _context(self, route: LocalRoute, request: HttpRequest, path: Optional[str], identity: Optional[Identity]) -> dict[str, Any]:
        now = time.time()
        context: dict[str, Any] = {
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(now * 1000),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "httpMethod": request.method,
            "resourcePath": route.path,
            "path": f"/{self.api.stage}{path}",
            "stage": self.api.stage,
            "accountId": self.account,
            "apiId": "local",
            "identity": {"sourceIp": "127.0.0.1"},
        }
        if identity is not None and route.authorization == "COGNITO_USER_POOLS":
            context["authorizer"] = {"claims": dict(identity.claims)}
        if identity is not None and route.authorization == "AWS_IAM":
            context["identity"] = identity.context()
        return context

    def _call(self, route: LocalRoute, body: str, identity: Optional[Identity]) -> tuple[int, str]:
        if route.action is None:
            return 500, json.dumps({"__type": "InternalFailure", "message": "not a DynamoDB integration"})
        if route.caller_credentials:
            denied = self._caller_denied(route.action, body, identity)
            if denied:
                return 400, json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException", "message": denied})
        return self.dynamodb(route.action, body)

    def _proxy(self, route: LocalRoute, request: HttpRequest, path: str, params: Mapping[str, str],
               query: Mapping[str, str], identity: Optional[Identity]) -> HttpResponse:
        from .functions import proxy_event

        if self.invoke is None or route.function_urn is None:
            return HttpResponse(500, json.dumps({"message": "Internal server error", "local-detail": "no function"}))
        event = proxy_event(route.method, route.path, path, self.api.stage, request.headers, query, params,
                            request.body, dict(identity.claims) if identity else {})
        try:
            result = self.invoke(route.function_urn, event)
        except Exception as exc:  # noqa: BLE001  (API Gateway answers 502 when the function fails)
            return HttpResponse(502, json.dumps({"message": "Internal server error", "local-detail": repr(exc)}))
        headers = {"Content-Type": "application/json", **(result.get("headers") or {})}
        return HttpResponse(int(result.get("statusCode", 502)), result.get("body") or "", headers)

    # -- DynamoDB's own authorization of caller credentials (iam routes) ------------------------

    def _caller_denied(self, action: str, body: str, identity: Optional[Identity]) -> Optional[str]:
        try:
            call = json.loads(body)
        except json.JSONDecodeError:
            return None  # DynamoDB answers the malformed request itself
        table = call.get("TableName", "")
        arn = self.table_arns.get(table, f"arn:aws:dynamodb:{self.region}:{self.account}:table/{table}")
        resource = f"{arn}/index/{call['IndexName']}" if call.get("IndexName") else arn
        context = request_context(action, call, self.partition_keys.get(table))
        if identity is not None:
            context["aws:PrincipalTag/userSub"] = identity.sub
            context["cognito-identity.amazonaws.com:sub"] = identity.context()["cognitoIdentityId"]
        decision = evaluate(list(self.api.cognito_role_policies), IamRequest(f"dynamodb:{action}", resource, context))
        if decision == "allow":
            return None
        return f"User is not authorized to perform: dynamodb:{action} on resource: {resource}"

    # -- responses ------------------------------------------------------------------------------

    def _integration_response(self, route: LocalRoute, vtl_request: VtlRequest, status: int, body: str) -> HttpResponse:
        chosen = None
        for candidate in route.responses:
            if candidate.pattern and re.fullmatch(candidate.pattern, str(status)):
                chosen = candidate
                break
        if chosen is None:
            chosen = next((r for r in route.responses if not r.pattern), None)
        if chosen is None:
            return HttpResponse(500, json.dumps({"message": "Internal server error"}))
        try:
            rendered = render_response(chosen.template, vtl_request, body)
        except VtlError as exc:
            return HttpResponse(500, json.dumps({"message": "Internal server error", "local-detail": str(exc)}))
        headers = {"Content-Type": "application/json", **chosen.headers, **rendered.header_overrides}
        final = rendered.status_override or int(chosen.status)
        output = rendered.output.strip() if final != 204 else ""
        return HttpResponse(final, output, headers)

    def _gateway(self, kind: str, default_status: int) -> HttpResponse:
        response = self.api.gateway_responses.get(kind) or self.api.gateway_responses.get(
            "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX")
        if response is None:
            return HttpResponse(default_status, json.dumps({"message": kind}))
        status = int(response.status) if response.status else default_status
        return HttpResponse(status, response.template, {"Content-Type": "application/json", **response.headers})


def mock_status(template_output: str) -> int:
    """The status a MOCK integration's request template chose (`{"statusCode": 200}`); 200 without one."""
    try:
        value = json.loads(template_output).get("statusCode", 200)
        return int(value)
    except (ValueError, TypeError, AttributeError):
        return 200


def unusable_json(body: str) -> bool:
    """A body no backend could take: bytes that are not UTF-8, JSON nested deeper than the parser's
    stack, or JSON holding a lone UTF-16 surrogate ("\\ud800" without its pair), which has no UTF-8
    encoding. Other text that is not JSON is not judged here: validation and templates answer it
    as API Gateway does."""
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        return True  # bytes that were not UTF-8 (kept as lone surrogates by the HTTP layer)
    try:
        document = json.loads(body)
    except ValueError:
        return False
    except RecursionError:
        return True
    pending = [document]
    while pending:  # iterative: the document may be nested as deep as the parser allowed
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def request_context(action: str, call: Mapping[str, Any], partition_key: Optional[str]) -> dict[str, Any]:
    """The DynamoDB condition keys of a request (GOTCHAS I2, I5): the partition key values it
    touches, the attributes it reads or writes, Select and ReturnValues."""
    context: dict[str, Any] = {}
    keys: list[str] = []
    for part in ("Key", "Item"):
        if part in call and partition_key in call[part]:
            keys.append(_scalar(call[part][partition_key]))
    if action == "Query":
        values = call.get("ExpressionAttributeValues", {})
        condition = call.get("KeyConditionExpression", "")
        first = re.match(r"\s*(#?\w+)\s*=\s*(:\w+)", condition)
        if first and first.group(2) in values:
            keys.append(_scalar(values[first.group(2)]))
    keys = [k for k in keys if k is not None]
    if keys:
        context["dynamodb:LeadingKeys"] = keys
    names = call.get("ExpressionAttributeNames", {})
    projection = call.get("ProjectionExpression")
    if projection:
        context["dynamodb:Attributes"] = sorted({names.get(p.strip(), p.strip()) for p in projection.split(",")}
                                                | set(_key_names(call)))
        context["dynamodb:Select"] = call.get("Select", "SPECIFIC_ATTRIBUTES")
    elif "Select" in call:
        context["dynamodb:Select"] = call["Select"]
    if "ReturnValues" in call:
        context["dynamodb:ReturnValues"] = call["ReturnValues"]
    return context


def _key_names(call: Mapping[str, Any]) -> list[str]:
    return list(call.get("Key", {}))


def _scalar(value: Mapping[str, Any]) -> Optional[str]:
    for kind in ("S", "N", "B"):
        if kind in value:
            return str(value[kind])
    return None
