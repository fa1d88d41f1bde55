"""Cognito email through SES (issue 8 item 7; facts C1): a located error for every mistake, the
user pool's email_configuration when set, Cognito's own email when not."""

from __future__ import annotations

import pytest

from stacks.access.identity import email_configuration
from stacks.access.model import CognitoEmail
from tests.config.test_config_errors import BASE, only, problems

ARN = "arn:aws:ses:us-east-1:111122223333:identity/shop.example.org"
GOOD = {"sesIdentityArn": ARN, "fromAddress": "Shop <no-reply@shop.example.org>"}
WHERE = "ddb-blueprint:cognitoEmail"


def email_problems(scratch, value, **extra):
    return problems(scratch, {**BASE, "ddb-blueprint:cognitoEmail": value, **extra})


@pytest.mark.parametrize("value", [
    GOOD,
    {**GOOD, "replyTo": "help@shop.example.org"},
    {"sesIdentityArn": "arn:aws:ses:us-east-1:111122223333:identity/no-reply@shop.example.org",
     "fromAddress": "no-reply@shop.example.org"},
    {},  # Cognito's own email (the default)
])
def test_valid_email_settings_are_accepted(scratch, value):
    assert email_problems(scratch, value) == []


@pytest.mark.parametrize("value, fragment", [
    ({**GOOD, "sesIdentityArn": "arn:aws:ses:us-east-1:1111:identity/shop.example.org"}, "12-digit account"),
    ({**GOOD, "sesIdentityArn": "arn:aws:sns:us-east-1:111122223333:identity/shop.example.org"}, "SES identity ARN"),
    ({**GOOD, "sesIdentityArn": "shop.example.org"}, "SES identity ARN"),
    ({**GOOD, "fromAddress": "no-reply@other.example.org"}, "at the verified domain 'shop.example.org'"),
    ({**GOOD, "fromAddress": "Shop no-reply@shop.example.org"}, "`Name <address>`"),
    ({"sesIdentityArn": "arn:aws:ses:us-east-1:111122223333:identity/a@shop.example.org",
      "fromAddress": "b@shop.example.org"}, "the verified address 'a@shop.example.org'"),
    ({**GOOD, "replyTo": "help"}, "replyTo must be an email address"),
    ({"fromAddress": "no-reply@shop.example.org"}, "sesIdentityArn"),
    ({**GOOD, "from": "x"}, "from"),
])
def test_broken_email_settings_are_located_errors(scratch, value, fragment):
    [problem] = email_problems(scratch, value)
    assert problem.path.startswith(WHERE) and problem.file == "Pulumi.test.yaml", problem.render()
    assert fragment in problem.render(), problem.render()


def test_the_identity_must_be_in_the_stack_region(scratch):  # C1: typically the pool's region
    only(email_problems(scratch, {**GOOD, "sesIdentityArn": ARN.replace("us-east-1", "eu-west-1")}), WHERE,
         "the SES identity is in eu-west-1, the stack in us-east-1")


def test_the_identity_must_be_in_a_pinned_account(scratch):
    only(email_problems(scratch, GOOD, **{"aws:allowedAccountIds": ["444455556666"]}), WHERE,
         "account 111122223333", "444455556666")


def test_an_existing_user_pool_keeps_its_own_email(scratch):
    found = email_problems(scratch, GOOD, **{"ddb-blueprint:existingUserPool": {
        "userPoolId": "us-east-1_AbC123", "userPoolClientId": "abc123"}})
    only(found, WHERE, "managed elsewhere")


def test_the_user_pool_sends_through_the_identity():  # C1; field names from pulumi_aws UserPoolEmailConfigurationArgs
    email = CognitoEmail.model_validate({**GOOD, "replyTo": "help@shop.example.org"})
    assert email_configuration(email) == {
        "email_sending_account": "DEVELOPER", "source_arn": ARN, "from_email_address": "Shop <no-reply@shop.example.org>",
        "reply_to_email_address": "help@shop.example.org"}
    assert email_configuration(None) is None  # Cognito's own email (COGNITO_DEFAULT)


def test_the_plan_user_pool_sends_through_ses_and_passes_the_guardrail(scratch, tmp_path):
    from policies.guardrails import POLICIES
    from policies.guardrails.offline import evaluate_plan
    from stacks.offline.preview import preview

    scratch.write_stack("qa", {"aws:region": "us-east-1", "ddb-blueprint:cognitoEmail": GOOD})
    plan = preview(scratch.root, "qa", tmp_path).plan
    [pool] = [r for r in plan["resources"] if r["type"] == "aws:cognito/userPool:UserPool"]
    assert pool["inputs"]["emailConfiguration"] == {
        "emailSendingAccount": "DEVELOPER", "sourceArn": ARN, "fromEmailAddress": "Shop <no-reply@shop.example.org>"}
    rule = [p for p in POLICIES if p.name == "cognito-email-through-ses"]
    assert evaluate_plan(plan, {}, policies=rule).mandatory_violations == []
