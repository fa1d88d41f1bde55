"""The local runtime: moto as the AWS endpoint, the stack's keys and tables created from the plan,
and the plan's API served on localhost by the local gateway."""

from __future__ import annotations

import copy
import json
import os
import threading
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping, Optional

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ..offline.mockrun import PLACEHOLDER_ACCOUNT
from ..offline.preview import preview
from .api_plan import MARKER, load_api
from .aws import SERVER_POLL_SECONDS, LocalAws, LocalStack, bootstrap, plan_region
from .gateway import HttpRequest, LocalGateway
from .replication import replicator_for_plan
from .tokens import LocalIssuer

CREDENTIALS = Credentials("local", "local")


class LocalRuntimeError(Exception):
    pass


def dynamodb_caller(endpoint: str, region: str):
    """(action, JSON body) -> (status, body): DynamoDB's JSON protocol, signed, to the local endpoint."""
    session = requests.Session()
    session.trust_env = False  # never a proxy: localhost only

    def call(action: str, body: str) -> tuple[int, str]:
        request = AWSRequest(
            method="POST",
            url=endpoint + "/",
            data=body.encode("utf-8"),
            headers={"X-Amz-Target": f"DynamoDB_20120810.{action}", "Content-Type": "application/x-amz-json-1.0"},
        )
        SigV4Auth(CREDENTIALS, "dynamodb", region).add_auth(request)
        response = session.post(endpoint + "/", data=request.body, headers=dict(request.headers), timeout=30)
        return response.status_code, response.text

    return call


class _SerializedDynamoDB:
    """moto handles concurrent TransactWriteItems without isolation (a cancelled transaction can
    restore a snapshot over another's committed write); DynamoDB serializes them. The local
    runtime makes moto take one DynamoDB request at a time, which is what DynamoDB guarantees for
    what the functions rely on."""

    def __init__(self) -> None:
        self._original: Any = None

    def __enter__(self) -> "_SerializedDynamoDB":
        from moto.dynamodb.responses import DynamoHandler
        from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

        lock = threading.Lock()
        # Stream reads take the same lock: moto appends a cancelled transaction's records to the
        # stream and then rolls the table (and its stream) back, so a reader in between would see
        # records that never happened and skip the sequence numbers reused afterwards.
        self._originals = {}
        for handler_class in (DynamoHandler, DynamoDBStreamsHandler):
            original = self._originals[handler_class] = handler_class.call_action

            def call_action(handler: Any, original: Any = original) -> Any:
                with lock:
                    return original(handler)

            handler_class.call_action = call_action  # type: ignore[method-assign]
        self._original = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._original is not None:
            for handler_class, original in self._originals.items():
                handler_class.call_action = original  # type: ignore[method-assign]
            self._original = None


