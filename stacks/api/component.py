"""REST API in which API Gateway talks to DynamoDB directly (GOTCHAS A1-A8). Thin: every decision
(templates, schemas, statuses, grants, hash) comes from stacks/api_spec.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from .spec import (
    CALLER_CREDENTIALS,
    STAGE_NAME,
    ProxyRouteSpec,
    RouteSpec,
    RouteThrottle,
    definition_hash,
    gateway_responses,
    invoke_source_arn,
    resource_paths,
)
from .openapi import body_schema

TYPE = "ddb-blueprint:index:Api"
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "user": "$context.authorizer.claims.sub",
    "cognitoIdentityId": "$context.identity.cognitoIdentityId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "errorMessage": "$context.error.messageString",  # already a quoted JSON string: unquoted below
    "xrayTraceId": "$context.xrayTraceId",
}


def access_log_format() -> str:
    """One JSON object per request; error messages may contain quotes, so the already-quoted
    $context.error.messageString is placed unquoted."""
    text = json.dumps(ACCESS_LOG_FORMAT)
    return text.replace('"$context.error.messageString"', "$context.error.messageString")


@dataclass(frozen=True, kw_only=True)
class ApiArgs:
    name: str
    description: str
    specs: list[RouteSpec]
    proxy_specs: list[ProxyRouteSpec]
    proxy_functions: dict[str, Any]  # function name -> aws.lambda_.Function
    partition: pulumi.Input[str]
    region: str
    user_pool_arn: Optional[pulumi.Input[str]]
    integration_role_arn: Optional[pulumi.Input[str]]
    log_key_arn: pulumi.Input[str]
    log_retention_days: int
    execution_log_level: str
    throttle_rate: int
    throttle_burst: int
    route_throttles: list[RouteThrottle]
    cors_origin: Optional[str]
    waf_acl_arn: Optional[str]
    tags: dict[str, str] = field(default_factory=dict)


class Api(pulumi.ComponentResource):
    rest_api: aws.apigateway.RestApi
    stage: aws.apigateway.Stage

    def __init__(self, name: str, args: ApiArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.rest_api = aws.apigateway.RestApi(
            name,
            name=args.name,
            description=args.description,
            endpoint_configuration={"types": "REGIONAL"},
            tags=args.tags,
            opts=child,
        )
        self._authorizer = None
        if args.user_pool_arn is not None:
            self._authorizer = aws.apigateway.Authorizer(
                f"{name}-cognito",
                rest_api=self.rest_api.id,
                name="cognito-user-pool",
                type="COGNITO_USER_POOLS",
                provider_arns=[args.user_pool_arn],
                identity_source="method.request.header.Authorization",
                opts=child,
            )
        self._validators = {
            "body": aws.apigateway.RequestValidator(
                f"{name}-validate-body", rest_api=self.rest_api.id, name="body-and-parameters",
                validate_request_body=True, validate_request_parameters=True, opts=child),
            "params": aws.apigateway.RequestValidator(
                f"{name}-validate-params", rest_api=self.rest_api.id, name="parameters",
                validate_request_body=False, validate_request_parameters=True, opts=child),
        }
        resources = self._create_resources(name, args)
        routes = [self._create_route(name, args, spec, resources) for spec in args.specs]
        routes += [self._create_proxy_route(name, args, spec, resources) for spec in args.proxy_specs]
        if args.cors_origin:
            paths = {s.route.path for s in args.specs} | {s.path for s in args.proxy_specs}
            routes += [self._create_preflight(name, args, path, resources[path]) for path in sorted(paths)]
        responses = self._create_gateway_responses(name, args)
        self.stage = self._create_stage(name, args, [*routes, *responses])
        self._create_invoke_permissions(name, args)
        self.register_outputs({"url": self.stage.invoke_url, "id": self.rest_api.id, "stage": self.stage.stage_name})

    def _create_resources(self, name: str, args: ApiArgs) -> dict[str, Any]:
        resources: dict[str, Any] = {"": None}
        for path in resource_paths([*args.specs, *args.proxy_specs]):
            parent_path, _, part = path.rpartition("/")
            parent = resources[parent_path]
            resources[path] = aws.apigateway.Resource(
                f"{name}-resource{path.replace('/', '-').replace('{', '').replace('}', '')}",
                rest_api=self.rest_api.id,
                parent_id=parent.id if parent is not None else self.rest_api.root_resource_id,
                path_part=part,
                opts=pulumi.ResourceOptions(parent=self),
            )
        return resources

    def _create_route(self, name: str, args: ApiArgs, spec: RouteSpec, resources: dict[str, Any]) -> list[Any]:
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{name}-{spec.route_id}"
        resource = resources[spec.route.path]
        models = {}
        if spec.model_name:
            model = aws.apigateway.Model(
                f"{prefix}-model",
                rest_api=self.rest_api.id,
                name=spec.model_name,
                content_type="application/json",
                schema=json.dumps(body_schema(spec.route), sort_keys=True),
                opts=child,
            )
            models = {"application/json": model.name}
        method = aws.apigateway.Method(
            f"{prefix}-method",
            rest_api=self.rest_api.id,
            resource_id=resource.id,
            http_method=spec.route.method,
            authorization=spec.authorization,
            authorizer_id=self._authorizer.id if spec.authorization == "COGNITO_USER_POOLS" and self._authorizer else None,
            request_validator_id=self._validators[spec.validator].id,
            request_models=models or None,
            request_parameters=spec.request_parameters or None,
            operation_name=spec.route_id,
            opts=child,
        )
        credentials = (
            pulumi.Output.from_input(args.partition).apply(lambda p: CALLER_CREDENTIALS.format(partition=p))
            if spec.authorization == "AWS_IAM"
            else args.integration_role_arn
        )
        integration = aws.apigateway.Integration(
            f"{prefix}-integration",
            rest_api=self.rest_api.id,
            resource_id=resource.id,
            http_method=method.http_method,
            type="AWS",
            integration_http_method="POST",  # always POST for AWS service actions (GOTCHAS A1)
            uri=pulumi.Output.from_input(args.partition).apply(lambda p: spec.uri(p, args.region)),
            credentials=credentials,
            passthrough_behavior="NEVER",  # no template, no call: never forward raw bodies (GOTCHAS A2)
            request_templates={"application/json": spec.templates.request},
            timeout_milliseconds=5000,
            opts=child,
        )
        created: list[Any] = [method, integration]
        cors = {"method.response.header.Access-Control-Allow-Origin": True} if args.cors_origin else None
        responses = {}
        for status in spec.method_statuses:
            responses[status] = aws.apigateway.MethodResponse(
                f"{prefix}-{status}",
                rest_api=self.rest_api.id,
                resource_id=resource.id,
                http_method=method.http_method,
                status_code=status,
                response_models={"application/json": "Empty"},
                response_parameters=cors,
                opts=child,
            )
        cors_value = {"method.response.header.Access-Control-Allow-Origin": f"'{args.cors_origin}'"} if args.cors_origin else None
        # Selection patterns match the backend's HTTP status for AWS integrations (GOTCHAS A5).
        for key, pattern, status, template in (
            ("ok", None, str(spec.templates.success_status), spec.templates.success),
            ("4xx", r"4\d{2}", "400", spec.templates.client_error),
            ("5xx", r"5\d{2}", "500", spec.templates.server_error),
        ):
            created.append(
                aws.apigateway.IntegrationResponse(
                    f"{prefix}-{key}",
                    rest_api=self.rest_api.id,
                    resource_id=resource.id,
                    http_method=method.http_method,
                    status_code=responses[status].status_code,
                    selection_pattern=pattern,
                    response_templates={"application/json": template},
                    response_parameters=cors_value,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[integration]),
                )
            )
        return created + list(responses.values())

    def _create_proxy_route(self, name: str, args: ApiArgs, spec: ProxyRouteSpec, resources: dict[str, Any]) -> list[Any]:
        """A route served by a function: Cognito-authorized, body validated, Lambda proxy."""
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{name}-{spec.route_id}"
        resource = resources[spec.path]
        models = {}
        if spec.model_name:
            model = aws.apigateway.Model(
                f"{prefix}-model", rest_api=self.rest_api.id, name=spec.model_name, content_type="application/json",
                schema=json.dumps(body_schema(spec.source), sort_keys=True), opts=child)
            models = {"application/json": model.name}
        method = aws.apigateway.Method(
            f"{prefix}-method", rest_api=self.rest_api.id, resource_id=resource.id, http_method=spec.method,
            authorization="COGNITO_USER_POOLS", authorizer_id=self._authorizer.id if self._authorizer else None,
            request_validator_id=self._validators["body" if models else "params"].id,
            request_models=models or None, operation_name=spec.route_id, opts=child)
        function = args.proxy_functions[spec.function]
        integration = aws.apigateway.Integration(
            f"{prefix}-integration", rest_api=self.rest_api.id, resource_id=resource.id, http_method=method.http_method,
            type="AWS_PROXY", integration_http_method="POST", uri=function.invoke_arn, timeout_milliseconds=29000,
            opts=child)
        return [method, integration]

    def _create_invoke_permissions(self, name: str, args: ApiArgs) -> None:
        """Only this stage's method and path may invoke each function (GOTCHAS A12): the source ARN
        is built from the stage's own execution ARN, so it names the stage, never `*`."""
        for spec in args.proxy_specs:
            aws.lambda_.Permission(
                f"{name}-{spec.route_id}-invoke", action="lambda:InvokeFunction",
                function=args.proxy_functions[spec.function].name, principal="apigateway.amazonaws.com",
                source_arn=self.stage.execution_arn.apply(lambda arn, s=spec: invoke_source_arn(arn, s.method, s.path)),
                opts=pulumi.ResourceOptions(parent=self))

    def _create_preflight(self, name: str, args: ApiArgs, path: str, resource: Any) -> list[Any]:
        """CORS preflight: browsers send OPTIONS without credentials, so this one method has no
        authorization; it is a MOCK that touches no data and answers with static headers."""
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{name}-preflight{path.replace('/', '-').replace('{', '').replace('}', '')}"
        methods = ",".join(sorted({s.route.method for s in args.specs if s.route.path == path}
                                  | {s.method for s in args.proxy_specs if s.path == path} | {"OPTIONS"}))
        method = aws.apigateway.Method(
            f"{prefix}-method", rest_api=self.rest_api.id, resource_id=resource.id, http_method="OPTIONS",
            authorization="NONE", opts=child)
        integration = aws.apigateway.Integration(
            f"{prefix}-integration", rest_api=self.rest_api.id, resource_id=resource.id, http_method=method.http_method,
            type="MOCK", passthrough_behavior="NEVER", request_templates={"application/json": '{"statusCode": 200}'},
            opts=child)
        headers = {
            "method.response.header.Access-Control-Allow-Origin": f"'{args.cors_origin}'",
            "method.response.header.Access-Control-Allow-Methods": f"'{methods}'",
            "method.response.header.Access-Control-Allow-Headers": "'Authorization,Content-Type,X-Amz-Date,X-Amz-Security-Token'",
            "method.response.header.Access-Control-Max-Age": "'600'",
        }
        response = aws.apigateway.MethodResponse(
            f"{prefix}-200", rest_api=self.rest_api.id, resource_id=resource.id, http_method=method.http_method,
            status_code="200", response_parameters={k: True for k in headers}, opts=child)
        answer = aws.apigateway.IntegrationResponse(
            f"{prefix}-ok", rest_api=self.rest_api.id, resource_id=resource.id, http_method=method.http_method,
            status_code=response.status_code, response_parameters=headers,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[integration]))
        return [method, integration, response, answer]

    def _create_gateway_responses(self, name: str, args: ApiArgs) -> list[Any]:
        created = []
        for kind, response in gateway_responses(args.cors_origin).items():
            created.append(
                aws.apigateway.Response(
                    f"{name}-gateway-{kind.lower().replace('_', '-')}",
                    rest_api_id=self.rest_api.id,
                    response_type=kind,
                    status_code=response.get("status"),
                    response_templates={"application/json": response["template"]},
                    response_parameters=response.get("headers"),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        return created

    def _create_stage(self, name: str, args: ApiArgs, everything: list[Any]) -> aws.apigateway.Stage:
        child = pulumi.ResourceOptions(parent=self)
        flat = [r for group in everything for r in (group if isinstance(group, list) else [group])]
        trigger = definition_hash(args.specs, {
            "gatewayResponses": gateway_responses(args.cors_origin),
            "cors": args.cors_origin,
            "proxyRoutes": [[s.route_id, s.method, s.path, s.function, body_schema(s.source)] for s in args.proxy_specs],
        })
        # pulumi-aws v7: Deployment has no stage; an explicit Stage points at it (GOTCHAS A6).
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            description=f"definition {trigger[:12]}",
            triggers={"definition": trigger},
            opts=pulumi.ResourceOptions(parent=self, depends_on=flat),
        )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{args.name}/access",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.log_key_arn,
            tags=args.tags,
            opts=child,
        )
        # Execution logs go to the group API Gateway names after the API; created here so it has
        # retention and encryption from the start.
        aws.cloudwatch.LogGroup(
            f"{name}-execution-logs",
            name=pulumi.Output.concat("API-Gateway-Execution-Logs_", self.rest_api.id, "/", STAGE_NAME),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.log_key_arn,
            tags=args.tags,
            opts=child,
        )
        stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=deployment.id,
            stage_name=STAGE_NAME,
            xray_tracing_enabled=True,
            access_log_settings={"destination_arn": access_logs.arn, "format": access_log_format()},
            tags=args.tags,
            opts=child,
        )
        observability = {
            "logging_level": args.execution_log_level,
            "data_trace_enabled": False,  # never log request/response bodies (GOTCHAS A8)
            "metrics_enabled": True,
        }
        # */* is the default limit of each method, not a total for the stage (GOTCHAS A11).
        previous = aws.apigateway.MethodSettings(
            f"{name}-settings",
            rest_api=self.rest_api.id,
            stage_name=stage.stage_name,
            method_path="*/*",
            settings={**observability, "throttling_rate_limit": float(args.throttle_rate),
                      "throttling_burst_limit": args.throttle_burst},
            opts=child,
        )
        # A route override states every setting, not only its limits: whether an override inherits
        # the */* logging and metrics is not documented, so it never relies on it. One after the
        # other: each is an update of the same stage.
        for throttle in args.route_throttles:
            previous = aws.apigateway.MethodSettings(
                f"{name}-settings-{throttle.route_id}",
                rest_api=self.rest_api.id,
                stage_name=stage.stage_name,
                method_path=throttle.method_path,
                settings={**observability, "throttling_rate_limit": float(throttle.rate_limit),
                          "throttling_burst_limit": throttle.burst_limit},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[previous]),
            )
        if args.waf_acl_arn:
            aws.wafv2.WebAclAssociation(
                f"{name}-waf", resource_arn=stage.arn, web_acl_arn=args.waf_acl_arn, opts=child
            )
        return stage
