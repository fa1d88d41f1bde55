"""`./blueprint smoke <stack>`: the tour's checks against a running stack, with data of its own.

The same steps run against a deployment (from `pulumi stack output --json`) and against the local
runtime (that is how they are tested); only the `Target` differs: where the API is, how a test
user gets a token, how published events are observed, and an AWS client factory for the test data.

What it does: writes a test product (products have no write route), signs in two fresh test users,
walks the API as both (reads, pagination by category, 404, create-only 409, invalid input 400,
cart isolation both ways, no token 401), places an order when POST /orders exists, and follows it
through the orders stream to the counter (GET /products/{id}/sales) and through the products
stream to the published ProductChanged event. It stops at the first step that misbehaves (later
steps build on earlier ones), then removes everything it created, also after a failure.

Eventual consistency: every request is retried on 5XX and on 403 until `settle_seconds` (a fresh
deployment's KMS alias authorization takes up to five minutes, fact K9); stream consequences are
awaited up to `settle_seconds` as well.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Optional, Protocol

import requests
import requests.auth


class SmokeFailure(Exception):
    def __init__(self, step: int, title: str, expected: str, got: str):
        super().__init__(f"step {step} ({title}): expected {expected}; got {got}")
        self.step, self.title, self.expected, self.got = step, title, expected, got


class Users(Protocol):
    def create(self, name: str) -> None: ...
    def token(self, name: str) -> str: ...
    def iam_auth(self, name: str) -> requests.auth.AuthBase: ...  # for `auth: iam` routes
    def delete(self, name: str) -> None: ...


class Events(Protocol):
    def start(self) -> None: ...
    def received(self) -> list[dict[str, Any]]: ...
    def stop(self) -> None: ...


@dataclass
class Target:
    url: str  # the stage's invoke URL
    tables: dict[str, str]  # logical table name -> physical name
    client: Callable[[str], Any]  # boto3-compatible client factory for the test data
    users: Users
    events: Optional[Events]
    routes: set[tuple[str, str]]  # (method, path template) the stack serves
    settle_seconds: float = 300.0


@dataclass
class Result:
    step: int
    title: str
    ok: bool
    detail: str = ""


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (the API verified it; the smoke only needs `sub`)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass
class Smoke:
    target: Target
    printer: Callable[[str], None] = print
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.trust_env = False
        self.results: list[Result] = []
        self.users = [f"smoke-{self.run_id}-a", f"smoke-{self.run_id}-b"]
        self.product = f"smoke-{self.run_id}-p1"
        self.category = f"smoke-{self.run_id}"
        self.order: Optional[tuple[str, str]] = None  # (userId, orderId) to remove
        self._created_users: list[str] = []

    # -- steps ------------------------------------------------------------------------------------

    def run(self) -> list[Result]:
        """Every step; raises SmokeFailure at the first one that misbehaves. Cleans up either way."""
        try:
            self._setup()
            self._walk()
        finally:
            self._cleanup()
        return self.results

    def _setup(self) -> None:
        self._step("write the test product (stock 5)", lambda: self._put_product())
        for name in self.users:
            self._step(f"create test user {name}", lambda n=name: self._create_user(n))
        if self.target.events is not None:
            self._step("watch the published events", self.target.events.start)

    def _walk(self) -> None:
        a, b, p = self.users[0], self.users[1], self.product
        self._call("A reads the test product", a, "GET", f"/products/{p}", 200, check=lambda r: r["stock"] == 5)
        self._call("A lists its category", a, "GET", "/products", 200, params={"category": self.category, "limit": "5"},
                   check=lambda r: [i["productId"] for i in r["items"]] == [p])
        self._call("a product that does not exist is 404", a, "GET", f"/products/{p}-missing", 404)
        self._call("A adds 2 to her cart", a, "PUT", f"/cart/items/{p}", 201, body={"quantity": 2})
        self._call("adding it again is a conflict (create-only)", a, "PUT", f"/cart/items/{p}", 409, body={"quantity": 1})
        self._call("invalid input (quantity 0) is refused", a, "PUT", f"/cart/items/{p}-other", 400, body={"quantity": 0})
        self._call("B's cart does not show A's line", b, "GET", "/cart", 200, check=lambda r: r["items"] == [])
        self._call("B cannot delete A's line", b, "DELETE", f"/cart/items/{p}", 404)
        self._call("no token, no access", None, "GET", "/cart", 401)
        self._call("A's cart has her line", a, "GET", "/cart", 200,
                   check=lambda r: [(i["productId"], i["quantity"]) for i in r["items"]] == [(p, 2)])
        if ("POST", "/orders") not in self.target.routes:
            self._call("A removes her line", a, "DELETE", f"/cart/items/{p}", 204)
            return
        placed = self._call("A places the order", a, "POST", "/orders", 201, body={},
                            check=lambda r: [(i["productId"], i["quantity"]) for i in r["items"]] == [(p, 2)])
        self.order = (token_claims(self.target.users.token(a))["sub"], placed["orderId"])
        self._call("stock went from 5 to 3", a, "GET", f"/products/{p}", 200, check=lambda r: r["stock"] == 3)
        self._call("A's cart is empty", a, "GET", "/cart", 200, check=lambda r: r["items"] == [])
        if ("GET", "/orders") in self.target.routes:  # auth: iam, with the user's identity-pool credentials
            self._call("A sees her order", a, "GET", "/orders", 200, iam=True,
                       check=lambda r: placed["orderId"] in [o["orderId"] for o in r["items"]])
            self._call("B does not see A's order", b, "GET", "/orders", 200, iam=True, check=lambda r: r["items"] == [])
        if ("GET", "/products/{productId}/sales") in self.target.routes:
            self._call("the orders stream counted 2 sold", a, "GET", f"/products/{p}/sales", 200,
                       check=lambda r: r["unitsSold"] == 2, wait=True)
        if self.target.events is not None:
            self._step("the stock change was published (products stream -> productEvents -> topic)", self._await_stock_event)

    # -- plumbing ---------------------------------------------------------------------------------

    def _step(self, title: str, action: Callable[[], Any]) -> Any:
        number = len(self.results) + 1
        try:
            value = action()
        except SmokeFailure:
            raise
        except Exception as error:  # an AWS call or a wait that failed: the step failed
            self._fail(number, title, "it to succeed", f"{type(error).__name__}: {error}")
        self._record(Result(number, title, True))
        return value

    def _call(self, title: str, user: Optional[str], method: str, path: str, expected: int, *, body: Any = None,
              params: Optional[dict] = None, check: Optional[Callable[[Any], bool]] = None, wait: bool = False,
              iam: bool = False) -> Any:
        number = len(self.results) + 1
        auth = None
        if iam and user:
            try:
                auth = self.target.users.iam_auth(user)
            except Exception as error:  # the identity pool refused the token, or an AWS call failed
                self._fail(number, f"{method} {path}: {title}", f"AWS credentials for {user} from the identity pool",
                           f"{type(error).__name__}: {error}")
        headers = {"Authorization": self.target.users.token(user)} if user and not iam else {}
        deadline = time.monotonic() + self.target.settle_seconds
        delay = 0.25
        while True:
            response = self.session.request(method, self.target.url + path, params=params, json=body, headers=headers,
                                            auth=auth, timeout=30)
            parsed = _json(response)
            transient = response.status_code >= 500 or (response.status_code == 403 and expected != 403)
            good = response.status_code == expected and (check is None or _passes(check, parsed))
            if good or time.monotonic() > deadline or not (transient or (wait and response.status_code < 500)):
                break
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        if not good:
            got = f"{response.status_code} {json.dumps(parsed)[:300]}"
            want = f"{expected}" + (" and the check on its body" if check is not None else "")
            self._fail(number, f"{method} {path}: {title}", want, got)
        self._record(Result(number, f"{method} {path}: {title}", True, str(response.status_code)))
        return parsed

    def _note(self, text: str) -> None:
        self.printer(f"skip {text}")

    def _record(self, result: Result) -> None:
        self.results.append(result)
        self.printer(f"ok   {result.step:2} {result.title}")

    def _fail(self, number: int, title: str, expected: str, got: str) -> None:
        self.results.append(Result(number, title, False, got))
        self.printer(f"FAIL {number:2} {title}: expected {expected}; got {got}")
        raise SmokeFailure(number, title, expected, got)

    def _put_product(self) -> None:
        self.target.client("dynamodb").put_item(TableName=self.target.tables["products"], Item={
            "productId": {"S": self.product}, "category": {"S": self.category}, "name": {"S": f"Smoke test {self.run_id}"},
            "price": {"N": str(Decimal("4.50"))}, "currency": {"S": "EUR"}, "stock": {"N": "5"},
            "description": {"S": "written by ./blueprint smoke; removed when it ends"}})

    def _create_user(self, name: str) -> None:
        self.target.users.create(name)
        self._created_users.append(name)

    def _await_stock_event(self) -> None:
        assert self.target.events is not None
        deadline = time.monotonic() + self.target.settle_seconds
        while time.monotonic() <= deadline:
            for event in self.target.events.received():
                if event.get("productId") == self.product and event.get("changes", {}).get("stock") == {"old": 5, "new": 3}:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"no ProductChanged with stock 5 -> 3 for {self.product} within {self.target.settle_seconds:.0f} s")

    def _cleanup(self) -> None:
        """Remove what the smoke created, whatever happened; report what could not be removed."""
        ddb = self.target.client("dynamodb")
        tasks: list[tuple[str, Callable[[], Any]]] = []
        if self._created_users:
            tasks.append(("A's cart line", lambda: self.session.delete(
                f"{self.target.url}/cart/items/{self.product}", headers={"Authorization": self.target.users.token(self.users[0])}, timeout=30)))
        if self.order is not None:
            user_id, order_id = self.order
            tasks.append(("the test order", lambda: ddb.delete_item(TableName=self.target.tables["orders"],
                                                                    Key={"userId": {"S": user_id}, "orderId": {"S": order_id}})))
        tasks.append(("the test product", lambda: ddb.delete_item(TableName=self.target.tables["products"],
                                                                  Key={"productId": {"S": self.product}})))
        if "productSales" in self.target.tables:
            tasks.append(("its sales counter", lambda: ddb.delete_item(TableName=self.target.tables["productSales"],
                                                                       Key={"productId": {"S": self.product}})))
        for name in reversed(self._created_users):
            tasks.append((f"test user {name}", lambda n=name: self.target.users.delete(n)))
        if self.target.events is not None:
            tasks.append(("the event watcher", self.target.events.stop))
        for what, task in tasks:
            try:
                task()
            except Exception as error:
                self.printer(f"warn could not remove {what}: {type(error).__name__}: {error}")


def _json(response: requests.Response) -> Any:
    try:
        return response.json() if response.text.strip() else None
    except ValueError:
        return response.text


def _passes(check: Callable[[Any], bool], body: Any) -> bool:
    try:
        return body is not None and bool(check(body))
    except (KeyError, TypeError, IndexError):
        return False


# --------------------------------------------------------------------------------------------------
# A deployed stack: Cognito test users, an SQS queue watching the topics
# --------------------------------------------------------------------------------------------------


class CognitoUsers:
    """Test users in the stack's user pool, created with the admin API (AdminCreateUser,
    AdminSetUserPassword) and signed in as the apps sign in: SRP through the stack's own app client
    (the only flow it allows). Their ID tokens call the Cognito routes; the identity pool, which
    accepts only tokens of that client (facts C2), gives each user the credentials that sign the
    `auth: iam` routes (SigV4, service execute-api)."""

    def __init__(self, cognito: Any, identity: Any, user_pool_id: str, app_client_id: str, identity_pool_id: str,
                 run_id: str):
        self.cognito, self.identity, self.run_id = cognito, identity, run_id
        self.pool, self.app_client, self.identity_pool = user_pool_id, app_client_id, identity_pool_id
        self.region = user_pool_id.split("_", 1)[0]  # a pool id is <region>_<id>
        self.tokens: dict[str, str] = {}
        self.credentials: dict[str, Any] = {}

    def create(self, name: str) -> None:
        from pycognito.aws_srp import AWSSRP

        email = f"{name}@example.com"
        password = secrets.token_urlsafe(18) + "aA1!"
        self.cognito.admin_create_user(UserPoolId=self.pool, Username=email, MessageAction="SUPPRESS",
                                       UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])
        self.cognito.admin_set_user_password(UserPoolId=self.pool, Username=email, Password=password, Permanent=True)
        try:
            answer = AWSSRP(username=email, password=password, pool_id=self.pool, client_id=self.app_client,
                            client=self.cognito).authenticate_user()
        except Exception as error:  # pycognito raises one exception class per challenge it cannot answer
            raise RuntimeError(f"SRP sign-in of {email} through app client {self.app_client} failed: "
                               f"{type(error).__name__}: {error} (MFA required on the pool?)") from None
        if "AuthenticationResult" not in answer:
            raise RuntimeError(f"SRP sign-in of {email} through app client {self.app_client} asked for "
                               f"{answer.get('ChallengeName')} (MFA required on the pool?)")
        self.tokens[name] = answer["AuthenticationResult"]["IdToken"]

    def token(self, name: str) -> str:
        return self.tokens[name]

    def iam_auth(self, name: str) -> requests.auth.AuthBase:
        if name not in self.credentials:
            self.credentials[name] = identity_pool_credentials(self.identity, self.identity_pool, self.pool, self.region,
                                                               self.tokens[name])
        return SigV4(self.credentials[name], self.region)

    def delete(self, name: str) -> None:
        self.cognito.admin_delete_user(UserPoolId=self.pool, Username=f"{name}@example.com")
        self.tokens.pop(name, None)
        self.credentials.pop(name, None)


def identity_pool_credentials(identity: Any, identity_pool_id: str, user_pool_id: str, region: str, id_token: str) -> Any:
    """The temporary credentials the identity pool gives the holder of `id_token` (GetId, then
    GetCredentialsForIdentity, as the AWS SDKs' Cognito credential providers do)."""
    from botocore.credentials import Credentials

    logins = {f"cognito-idp.{region}.amazonaws.com/{user_pool_id}": id_token}
    identity_id = identity.get_id(IdentityPoolId=identity_pool_id, Logins=logins)["IdentityId"]
    issued = identity.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)["Credentials"]
    return Credentials(issued["AccessKeyId"], issued["SecretKey"], issued["SessionToken"])


