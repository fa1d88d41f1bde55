"""Lambda functions around the tables: packages, log groups, topics, failure queues, stream mappings.

Thin: names, packages and generated statements come from pure modules; every permission a function
has is its principal's declared grants plus what running it needs (its own log group, X-Ray, its
failure queue), generated here from the declaration."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from .model import ENV_REFERENCE, Function
from ..naming import ops_key_alias_name, tag_value
from .packaging import PackagingError, package_function
from .dependencies import with_dependencies

TYPE = "ddb-blueprint:index:Functions"
ARCHITECTURE = "arm64"


@dataclass(frozen=True, kw_only=True)
class FunctionsArgs:
    project: str
    stack: str
    region: str
    root: Path
    build_dir: Path
    functions: dict[str, Function]
    topics: dict[str, str]  # topic name -> description
    roles: dict[str, Any]  # principal -> AccessRole component
    table_names: dict[str, str]
    stream_arns: dict[str, pulumi.Output[str]]
    ops_key_arn: pulumi.Input[str]
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    runtime: str
    layer_arn: str
    log_retention_days: int
    concurrency: dict[str, int]
    tags: dict[str, str] = field(default_factory=dict)
    item_schemas: dict[str, str] = field(default_factory=dict)  # route id -> stored_item_schema_json
    # Functions attached to a VPC (the DAX readers): their subnets, security groups, extra environment.
    vpc_functions: frozenset[str] = frozenset()
    vpc_subnet_ids: list[Any] = field(default_factory=list)
    vpc_security_group_ids: list[Any] = field(default_factory=list)
    extra_environment: dict[str, dict[str, Any]] = field(default_factory=dict)


def runtime_policy(partition: str, region: str, account: str, fn: str, log_group: str, queue_arn: Optional[str],
                   ops_alias: str = "", in_vpc: bool = False) -> dict:
    """What running the function needs beyond its grants: its log group, X-Ray, its environment
    (encrypted with the ops key, decrypted through Lambda at start, facts L9), its failure queue, and
    the network interfaces of a function in a VPC."""
    sid = fn[0].upper() + fn[1:]
    statements: list[dict] = [
        {"Sid": f"{sid}WritesItsLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"arn:{partition}:logs:{region}:{account}:log-group:{log_group}:*"},
        # X-Ray's API takes no resource.
        {"Sid": f"{sid}SendsTraces", "Effect": "Allow", "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Resource": "*"},
        {"Sid": f"{sid}DecryptsItsEnvironment", "Effect": "Allow", "Action": ["kms:Decrypt"],
         "Resource": f"arn:{partition}:kms:{region}:{account}:key/*",
         "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": [ops_alias]},
                       "StringEquals": {"kms:ViaService": f"lambda.{region}.amazonaws.com"}}},
    ]
    if queue_arn:
        statements += [
            {"Sid": f"{sid}SendsFailuresToItsQueue", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": queue_arn},
            {"Sid": f"{sid}FailureQueueKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
             "Resource": f"arn:{partition}:kms:{region}:{account}:key/*",
             "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": [ops_alias]},
                           "StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}}},
        ]
    if in_vpc:
        from ..dax.policies import vpc_access_statement

        statements.append(vpc_access_statement(sid))
    return {"Version": "2012-10-17", "Statement": statements}


def route_body_schema_json(spec: Function) -> str:
    """ROUTE_BODY_SCHEMA of a route function: body field -> {type, required, bounds} (compact JSON)."""
    assert spec.route is not None
    schema = {name: field.model_dump(exclude_none=True, exclude={"description"}) for name, field in spec.route.body.items()}
    return json.dumps(schema, separators=(",", ":"), sort_keys=True)


def layer_arn(template: str, region: str, runtime: str) -> str:
    """The Powertools layer for this region and runtime ({region}, {runtime} -> python313 style)."""
    return template.replace("{region}", region).replace("{runtime}", runtime.replace(".", ""))


class Functions(pulumi.ComponentResource):
    functions: dict[str, aws.lambda_.Function]

    def __init__(self, name: str, args: FunctionsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topics = {
            topic: aws.sns.Topic(
                f"{name}-topic-{topic}", name=f"{args.project}-{args.stack}-{topic}", kms_master_key_id=args.ops_key_arn,
                tags={**args.tags, "description": tag_value(description)} if description else args.tags, opts=child)
            for topic, description in sorted(args.topics.items())
        }
        self.functions = {fn: self._create_function(name, args, fn, spec) for fn, spec in sorted(args.functions.items())}
        self.register_outputs({fn: f.arn for fn, f in self.functions.items()})

    def _environment(self, args: FunctionsArgs, spec: Function, fn: str) -> dict[str, pulumi.Input[str]]:
        variables: dict[str, pulumi.Input[str]] = {"POWERTOOLS_SERVICE_NAME": fn, "LOG_LEVEL": "INFO"}
        if spec.route is not None:
            # The route's body fields and bounds, as the API's request model has them: the handler
            # checks the body again with the same numbers, never a copy of its own.
            variables["ROUTE_BODY_SCHEMA"] = route_body_schema_json(spec)
        for key, value in spec.environment.items():
            reference = ENV_REFERENCE.match(value)
            if reference and reference.group(1) == "table":
                variables[key] = args.table_names[reference.group(2)]
            elif reference and reference.group(1) == "itemSchema":
                variables[key] = args.item_schemas[reference.group(2)]
            elif reference:
                variables[key] = self.topics[reference.group(2)].arn
            else:
                variables[key] = value
        variables.update(args.extra_environment.get(fn, {}))
        return variables

    def _create_function(self, name: str, args: FunctionsArgs, fn: str, spec: Function) -> aws.lambda_.Function:
        child = pulumi.ResourceOptions(parent=self)
        physical = f"{args.project}-{args.stack}-{fn}"
        log_group_name = f"/aws/lambda/{physical}"
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-{fn}-logs", name=log_group_name, retention_in_days=args.log_retention_days,
            kms_key_id=args.ops_key_arn, tags=args.tags, opts=child)
        queue = None
        if spec.stream is not None:
            queue = aws.sqs.Queue(
                f"{name}-{fn}-failures", name=f"{physical}-failures", kms_master_key_id=args.ops_key_arn,
                kms_data_key_reuse_period_seconds=300, message_retention_seconds=1_209_600, tags=args.tags, opts=child)
        role = args.roles[spec.principal]
        # Queue ARNs follow from their names: the policy is complete at preview time.
        queue_name = f"{physical}-failures" if queue is not None else None
        runtime = pulumi.Output.all(args.partition, args.account_id).apply(
            lambda v: runtime_policy(v[0], args.region, v[1], fn, log_group_name,
                                     f"arn:{v[0]}:sqs:{args.region}:{v[1]}:{queue_name}" if queue_name else None,
                                     ops_key_alias_name(args.project, args.stack), fn in args.vpc_functions))
        runtime_access = aws.iam.RolePolicy(
            f"{name}-{fn}-runtime", name="function-runtime", role=role.role.id,
            policy=pulumi.Output.json_dumps(runtime), opts=pulumi.ResourceOptions(parent=self))
        try:
            package = package_function(args.root / "lambdas" / spec.code, args.build_dir / "functions", args.runtime)
        except PackagingError as exc:
            # RunError ends `pulumi up` (and the offline preview) with this one message.
            raise pulumi.RunError(f"ddb-blueprint:functions.{fn}: {exc}") from None
        package = with_dependencies(package, args.root / "lambdas" / spec.code, args.build_dir / "functions",
                                    args.root / "build" / "dependencies", args.runtime, ARCHITECTURE)
        in_vpc = fn in args.vpc_functions
        function = aws.lambda_.Function(
            f"{name}-{fn}",
            name=physical,
            description=spec.description[:256],
            runtime=args.runtime,
            architectures=[ARCHITECTURE],
            handler="handler.lambda_handler",
            role=role.role.arn,
            code=pulumi.FileArchive(str(package.path)),
            source_code_hash=package.sha256_base64,
            memory_size=spec.memoryMb,
            timeout=spec.timeoutSeconds,
            reserved_concurrent_executions=args.concurrency.get(fn),
            layers=[layer_arn(args.layer_arn, args.region, args.runtime)],
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "JSON", "log_group": log_group.name},
            environment={"variables": self._environment(args, spec, fn)},
            kms_key_arn=args.ops_key_arn,  # the stack's key, not Lambda's AWS-managed one (facts L9)
            vpc_config={"subnet_ids": args.vpc_subnet_ids, "security_group_ids": args.vpc_security_group_ids} if in_vpc else None,
            tags=args.tags,
            # The role's declared-access policy must exist before the function or its stream mapping
            # uses it (a first deployment would otherwise fail to read the stream).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, runtime_access, role]),
        )
        if spec.stream is not None and queue is not None:
            s = spec.stream
            aws.lambda_.EventSourceMapping(
                f"{name}-{fn}-stream",
                event_source_arn=args.stream_arns[s.table],
                function_name=function.arn,
                starting_position=s.startingPosition,
                batch_size=s.batchSize,
                maximum_batching_window_in_seconds=s.maximumBatchingWindowSeconds,
                # Bounded retries and age, bisect, partial batch responses, failures to a queue (GOTCHAS L1, L2).
                maximum_retry_attempts=s.maximumRetryAttempts,
                maximum_record_age_in_seconds=s.maximumRecordAgeSeconds,
                bisect_batch_on_function_error=True,
                function_response_types=["ReportBatchItemFailures"],
                parallelization_factor=s.parallelizationFactor,
                filter_criteria={"filters": [{"pattern": json.dumps(p, sort_keys=True)} for p in s.filters]} if s.filters else None,
                destination_config={"on_failure": {"destination_arn": queue.arn}},
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role, runtime_access]),
            )
        return function
