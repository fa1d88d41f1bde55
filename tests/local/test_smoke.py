"""./blueprint smoke: the smoke test passes against the local runtime, fails clearly when a step
misbehaves, and removes what it created either way; its Cognito users work against moto."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
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


def test_cognito_test_users_sign_in_with_the_admin_api_and_are_removed(monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)  # a local runtime of this process points clients at its own moto
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name="us-east-1")
        pool = cognito.create_user_pool(PoolName="shop", UsernameAttributes=["email"])["UserPool"]["Id"]
        users = CognitoUsers(cognito, pool, "r1")
        users.create("smoke-r1-a")
        users.create("smoke-r1-b")
        a, b = token_claims(users.token("smoke-r1-a")), token_claims(users.token("smoke-r1-b"))
        assert a["sub"] != b["sub"] and a["token_use"] == "id"
        assert len(cognito.list_users(UserPoolId=pool)["Users"]) == 2
        assert [c["ClientName"] for c in cognito.list_user_pool_clients(UserPoolId=pool)["UserPoolClients"]] == ["smoke-r1"]
        users.delete("smoke-r1-a")
        users.delete("smoke-r1-b")
        assert cognito.list_users(UserPoolId=pool)["Users"] == []
        assert cognito.list_user_pool_clients(UserPoolId=pool)["UserPoolClients"] == []