def rfc3986_query(url: str) -> str:
    """`url` with its query re-encoded as SigV4 canonicalises it (`%20`, never `+`)."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.query:
        return url
    query = urlencode(parse_qsl(parts.query, keep_blank_values=True), quote_via=quote, safe="-_.~")
    return urlunsplit(parts._replace(query=query))


class SigV4(requests.auth.AuthBase):
    """Signs a request for API Gateway (service execute-api) with botocore's own SigV4 signer."""

    def __init__(self, credentials: Any, region: str):
        self.credentials, self.region = credentials, region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        # requests writes a space in the query as `+`; SigV4's canonical query (and API Gateway's
        # check of it) percent-encodes everything but the unreserved characters: send what is signed.
        request.url = rfc3986_query(request.url)
        signed = AWSRequest(method=request.method, url=request.url, data=request.body or b"",
                            headers={k: v for k, v in request.headers.items() if k.lower() in ("content-type", "host")})
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


class QueueEvents:
    """A temporary SQS queue subscribed (raw delivery) to the stack's topics."""

    def __init__(self, sqs: Any, sns: Any, topic_arns: list[str], run_id: str):
        self.sqs, self.sns, self.topics, self.run_id = sqs, sns, topic_arns, run_id
        self.queue_url: Optional[str] = None
        self.subscriptions: list[str] = []
        self.seen: list[dict[str, Any]] = []

    def start(self) -> None:
        self.queue_url = self.sqs.create_queue(QueueName=f"smoke-{self.run_id}-events")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {"Version": "2012-10-17", "Statement": [{
            "Sid": "TopicsOfTheStackOnly", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": self.topics}}}]}
        self.sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
        for topic in self.topics:
            self.subscriptions.append(self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                                                         Attributes={"RawMessageDelivery": "true"},
                                                         ReturnSubscriptionArn=True)["SubscriptionArn"])

    def received(self) -> list[dict[str, Any]]:
        assert self.queue_url is not None
        batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in batch.get("Messages", []):
            self.seen.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return self.seen

    def stop(self) -> None:
        for subscription in self.subscriptions:
            self.sns.unsubscribe(SubscriptionArn=subscription)
        if self.queue_url is not None:
            self.sqs.delete_queue(QueueUrl=self.queue_url)


def deployed_target(outputs: dict[str, Any], routes: set[tuple[str, str]], run_id: str, settle_seconds: float = 300.0,
                    session: Any = None) -> Target:
    """A Target from `pulumi stack output --json`. Missing outputs raise KeyError naming them."""
    import boto3

    missing = [k for k in ("region", "tables", "api", "cognito") if k not in outputs]
    if missing:
        raise KeyError(f"stack outputs lack {', '.join(missing)} (is this `pulumi stack output --json` of a ddb-blueprint stack with an API?)")
    session = session or boto3.Session(region_name=outputs["region"])
    topics = sorted(outputs.get("topics", {}).values())
    return Target(
        url=outputs["api"]["url"].rstrip("/"),
        tables={name: table["name"] for name, table in outputs["tables"].items()},
        client=session.client,
        users=CognitoUsers(session.client("cognito-idp"), session.client("cognito-identity"), outputs["cognito"]["userPoolId"],
                           outputs["cognito"]["userPoolClientId"], outputs["cognito"]["identityPoolId"], run_id),
        events=QueueEvents(session.client("sqs"), session.client("sns"), topics, run_id) if topics else None,
        routes=routes, settle_seconds=settle_seconds,
    )


# --------------------------------------------------------------------------------------------------
# The local runtime
# --------------------------------------------------------------------------------------------------


class LocalUsers:
    """The local runtime's users: each name is its own identity (stacks/local/tokens.py)."""

    def __init__(self, runtime: Any):
        self.runtime = runtime

    def create(self, name: str) -> None:
        self.runtime.token(name)

    def token(self, name: str) -> str:
        return self.runtime.token(name)

    def iam_auth(self, name: str) -> requests.auth.AuthBase:
        """The local gateway takes the user's token for `auth: iam` routes too (it stands in for the
        identity pool's credentials: stacks/local/gateway.py)."""
        return TokenAuth(self.runtime.token(name))

    def delete(self, name: str) -> None:
        """Nothing to delete: a local identity is only a signed token."""


class TokenAuth(requests.auth.AuthBase):
    def __init__(self, token: str):
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.token
        return request


class LocalEvents:
    def __init__(self, runtime: Any):
        self.runtime, self.seen = runtime, []

    def start(self) -> None:
        for topic in self.runtime.observers:
            self.runtime.published(topic)  # drain what came before the smoke

    def received(self) -> list[dict[str, Any]]:
        for topic in sorted(self.runtime.observers):
            self.seen.extend(self.runtime.published(topic))
        return self.seen

    def stop(self) -> None:
        """The observer queues belong to the runtime."""


def local_target(runtime: Any, settle_seconds: float = 20.0) -> Target:
    assert runtime.local is not None and runtime.gateway is not None
    return Target(
        url=runtime.url, tables={name: runtime.table_name(name) for name in runtime.local.tables},
        client=runtime._aws.client, users=LocalUsers(runtime),
        events=LocalEvents(runtime) if runtime.observers else None,
        routes={(r.method, r.path) for r in runtime.gateway.api.routes},
        settle_seconds=settle_seconds,
    )
