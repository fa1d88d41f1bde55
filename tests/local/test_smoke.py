"""./blueprint smoke: the smoke test passes against the local runtime, fails clearly when a step
misbehaves, and removes what it created either way; its Cognito users work against moto."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
import requests
from moto import mock_aws

from stacks.__main__ import main
from stacks.local.runtime import LocalRuntime
from stacks.operations.smoke import CognitoUsers, Smoke, SmokeFailure, local_target, token_claims

REPO = Path(__file__).resolve().parents[2]


def leftovers(runtime, smoke: Smoke) -> list[str]:
    ddb = runtime.dynamodb()
    found = []
    for table, key in (("products", {"productId": {"S": smoke.product}}), ("productSales", {"productId": {"S": smoke.product}})):
        if "Item" in ddb.get_item(TableName=runtime.table_name(table), Key=key, ConsistentRead=True):
            found.append(table)
    orders = ddb.scan(TableName=runtime.table_name("orders"), ConsistentRead=True)["Items"]
    found += [f"order {o['orderId']['S']}" for o in orders]
    carts = ddb.scan(TableName=runtime.table_name("carts"), ConsistentRead=True)["Items"]
    found += [f"cart line {c['productId']['S']}" for c in carts]
    return found


def test_the_smoke_test_passes_against_the_local_runtime_and_leaves_nothing(tmp_path, reference_preview):
    lines: list[str] = []
    with LocalRuntime(REPO, "dev", tmp_path, from_plan=reference_preview("dev").plan) as runtime:
        smoke = Smoke(local_target(runtime), printer=lines.append)
        results = smoke.run()
        left = leftovers(runtime, smoke)
    assert all(r.ok for r in results), "\n".join(lines)
    titles = " | ".join(r.title for r in results)
    for promise in ("B's cart does not show A's line", "B cannot delete A's line", "invalid input", "no token, no access",
                    "A places the order", "B does not see A's order", "the orders stream counted 2 sold",
                    "the stock change was published"):
        assert promise in titles, titles
    assert left == [], left


def test_a_step_that_misbehaves_fails_naming_the_step_and_what_was_expected_and_still_cleans_up(tmp_path, reference_preview):
    lines: list[str] = []
    with LocalRuntime(REPO, "dev", tmp_path, from_plan=reference_preview("dev").plan) as runtime:
        runtime.pump.stop()  # broken on purpose: nothing reads the streams any more
        # Nothing will ever count the order: how long the step waits does not matter, only that it ends.
        smoke = Smoke(local_target(runtime, settle_seconds=0.5), printer=lines.append)
        with pytest.raises(SmokeFailure) as raised:
            smoke.run()
        left = leftovers(runtime, smoke)
    failure = raised.value
    assert failure.title == "GET /products/{}/sales: the orders stream counted 2 sold".format(smoke.product)
    assert failure.expected == "200 and the check on its body" and failure.got.startswith("404")
    assert lines[-1].startswith(f"FAIL {failure.step:2} GET /products/{smoke.product}/sales")
    assert left == [], left


def test_the_cli_exits_1_and_names_the_step_when_the_api_misbehaves(tmp_path, monkeypatch, capsys):
    # Broken on purpose: the gateway answers every request 500 (as a stage whose role cannot use the key would).
    from stacks.local import gateway

    original = gateway.LocalGateway.handle

    def failing(self, request):
        response = original(self, request)
        if request.method == "GET" and "/products/" in request.target:
            return gateway.HttpResponse(500, '{"message": "Internal server error"}')
        return response

    monkeypatch.setattr(gateway.LocalGateway, "handle", failing)
    code = main(["smoke", "dev", "--out", str(tmp_path), "--settle", "0.2"])  # the 500s never stop: no need to wait long
    captured = capsys.readouterr()
    assert code == 1
    assert "error: smoke test failed at step" in captured.err and "A reads the test product" in captured.err
    assert "expected 200 and the check on its body; got 500" in captured.err


def test_the_cli_refuses_outputs_that_are_not_a_stacks(tmp_path, capsys):
    outputs = tmp_path / "outputs.json"
    outputs.write_text('{"region": "us-east-1"}')
    assert main(["smoke", "dev", "--outputs", str(outputs), "--out", str(tmp_path)]) == 2
    assert "stack outputs lack tables, api, cognito" in capsys.readouterr().err


def test_cognito_test_users_sign_in_through_the_stacks_app_client_sign_iam_requests_and_are_removed(monkeypatch):  # C2
    import os

    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)  # a local runtime of this process points clients at its own moto
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name="us-east-1")
        identity = boto3.client("cognito-identity", region_name="us-east-1")
        pool = cognito.create_user_pool(PoolName="shop", UsernameAttributes=["email"])["UserPool"]["Id"]
        # the stack's app client: SRP sign-in only, as stacks/access/identity.py declares it
        app = cognito.create_user_pool_client(UserPoolId=pool, ClientName="app", GenerateSecret=False,
                                              ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
        app_id = app["UserPoolClient"]["ClientId"]
        identity_pool = identity.create_identity_pool(
            IdentityPoolName="shop", AllowUnauthenticatedIdentities=False,
            CognitoIdentityProviders=[{"ProviderName": f"cognito-idp.us-east-1.amazonaws.com/{pool}", "ClientId": app_id}],
        )["IdentityPoolId"]
        users = CognitoUsers(cognito, identity, pool, app_id, identity_pool, "r1")
        users.create("smoke-r1-a")
        users.create("smoke-r1-b")
        a, b = token_claims(users.token("smoke-r1-a")), token_claims(users.token("smoke-r1-b"))
        assert a["sub"] != b["sub"] and a["token_use"] == "id"
        assert a["aud"] == app_id  # the client the identity pool accepts, not one of the smoke's own
        assert [c["ClientName"] for c in cognito.list_user_pool_clients(UserPoolId=pool)["UserPoolClients"]] == ["app"]
        # an `auth: iam` request carries a SigV4 signature by the user's identity-pool credentials
        request = requests.Request("GET", "https://abc123.execute-api.us-east-1.amazonaws.com/v1/orders",
                                   params={"limit": "5"}).prepare()
        users.iam_auth("smoke-r1-a")(request)
        credential = users.credentials["smoke-r1-a"]
        assert request.headers["Authorization"].startswith(
            f"AWS4-HMAC-SHA256 Credential={credential.access_key}/") and "/us-east-1/execute-api/aws4_request" in request.headers["Authorization"]
        assert request.headers["X-Amz-Security-Token"] == credential.token and "X-Amz-Date" in request.headers
        assert users.credentials["smoke-r1-a"].access_key != "testing"  # not the process's own keys
        assert len(cognito.list_users(UserPoolId=pool)["Users"]) == 2
        users.delete("smoke-r1-a")
        users.delete("smoke-r1-b")
        assert cognito.list_users(UserPoolId=pool)["Users"] == []
        assert [c["ClientName"] for c in cognito.list_user_pool_clients(UserPoolId=pool)["UserPoolClients"]] == ["app"]


def test_a_user_pool_that_asks_for_mfa_is_a_clear_sign_in_error(monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name="us-east-1")
        pool = cognito.create_user_pool(PoolName="shop", UsernameAttributes=["email"], MfaConfiguration="ON",
                                        SmsConfiguration={"SnsCallerArn": "arn:aws:iam::123456789012:role/sms"})["UserPool"]["Id"]
        app_id = cognito.create_user_pool_client(UserPoolId=pool, ClientName="app",
                                                 ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH"])["UserPoolClient"]["ClientId"]
        users = CognitoUsers(cognito, boto3.client("cognito-identity", region_name="us-east-1"), pool, app_id,
                             "us-east-1:00000000-0000-0000-0000-000000000000", "r1")
        with pytest.raises(RuntimeError, match=rf"SRP sign-in of smoke-r1-a@example.com through app client {app_id} (failed|asked for)"):
            users.create("smoke-r1-a")


def test_credentials_the_identity_pool_refuses_fail_the_step_naming_the_user():  # C2
    from botocore.exceptions import ClientError

    from stacks.operations.smoke import Target

    class RefusedByThePool:
        def token(self, name):
            return "an-id-token"

        def iam_auth(self, name):
            raise ClientError({"Error": {"Code": "NotAuthorizedException",
                                         "Message": "Token is not from a supported provider of this identity pool."}},
                              "GetId")

    smoke = Smoke(Target(url="http://127.0.0.1:9", tables={}, client=None, users=RefusedByThePool(), events=None,
                         routes={("GET", "/orders")}), printer=lambda _: None, run_id="r1")
    with pytest.raises(SmokeFailure) as failure:
        smoke._call("A sees her order", "smoke-r1-a", "GET", "/orders", 200, iam=True)
    assert failure.value.expected == "AWS credentials for smoke-r1-a from the identity pool"
    assert "NotAuthorizedException" in failure.value.got and "supported provider" in failure.value.got


def test_signed_requests_send_the_query_as_sigv4_canonicalises_it():
    from botocore.credentials import Credentials

    from stacks.operations.smoke import SigV4, rfc3986_query

    assert rfc3986_query("https://x/v1/p?category=a+b&q=%2Fx~y&empty=") == "https://x/v1/p?category=a%20b&q=%2Fx~y&empty="
    assert rfc3986_query("https://x/v1/orders") == "https://x/v1/orders"
    request = requests.Request("GET", "https://abc.execute-api.us-east-1.amazonaws.com/v1/products",
                               params={"category": "home & garden", "limit": "5"}).prepare()
    SigV4(Credentials("AKIDEXAMPLE", "secret", "token"), "us-east-1")(request)
    assert request.url.endswith("?category=home%20%26%20garden&limit=5") and "+" not in request.url
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token" in request.headers["Authorization"]
