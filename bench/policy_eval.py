"""Micro-benchmark: evaluating one Encrypt against a realistic 20-statement key policy.

Run from the project root:

    .venv/bin/python bench/policy_eval.py [--number 20000] [--repeat 5]

It builds a key policy of 20 statements the way a careful administrator writes one (the account
delegation, key administrators, users restricted by encryption context, source IP and principal
ARN patterns, service-only use through kms:ViaService, a Deny with StringNotEquals, a Deny for
insecure transport, grants only for AWS resources...) and an Encrypt request by a role session
that only the 14th statement allows, so evaluation has to walk the whole policy, test every
Deny's conditions and both the action and principal of every Allow.

Reported (best of `repeat` runs of `number` calls each, as timeit recommends, in microseconds
per call):

- parse: parse_policy(text, kind="key") of that policy (what a cache miss costs);
- evaluate: evaluate() of a Request built once (the policy decision alone);
- request + evaluate: building the Request (its condition-key lookup) and evaluating it, which
  is what one API call pays.

The point of the figures: a decision must cost tens of microseconds, not milliseconds, next to
the ~3.5 ms an Encrypt costs end to end (bench/README.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import timeit
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from grants.policy import PrincipalInfo, Request, evaluate, parse_policy  # noqa: E402

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/payments/app-writer"
CRYPTO = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
          "kms:DescribeKey"]
ADMIN_ACTIONS = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                 "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                 "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                 "kms:CancelKeyDeletion"]


def _statement(sid, principal, action, effect="Allow", condition=None) -> dict:
    statement = {"Sid": sid, "Effect": effect, "Principal": principal, "Action": action,
                 "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    return statement


def realistic_key_policy() -> str:
    """20 statements; only "Payments writers encrypt" allows the benchmark's request."""
    user = f"arn:aws:iam::{ACCOUNT}:user/"
    statements = [
        _statement("Enable IAM User Permissions", {"AWS": ROOT}, "kms:DescribeKey"),
        _statement("Allow access for Key Administrators",
                   {"AWS": [f"{user}sec-admin", f"arn:aws:iam::{ACCOUNT}:role/KeyAdmins"]},
                   ADMIN_ACTIONS),
        _statement("Deny insecure transport", "*", "kms:*", "Deny",
                   {"Bool": {"aws:SecureTransport": "false"}}),
        _statement("Deny use outside the account", "*", "kms:*", "Deny",
                   {"StringNotEquals": {"kms:CallerAccount": ACCOUNT}}),
        _statement("Deny deletion with a short window", "*", "kms:ScheduleKeyDeletion", "Deny",
                   {"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": 30}}),
        _statement("Deny restricted stage", "*", CRYPTO, "Deny",
                   {"StringEquals": {"kms:EncryptionContext:stage": ["restricted", "frozen"]}}),
        _statement("Deny after decommissioning", "*", CRYPTO, "Deny",
                   {"DateGreaterThan": {"aws:CurrentTime": "2035-01-01T00:00:00Z"}}),
        _statement("Deny unknown networks", "*", CRYPTO, "Deny",
                   {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24",
                                                      "2001:db8::/32"]},
                    "Bool": {"aws:ViaAWSService": "false"}}),
        _statement("Allow use through S3", {"AWS": "*"}, CRYPTO, condition={
            "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com",
                             "kms:CallerAccount": ACCOUNT}}),
        _statement("Allow use through Secrets Manager", {"AWS": "*"}, CRYPTO, condition={
            "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com",
                             "kms:CallerAccount": ACCOUNT}}),
        _statement("Analytics readers decrypt", {"AWS": f"arn:aws:iam::{ACCOUNT}:role/analytics"},
                   "kms:Decrypt", condition={
                       "StringEquals": {"kms:EncryptionContext:department": "analytics"}}),
        _statement("Auditors describe", {"AWS": [f"{user}auditor-1", f"{user}auditor-2"]},
                   ["kms:Describe*", "kms:Get*", "kms:List*"]),
        _statement("Batch jobs by night", {"AWS": f"arn:aws:iam::{ACCOUNT}:role/batch"},
                   CRYPTO, condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01"}}),
        _statement("Payments writers encrypt", {"AWS": ROLE}, ["kms:Encrypt",
                                                              "kms:GenerateDataKey*"], condition={
            "StringEquals": {"kms:EncryptionContext:tenant": "${aws:PrincipalAccount}",
                             "kms:EncryptionContext:app": "payments"},
            "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant", "app",
                                                                        "request-id"]},
            "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]},
            "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/payments/*"}}),
        _statement("Payments readers decrypt",
                   {"AWS": f"arn:aws:iam::{ACCOUNT}:role/payments/app-reader"}, "kms:Decrypt",
                   condition={"StringEquals": {"kms:EncryptionContext:app": "payments"}}),
        _statement("Allow attachment of persistent resources",
                   {"AWS": [ROLE, f"arn:aws:iam::{ACCOUNT}:role/batch"]},
                   ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                   condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        _statement("Partner account decrypt", {"AWS": "444455556666"}, "kms:Decrypt",
                   condition={"StringLike": {"kms:EncryptionContext:partner": "acme-*"}}),
        _statement("Lambda by source ARN", {"Service": "lambda.amazonaws.com"}, "kms:Decrypt",
                   condition={"ArnLike": {"aws:SourceArn":
                                          f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:pay-*"}}),
        _statement("Rotation operators", {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ops"},
                   ["kms:RotateKeyOnDemand", "kms:EnableKeyRotation"], condition={
                       "NumericGreaterThanEquals": {"kms:RotationPeriodInDays": 90}}),
        _statement("Tag-based access", {"AWS": "*"}, "kms:Encrypt", condition={
            "StringEquals": {"aws:PrincipalTag/team": "payments"},
            "Null": {"aws:PrincipalTag/team": "false"}}),
    ]
    assert len(statements) == 20
    return json.dumps({"Version": "2012-10-17", "Id": "bench-20", "Statement": statements},
                      indent=2)


def encrypt_request() -> Request:
    session = PrincipalInfo(
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/app-writer/worker-7", account_id=ACCOUNT,
        type="AssumedRole", user_id="AROAPAYMENTSWRITER001:worker-7", role_arn=ROLE)
    return Request(
        principal=session, action="kms:Encrypt", resource_arn=KEY_ARN,
        resource_account_id=ACCOUNT,
        context={"aws:SourceIp": "10.20.30.40", "aws:SecureTransport": True,
                 "aws:CurrentTime": datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.UTC),
                 "aws:ViaAWSService": False},
        encryption_context={"tenant": ACCOUNT, "app": "payments", "request-id": "r-42"},
    )


def best_microseconds(statement, number: int, repeat: int) -> float:
    return min(timeit.repeat(statement, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=20000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is reported")
    options = parser.parse_args()

    text = realistic_key_policy()
    policy = parse_policy(text, kind="key")
    request = encrypt_request()
    decision = evaluate(request, key_policy=policy)
    assert decision.allowed, decision.reason
    assert decision.deciding[0].sid == "Payments writers encrypt", decision.deciding

    parse_us = best_microseconds(lambda: parse_policy(text, kind="key"),
                                 max(options.number // 20, 100), options.repeat)
    evaluate_us = best_microseconds(lambda: evaluate(request, key_policy=policy),
                                    options.number, options.repeat)
    both_us = best_microseconds(lambda: evaluate(encrypt_request(), key_policy=policy),
                                options.number, options.repeat)

    print(f"command: .venv/bin/python bench/policy_eval.py --number {options.number} "
          f"--repeat {options.repeat}")
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{len(policy.statements)} statements, {len(text.encode())} bytes, "
          f"decision: {decision.reason}")
    print(f"parse:              {parse_us:8.1f} us per policy")
    print(f"evaluate:           {evaluate_us:8.1f} us per decision")
    print(f"request + evaluate: {both_us:8.1f} us per decision")


if __name__ == "__main__":
    main()