MAX_HEADER_VALUES = 10_240  # "Total combined size of all header values", bytes (GOTCHAS A16)
STATUS_MESSAGES = {400: "Bad Request", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
                   431: "Request Header Fields Too Large"}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _Handler(BaseHTTPRequestHandler):
    """HTTP on top of the gateway. Every answer is JSON, whatever arrives: any method name (http.server
    answers unknown ones with an HTML 501 by default), malformed request lines, oversized URLs, headers
    or bodies; the server keeps serving the next request."""

    gateway: LocalGateway  # set on the subclass made per server
    timeout = 30  # seconds a client may stall mid-request before its connection is closed

    def __getattr__(self, name: str) -> Any:
        # Any method token reaches the gateway (HEAD, TRACE, FOO...), which answers as API Gateway.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        try:
            self._check_size()
            body = self._read_body()
        except _BadRequest as problem:
            self.close_connection = True  # what is left of the request cannot be trusted as the next one
            self._send(problem.status, json.dumps({"message": problem.message}), {"Content-Type": "application/json"})
            return
        except TimeoutError:
            self.close_connection = True
            return
        response = self.gateway.handle(HttpRequest(self.command, self.path, dict(self.headers.items()), body))
        self._send(response.status, response.body, response.headers)

    def _check_size(self) -> None:
        # http.server decodes header bytes as latin-1: one character per byte.
        if sum(len(value) for value in self.headers.values()) > MAX_HEADER_VALUES:
            raise _BadRequest(431, STATUS_MESSAGES[431])

    def _read_body(self) -> str:
        from .gateway import MAX_BODY_BYTES

        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if encoding == "chunked":
            data = self._read_chunked(MAX_BODY_BYTES)
        elif encoding and encoding != "identity":
            raise _BadRequest(400, f"unsupported Transfer-Encoding {encoding!r}")
        else:
            raw = self.headers.get("Content-Length")
            if raw is None or raw.strip() == "":
                return ""
            if not raw.strip().isdigit():
                raise _BadRequest(400, "Content-Length is not a number of bytes")
            length = int(raw)
            if length > MAX_BODY_BYTES:
                raise _BadRequest(413, STATUS_MESSAGES[413])
            data = self.rfile.read(length)
            if len(data) < length:
                raise _BadRequest(400, "the body is shorter than its Content-Length")
        # Bytes that are not UTF-8 stay visible (as lone surrogates) so the gateway refuses the body
        # instead of storing U+FFFD in their place.
        return data.decode("utf-8", errors="surrogateescape")

    def _read_chunked(self, limit: int) -> bytes:
        data = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequest(400, "malformed chunked body") from None
            if size < 0 or len(data) + size > limit:
                raise _BadRequest(413, STATUS_MESSAGES[413])
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(data)
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3).strip():
                raise _BadRequest(400, "malformed chunked body")
            data += chunk

    def _send(self, status: int, body: str, headers: Mapping[str, str]) -> None:
        payload = body.encode("utf-8", errors="replace")
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left; nothing to answer

    def parse_request(self) -> bool:
        # RFC 9112 2.2: a server should ignore at least one empty line before the request line;
        # http.server would close the connection without an answer.
        for _ in range(8):
            if self.raw_requestline not in (b"\r\n", b"\n"):
                break
            self.raw_requestline = self.rfile.readline(65537)
        if self.raw_requestline in (b"\r\n", b"\n", b""):
            self.command, self.request_version = "", "HTTP/1.0"
            self.send_error(400)
            return False
        return super().parse_request()

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """http.server's own refusals (malformed request line, URL over 64 KiB, header lines over
        64 KiB or more than 100 headers), in JSON instead of its HTML page."""
        status = {501: 400, 505: 400}.get(code, code)  # no method is "unimplemented": malformed or unknown
        self.close_connection = True
        if not hasattr(self, "command") or self.command is None:
            self.command = ""
        if getattr(self, "request_version", None) in (None, "", "HTTP/0.9"):
            self.request_version = "HTTP/1.0"  # http.server writes no status line or headers for 0.9
        text = STATUS_MESSAGES.get(status) or message or "Bad Request"
        self._send(status, json.dumps({"message": text}), {"Content-Type": "application/json"})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet: the tour prints its own lines)
        pass


