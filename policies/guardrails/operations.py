"""Findings a standard scanner reports on production stacks, as guardrails: log retention below the
stack's minimum, Lambda environment variables not encrypted with a customer-managed key (facts L9),
functions without reserved concurrency (facts L8), and user pools sending email through Cognito's
default account (facts C1). Each minimum or requirement comes from the stack's policy config
(policies/config/<stack>.json); the pack defaults are the production values.
"""

from __future__ import annotations

import re

from pulumi_policy import PolicyConfigSchema, ReportViolation, ResourceValidationArgs

from .base import config_value, of_type, required_switch, rule, skip_unless_required
from .props import Prop, get_prop, is_number, show

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FUNCTION = "aws:lambda/function:Function"
USER_POOL = "aws:cognito/userPool:UserPool"

AWS_MANAGED_KEY = re.compile(r"(?:^|:)alias/aws/")
SES_IDENTITY_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:ses:[a-z0-9-]+:\d{12}:identity/.+")


# --- log-retention-minimum (G2) ----------------------------------------------------------------

RETENTION_SCHEMA = PolicyConfigSchema(properties={
    "minimumDays": {
        "type": "integer", "minimum": 1, "default": 365,
        "description": "Fewest days a log group may keep its events (a CloudWatch Logs retention value).",
    },
})


@of_type(LOG_GROUP)
def _validate_retention(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    minimum = int(config_value(args, RETENTION_SCHEMA, "minimumDays"))
    retention = get_prop(args.props, "retentionInDays")
    retention.require_known()
    if retention.missing or (is_number(retention.value) and retention.value == 0):
        return  # never expires: above any minimum (log-groups-encrypted-with-retention judges that)
    if not is_number(retention.value) or retention.value < minimum:
        report_violation(
            f"retentionInDays {_number(retention)}: this stack keeps log events at least {minimum} days (policy config "
            "`minimumDays`); raise the stack setting that feeds it (ddb-blueprint:apiLogRetentionDays or "
            "ddb-blueprint:functionLogRetentionDays) to a CloudWatch Logs value of at least that (facts G2)")


def _number(prop: Prop) -> str:
    if prop.known and isinstance(prop.value, float) and prop.value.is_integer():
        return f"is {int(prop.value)}"
    return prop.describe()


# --- lambda-environment-encrypted-with-cmk (L9) ------------------------------------------------

@of_type(FUNCTION)
def _validate_environment_key(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    variables = get_prop(args.props, "environment.variables")
    if variables.blank:
        return  # nothing stored
    key = get_prop(args.props, "kmsKeyArn")  # unknown: the ARN of a key of the stack
    if key.blank:
        report_violation(
            "kmsKeyArn is not set: the function's environment variables (table names, topic ARNs, settings) are "
            "encrypted with Lambda's AWS-managed key, whose use no key policy of the stack limits; set kmsKeyArn to "
            "the stack's customer-managed key (the ops key) (facts L9)")
    elif key.known and (not isinstance(key.value, str) or AWS_MANAGED_KEY.search(key.value)):
        report_violation(
            f"kmsKeyArn is {show(key.value)}: an AWS-managed key (alias/aws/lambda) has a policy nobody can change; "
            "set kmsKeyArn to the stack's customer-managed key (the ops key) (facts L9)")


# --- lambda-reserved-concurrency (L8) ----------------------------------------------------------

CONCURRENCY_SCHEMA = required_switch(
    "Whether every function must reserve concurrency (false for dev and staging stacks).")


@of_type(FUNCTION)
def _validate_concurrency(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    skip_unless_required(args, CONCURRENCY_SCHEMA, "reserved concurrency")
    reserved = get_prop(args.props, "reservedConcurrentExecutions")
    reserved.require_known()
    fix = ("set ddb-blueprint:functionConcurrency.<function> in the stack file (at least 1, and leave the account "
           "100 unreserved executions) (facts L8)")
    if reserved.missing or (is_number(reserved.value) and reserved.value < 0):
        default = " (-1: none reserved)" if reserved.known else ""
        report_violation(
            f"reservedConcurrentExecutions {_number(reserved)}{default}: the function shares the account's pool, so "
            f"a burst elsewhere can starve it and a burst of it can starve everything else; {fix}")
    elif not is_number(reserved.value) or reserved.value < 1:
        report_violation(f"reservedConcurrentExecutions {_number(reserved)}: the function can never run; {fix}")


# --- cognito-email-through-ses (C1) ------------------------------------------------------------

EMAIL_SCHEMA = required_switch(
    "Whether user pools must send email through the stack's SES identity (false for dev and staging).")


@of_type(USER_POOL)
def _validate_email(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    skip_unless_required(args, EMAIL_SCHEMA, "SES email")
    account = get_prop(args.props, "emailConfiguration.emailSendingAccount")
    source = get_prop(args.props, "emailConfiguration.sourceArn")
    account.require_known()
    fix = "set ddb-blueprint:cognitoEmail {sesIdentityArn, fromAddress} in the stack file (README: Running it for real)"
    if account.value != "DEVELOPER":
        default = " (COGNITO_DEFAULT by default)" if account.missing else ""
        report_violation(
            f"emailConfiguration.emailSendingAccount {account.describe()}{default}: sign-up codes and password resets "
            f"go through Cognito's own email account, whose daily quota is far below production needs; {fix} "
            "(facts C1)")
        return
    source.require_known()
    if source.blank or not (isinstance(source.value, str) and SES_IDENTITY_ARN.fullmatch(source.value)):
        report_violation(
            f"emailConfiguration.sourceArn {source.describe()}: DEVELOPER sending needs the ARN of a verified SES "
            f"identity (arn:aws:ses:<region>:<account>:identity/<address or domain>); {fix} (facts C1)")


OPERATIONS_POLICIES = [
    rule("log-retention-minimum", ("Log groups keep their events at least the stack's minimum "
                                   "(policy config minimumDays; 365 unless the stack lowers it)."),
         _validate_retention, config_schema=RETENTION_SCHEMA),
    rule("lambda-environment-encrypted-with-cmk", ("Functions with environment variables encrypt them with a "
                                                   "customer-managed KMS key (kmsKeyArn), not Lambda's AWS-managed key."),
         _validate_environment_key),
    rule("lambda-reserved-concurrency", ("Functions reserve concurrency (reservedConcurrentExecutions of 1 or more) "
                                         "where the stack's policy config requires it."),
         _validate_concurrency, config_schema=CONCURRENCY_SCHEMA),
    rule("cognito-email-through-ses", ("User pools send email through an SES identity (DEVELOPER sending account) "
                                       "where the stack's policy config requires it."),
         _validate_email, config_schema=EMAIL_SCHEMA),
]