@dataclass
class LocalRuntime:
    """Start with `with LocalRuntime(root, stack) as runtime:`; `runtime.url` is the API base URL."""

    root: Path
    stack: str
    build_dir: Optional[Path] = None
    port: int = 0
    # Global tables: seconds before a write is replicated to the other regions (EVENTUAL only).
    replication_lag: float = float(os.environ.get("LOCAL_REPLICATION_LAG_SECONDS", "0.2"))
    # The stack's plan when it was already previewed (tests share one per process); by default
    # start() previews the stack itself. The runtime works on its own copy.
    from_plan: Optional[Mapping[str, Any]] = None

    def __post_init__(self) -> None:
        self.build_dir = self.build_dir or self.root / "build"
        self._aws: Optional[LocalAws] = None
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.plan: dict[str, Any] = {}
        self.local: Optional[LocalStack] = None
        self.issuer: Optional[LocalIssuer] = None
        self.gateway: Optional[LocalGateway] = None
        self.functions: dict[str, Any] = {}
        self.topics: dict[str, str] = {}  # plan URN -> local topic ARN
        self.queues: dict[str, str] = {}  # plan URN -> local queue URL
        self.pump: Optional[Any] = None
        self.replicator: Optional[Any] = None
        self.observers: dict[str, str] = {}  # topic name -> local observer queue URL
        self.dax: dict[str, Any] = {}  # DAX cluster name -> its local stand-in (stacks/local/dax.py)
        self._clients: dict[tuple[str, str], Any] = {}  # (service, region) -> the runtime's own client

    def __enter__(self) -> "LocalRuntime":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        assert self.build_dir is not None
        if self.from_plan is None:
            self.plan = preview(self.root, self.stack, self.build_dir).plan
        else:
            if self.from_plan.get("stack") not in (None, self.stack):
                raise LocalRuntimeError(f"the plan given is stack {self.from_plan.get('stack')!r}'s, not {self.stack!r}'s")
            self.plan = copy.deepcopy(dict(self.from_plan))
        api = load_api(self.plan)
        if api is None:
            raise LocalRuntimeError(f"stack {self.stack!r} declares no API routes (ddb-blueprint:api)")
        region = plan_region(self.plan) or "us-east-1"
        self._serialized = _SerializedDynamoDB().__enter__()
        self._aws = LocalAws(region).start()
        self.local = bootstrap(self.plan, self._aws)
        # Replicas are tables of their own locally (moto has no global tables, P5): keep them in step.
        self.replicator = replicator_for_plan(self._aws, self.plan, self.replication_lag)
        if self.replicator is not None:
            self.replicator.start()
        self.issuer = LocalIssuer.for_stack(self.build_dir, self.stack)
        self._start_functions(region)
        tables = {t.name: t for t in self.local.tables.values()}
        partition_keys = {r["inputs"]["name"]: r["inputs"]["hashKey"] for r in self.plan["resources"]
                          if r["type"] == "aws:dynamodb/table:Table"}
        self.gateway = LocalGateway(
            api, self.issuer, dynamodb_caller(self._aws.endpoint_url, region), region=region,
            account=PLACEHOLDER_ACCOUNT, table_arns={n: t.arn for n, t in tables.items()}, partition_keys=partition_keys,
            invoke=lambda urn, event: self.functions[urn].invoke(event),
        )
        handler = type("Handler", (_Handler,), {"gateway": self.gateway})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": SERVER_POLL_SECONDS},
                                        name="local-gateway", daemon=True)
        self._thread.start()

    def _start_functions(self, region: str) -> None:
        """Topics and queues in moto, the deployed packages loaded in-process, the stream pump."""
        from .functions import StreamMapping, StreamPump, load_functions

        assert self._aws is not None and self.local is not None
        resources = self.plan["resources"]
        sns, sqs = self._aws.client("sns"), self._aws.client("sqs")
        # DAX's notification topics carry cluster events, which the stand-in does not produce.
        dax_topics = {u for r in resources if r["type"] == "aws:dax/cluster:Cluster"
                      for u in (r.get("propertyDependencies") or {}).get("notificationTopicArn", [])}
        for r in resources:
            if r["type"] == "aws:sns/topic:Topic" and r["urn"] in dax_topics:
                continue
            if r["type"] == "aws:sns/topic:Topic":
                topic = self.topics[r["urn"]] = sns.create_topic(Name=r["inputs"]["name"])["TopicArn"]
                if "ddb-blueprint:index:Operations$" in r["urn"]:
                    continue  # the alarm topic: nothing publishes to it locally (no CloudWatch alarms here)
                # Local only: a queue subscribed to each topic, standing in for the other services.
                observer = sqs.create_queue(QueueName=f"local-observer-{r['inputs']['name']}")["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=observer, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
                self.observers[r["inputs"]["name"]] = observer
            elif r["type"] == "aws:sqs/queue:Queue":
                self.queues[r["urn"]] = sqs.create_queue(QueueName=r["inputs"]["name"])["QueueUrl"]
        if not any(r["type"] == "aws:lambda/function:Function" for r in resources):
            return
        # The handlers' boto3 clients talk to moto: the process's AWS endpoint is the local one.
        env = {**self._aws.env(), "POWERTOOLS_TRACE_DISABLED": "true", "AWS_XRAY_SDK_ENABLED": "false"}
        os.environ.update(env)

        from .dax import LOCAL_SCHEME, LocalDaxCache, install_hook, plan_clusters

        clusters = plan_clusters(self.plan)
        self.dax = {name: LocalDaxCache(self._aws.client("dynamodb"), c["item_ttl_ms"], c["query_ttl_ms"])
                    for name, c in clusters.items()}
        install_hook(self.dax)

        def resolve(resource: dict, variable: str, value: Any) -> str:
            if value != MARKER:
                return str(value)
            names = [n for n, c in clusters.items() if c["urn"] in resource["propertyDependencies"].get("environment", [])]
            if len(names) == 1:
                return LOCAL_SCHEME + names[0]  # the reader's DAX_ENDPOINT: the local stand-in
            topics = [self.topics[u] for u in resource["propertyDependencies"].get("environment", []) if u in self.topics]
            if len(topics) != 1:
                raise LocalRuntimeError(f"{resource['name']}: cannot tell the local value of {variable}")
            return topics[0]

        # Function logs would drown the runtime's own output; warnings and errors still show.
        self.functions = load_functions(self.plan, resolve, env, {"LOG_LEVEL": os.environ.get("LOCAL_FUNCTION_LOG_LEVEL", "WARNING")})
        by_urn = {r["urn"]: r for r in resources}
        mappings = []
        for r in resources:
            if r["type"] != "aws:lambda/eventSourceMapping:EventSourceMapping":
                continue
            deps, inputs = r["propertyDependencies"], r["inputs"]
            table = by_urn[deps["eventSourceArn"][0]]["name"]
            queue_urn = deps["destinationConfig"][0]
            mappings.append(StreamMapping(
                function=self.functions[deps["functionName"][0]],
                stream_arn=self.local.table(table).stream_arn or "",
                batch_size=int(inputs.get("batchSize", 100)),
                max_retries=int(inputs.get("maximumRetryAttempts", 0)),
                filters=[json.loads(f["pattern"]) for f in (inputs.get("filterCriteria") or {}).get("filters", [])],
                failure_queue_url=self.queues[queue_urn],
            ))
        self.pump = StreamPump(mappings, self._aws.client("dynamodbstreams"), sqs)
        self.pump.start()

    def published(self, topic_name: str) -> list[dict]:
        """Messages the local observer queue of a topic has received (drained)."""
        sqs = self._client("sqs")
        messages = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.observers[topic_name], MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not batch.get("Messages"):
                return messages
            for message in batch["Messages"]:
                messages.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.observers[topic_name], ReceiptHandle=message["ReceiptHandle"])

    @property
    def url(self) -> str:
        assert self._server is not None and self.gateway is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{self.gateway.api.stage}"

    def token(self, username: str) -> str:
        assert self.issuer is not None
        return self.issuer.mint(username)

    def dynamodb(self, region: Optional[str] = None) -> Any:
        """A DynamoDB client of the local server, in the stack's region or in a replica region."""
        return self._client("dynamodb", region)

    def _client(self, service: str, region: Optional[str] = None) -> Any:
        """One client per service and region for the runtime's lifetime (boto3 clients are thread-safe;
        making one per call cost more than most calls)."""
        assert self._aws is not None
        key = (service, region or self._aws.region)
        client = self._clients.get(key)
        if client is None:
            client = self._clients.setdefault(key, self._aws.client(service, key[1]))
        return client

    def regions(self, logical: str) -> list[str]:
        """The regions holding a copy of a table, home first."""
        assert self.local is not None
        return list(self.local.copies(logical))

    def quiesce(self) -> None:
        """Let replication and the stream consumers finish: every copy current, every record handled."""
        for _ in range(3):  # consumers write (counters), which replicates, which the consumers may see
            if self.replicator is not None:
                self.replicator.quiesce()
            if self.pump is not None:
                while self.pump.pump_once():
                    pass

    def table_name(self, logical: str) -> str:
        assert self.local is not None
        return self.local.table(logical).name

    def stop(self) -> None:
        if self.pump is not None:
            self.pump.stop()
            self.pump = None
        if self.replicator is not None:
            self.replicator.stop()
            self.replicator = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._clients.clear()
        if self._aws is not None:
            self._aws.stop()  # closes the clients it made
            self._aws = None
        if getattr(self, "_serialized", None) is not None:
            self._serialized.__exit__(None, None, None)
            self._serialized = None


SAMPLE_CATEGORIES = {"books": 25, "games": 3}


def seed_catalogue(runtime: LocalRuntime) -> int:
    """Local sample data: a catalogue to browse (products have no write route; they are managed
    by the catalogue team's own tools)."""
    client = runtime.dynamodb()
    table = runtime.table_name("products")
    count = 0
    for category, n in SAMPLE_CATEGORIES.items():
        for i in range(1, n + 1):
            item = {
                "productId": {"S": f"{category[0]}-{i:03d}"},
                "category": {"S": category},
                "name": {"S": f"{category.title()} volume {i:03d}"},
                "price": {"N": str(Decimal("9.90") + i)},
                "currency": {"S": "EUR"},
                "stock": {"N": "5"},
                "description": {"S": f"Sample {category} item {i} (local data)"},
            }
            client.put_item(TableName=table, Item=item)
            count += 1
    return count


def curl_example(runtime: LocalRuntime) -> str:
    token = runtime.token("alice")
    return f"curl -s -H 'Authorization: {token}' '{runtime.url}/products?category=books&limit=5'"


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
