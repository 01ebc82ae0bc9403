"""grants.policy.evaluate: (policies, request) -> decision, as AWS KMS decides (kms-spec.md 5.3).

One table of cases. Each names the behaviour it shows and asserts the decision and, where it
means something, its explanation: AWS's denial wording, the Sid that decided, the condition
that stopped an Allow, the grant that allowed.

The world: account 111122223333 owns the key; alice and bob are its users; `app` is its role,
used through the session app/s1; carol is a user of account 444455556666.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field

import pytest

from grants.policy import (
    GrantInfo,
    NamedPolicy,
    PrincipalInfo,
    Request,
    evaluate,
    parse_policy,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/ffffffff-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/team/app"
SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1"

ALICE = PrincipalInfo(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", account_id=ACCOUNT,
                      type="IAMUser", user_id="AIDAALICEEXAMPLE00001", username="alice")
BOB = PrincipalInfo(arn=f"arn:aws:iam::{ACCOUNT}:user/bob", account_id=ACCOUNT,
                    type="IAMUser", user_id="AIDABOBEXAMPLE0000001", username="bob")
SESSION = PrincipalInfo(arn=SESSION_ARN, account_id=ACCOUNT, type="AssumedRole",
                        user_id="AROAAPPEXAMPLE0000001:s1", role_arn=ROLE_ARN)
OTHER_SESSION = PrincipalInfo(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/s1",
                              account_id=ACCOUNT, type="AssumedRole",
                              user_id="AROAOPSEXAMPLE0000001:s1",
                              role_arn=f"arn:aws:iam::{ACCOUNT}:role/ops")
ACCOUNT_ROOT_USER = PrincipalInfo(arn=ROOT, account_id=ACCOUNT, type="Root")
CAROL = PrincipalInfo(arn=f"arn:aws:iam::{OTHER}:user/carol", account_id=OTHER,
                      type="IAMUser", user_id="AIDACAROLEXAMPLE00001", username="carol")
KMS_SERVICE = PrincipalInfo(arn="", account_id=ACCOUNT, type="AWSService",
                            service="kms.amazonaws.com")

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)
ABSENT = object()  # a condition key the request does not carry

NO_RESOURCE = "no resource-based policy allows the {action} action"
NO_IDENTITY = "no identity-based policy allows the {action} action"
DENY_RESOURCE = "explicit deny in a resource-based policy"
DENY_IDENTITY = "explicit deny in an identity-based policy"


# --- building blocks ------------------------------------------------------------------------

def allow(principal="*", action="kms:*", sid=None, **members) -> dict:
    """A key policy Allow statement."""
    statement = {"Effect": "Allow", "Principal": _principal(principal), "Action": action,
                 "Resource": "*", **members}
    return {"Sid": sid, **statement} if sid else statement


def deny(principal="*", action="kms:*", sid=None, **members) -> dict:
    statement = allow(principal, action, sid, **members)
    statement["Effect"] = "Deny"
    return statement


def _principal(principal):
    if principal == "*" or isinstance(principal, dict):
        return principal
    return {"AWS": principal}


def iam(effect="Allow", action="kms:*", resource="*", sid=None, **members) -> dict:
    """An identity policy statement."""
    statement = {"Effect": effect, "Action": action, "Resource": resource, **members}
    return {"Sid": sid, **statement} if sid else statement


DELEGATE = allow(ROOT, sid="Enable IAM User Permissions")


@dataclass(frozen=True)
class Case:
    name: str
    allowed: bool
    key: list | None = field(default_factory=lambda: [DELEGATE])   # None: IAM-only action
    identity: list = ()            # identity policies, each a list of statements
    grants: tuple = ()
    who: PrincipalInfo = ALICE
    action: str = "kms:Encrypt"
    resource: str | None = KEY_ARN
    resource_account: str | None = ACCOUNT
    context: dict = field(default_factory=dict)
    ec: dict | None = None
    denial: str | None = None      # expected denial_kind ({action} filled in)
    sids: tuple = ()               # expected Sids (or grant names) of the deciding refs
    failed: str | None = None      # a fragment expected in failed_conditions
    grant: str | None = None       # expected grant_id
    version: str = "2012-10-17"


def conditional(name, holds, operator, key, value, request=ABSENT, *, ec=None, who=ALICE,
                failed=None, version="2012-10-17") -> Case:
    """A key policy whose only Allow for the caller carries one condition."""
    context = {} if request is ABSENT else {key: request}
    return Case(
        name=name, allowed=holds, who=who, ec=ec, context=context, version=version,
        key=[allow(who.role_arn or who.arn, sid="Conditional",
                   Condition={operator: {key: value}})],
        denial=None if holds else NO_RESOURCE,
        sids=("Conditional",) if holds else (),
        failed=None if holds else (failed or operator),
    )


def with_ec(name, holds, operator, key, value, ec, **kwargs) -> Case:
    return conditional(name, holds, operator, key, value, ec=ec, **kwargs)


def grant(grant_id="g1", grantee=ALICE.arn, operations=("Encrypt",), equals=None, subset=None,
          name=None) -> GrantInfo:
    return GrantInfo(grant_id=grant_id, grantee_principal=grantee,
                     operations=frozenset(operations), encryption_context_equals=equals,
                     encryption_context_subset=subset, name=name)


ONLY_BOB = [allow(BOB.arn, sid="Bob only")]
EPOCH_NOW = int(NOW.timestamp())

CASES = [
    # --- the key policy alone, and delegation to the account -------------------------------
    Case("default policy and an identity policy allow through delegation", True,
         identity=[[iam(sid="UseKeys")]], sids=("Enable IAM User Permissions", "UseKeys")),
    Case("default policy without an identity policy denies, naming IAM", False,
         denial=NO_IDENTITY),
    Case("key policy naming the user allows without any identity policy", True,
         key=[allow(ALICE.arn, sid="Alice")], sids=("Alice",)),
    Case("key policy naming someone else denies, naming the key policy", False,
         key=ONLY_BOB, denial=NO_RESOURCE),
    Case("principal star allows everyone of the account", True, key=[allow("*", sid="All")],
         sids=("All",)),
    Case("principal AWS star allows everyone of the account", True,
         key=[allow({"AWS": "*"}, sid="All")], sids=("All",)),
    Case("account id written bare means the account root", True,
         key=[allow(ACCOUNT, sid="Bare")], identity=[[iam(sid="Use")]], sids=("Bare", "Use")),
    Case("unique id in a principal matches the user", True,
         key=[allow("AIDAALICEEXAMPLE00001", sid="ById")], sids=("ById",)),
    Case("an identity policy alone does not open a key that does not delegate", False,
         key=ONLY_BOB, identity=[[iam()]], denial=NO_RESOURCE),
    Case("delegation covers only the actions the key policy lists", False,
         key=[allow(ROOT, "kms:Describe*")], identity=[[iam()]], denial=NO_RESOURCE),
    Case("delegation for listed actions allows them", True, action="kms:DescribeKey",
         key=[allow(ROOT, "kms:Describe*", sid="Meta")], identity=[[iam(sid="All")]],
         sids=("Meta", "All")),
    Case("an identity policy for another action does not allow this one", False,
         identity=[[iam(action="kms:Decrypt")]], denial=NO_IDENTITY),
    Case("one of several identity policies allowing is enough", True,
         identity=[[iam(action="kms:Decrypt")], [iam(action="kms:Encrypt", sid="Enc")]],
         sids=("Enable IAM User Permissions", "Enc")),
    Case("a key policy statement without Resource has no effect", False,
         key=[{"Sid": "NoResource", "Effect": "Allow", "Principal": {"AWS": ALICE.arn},
               "Action": "kms:*"}], denial=NO_RESOURCE),
    Case("a key policy statement without Action has no effect", False,
         key=[{"Sid": "NoAction", "Effect": "Allow", "Principal": {"AWS": ALICE.arn},
               "Resource": "*"}], denial=NO_RESOURCE),
    Case("key policy Resource naming this key's ARN allows", True,
         key=[allow(ALICE.arn, Resource=KEY_ARN, sid="ThisKey")], sids=("ThisKey",)),
    Case("key policy Resource naming another key does not apply", False,
         key=[allow(ALICE.arn, Resource=OTHER_KEY_ARN)], denial=NO_RESOURCE),

    # --- explicit deny ----------------------------------------------------------------------
    Case("explicit deny in the key policy beats a direct allow", False,
         key=[allow(ALICE.arn), deny(ALICE.arn, "kms:Encrypt", sid="NoEncrypt")],
         denial=DENY_RESOURCE, sids=("NoEncrypt",)),
    Case("explicit deny in the key policy beats delegation", False,
         key=[DELEGATE, deny("*", "kms:Encrypt", sid="NoEncrypt")], identity=[[iam()]],
         denial=DENY_RESOURCE, sids=("NoEncrypt",)),
    Case("explicit deny in an identity policy beats a direct key policy allow", False,
         key=[allow(ALICE.arn)], identity=[[iam("Deny", "kms:Encrypt", sid="NoEnc")]],
         denial=DENY_IDENTITY, sids=("NoEnc",)),
    Case("explicit deny in an identity policy beats an identity allow", False,
         identity=[[iam(), iam("Deny", "kms:Encrypt", sid="NoEnc")]], denial=DENY_IDENTITY,
         sids=("NoEnc",)),
    Case("explicit deny in an identity policy beats a grant", False, key=ONLY_BOB,
         identity=[[iam("Deny", sid="NoKms")]], grants=(grant(),), ec={},
         denial=DENY_IDENTITY, sids=("NoKms",)),
    Case("explicit deny in the key policy beats a grant", False,
         key=[deny(ALICE.arn, sid="NoAlice")], grants=(grant(),), ec={},
         denial=DENY_RESOURCE, sids=("NoAlice",)),
    Case("a deny naming the account root reaches every user of the account", False,
         key=[allow(ALICE.arn), deny(ROOT, "kms:Encrypt", sid="NoAccount")],
         denial=DENY_RESOURCE, sids=("NoAccount",)),
    Case("a deny for another action does not apply", True,
         key=[allow(ALICE.arn, sid="Alice"), deny(ALICE.arn, "kms:Decrypt")], sids=("Alice",)),
    Case("a deny whose condition fails does not apply", True,
         key=[allow(ALICE.arn, sid="Alice"),
              deny(ALICE.arn, Condition={"Bool": {"aws:SecureTransport": "false"}})],
         context={"aws:SecureTransport": True}, sids=("Alice",)),
    Case("a deny with StringNotEquals applies when the key is absent (AWS negated rule)",
         False, key=[allow(ALICE.arn), deny(
             "*", sid="OnlyViaS3",
             Condition={"StringNotEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})],
         denial=DENY_RESOURCE, sids=("OnlyViaS3",)),
    Case("a deny with StringNotEquals does not apply when the value is listed", True,
         key=[allow(ALICE.arn, sid="Alice"), deny(
             "*", Condition={"StringNotEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})],
         context={"kms:ViaService": "s3.us-east-1.amazonaws.com"}, sids=("Alice",)),
    Case("a deny with StringNotEqualsIfExists applies when the key is absent", False,
         key=[allow(ALICE.arn), deny("*", sid="D", Condition={
             "StringNotEqualsIfExists": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})],
         denial=DENY_RESOURCE, sids=("D",)),
    Case("all matching denies are reported, key policy first", False,
         key=[deny("*", sid="KeyDeny")], identity=[[iam("Deny", sid="IamDeny")]],
         denial=DENY_RESOURCE, sids=("KeyDeny", "IamDeny")),

    # --- actions ----------------------------------------------------------------------------
    Case("action star allows any action", True, key=[allow(ALICE.arn, "*", sid="S")],
         sids=("S",)),
    Case("action wildcard kms:Re* allows ReEncryptFrom", True, action="kms:ReEncryptFrom",
         key=[allow(ALICE.arn, "kms:ReEncrypt*", sid="Re")], sids=("Re",)),
    Case("action wildcard kms:GenerateDataKey* allows GenerateDataKeyPair", True,
         action="kms:GenerateDataKeyPair", key=[allow(ALICE.arn, "kms:GenerateDataKey*")]),
    Case("action wildcard ? matches one character", True,
         key=[allow(ALICE.arn, "kms:?ncrypt")]),
    Case("action wildcard ? does not match another letter", False, action="kms:Decrypt",
         key=[allow(ALICE.arn, "kms:?ncrypt")], denial=NO_RESOURCE),
    Case("action wildcard does not match a different prefix", False, action="kms:Decrypt",
         key=[allow(ALICE.arn, "kms:Describe*")], denial=NO_RESOURCE),
    Case("actions in the policy are case-insensitive", True,
         key=[allow(ALICE.arn, "KMS:ENCRYPT")]),
    Case("the request's action is case-insensitive", True, action="KMS:encrypt",
         key=[allow(ALICE.arn, "kms:Encrypt")]),
    Case("another service's actions do not allow kms", False,
         key=[allow(ALICE.arn, "s3:*")], denial=NO_RESOURCE),
    Case("a list of actions allows any of them", True, action="kms:Decrypt",
         key=[allow(ALICE.arn, ["kms:Encrypt", "kms:Decrypt"])]),
    Case("NotAction allows every action but those listed", True,
         key=[allow(ALICE.arn, sid="NotDelete", NotAction="kms:ScheduleKeyDeletion",
                    Action=None)], sids=("NotDelete",)),
    Case("NotAction does not allow the listed action", False, action="kms:ScheduleKeyDeletion",
         key=[{"Effect": "Allow", "Principal": {"AWS": ALICE.arn},
               "NotAction": "kms:ScheduleKeyDeletion", "Resource": "*"}], denial=NO_RESOURCE),
    Case("a Deny with NotAction denies everything not listed", False,
         key=[allow(ALICE.arn), {"Sid": "OnlyDescribe", "Effect": "Deny", "Principal": "*",
                                 "NotAction": "kms:Describe*", "Resource": "*"}],
         denial=DENY_RESOURCE, sids=("OnlyDescribe",)),
    Case("a Deny with NotAction spares the listed actions", True, action="kms:DescribeKey",
         key=[allow(ALICE.arn, sid="A"), {"Effect": "Deny", "Principal": "*",
                                          "NotAction": "kms:Describe*", "Resource": "*"}],
         sids=("A",)),

    # --- resources in identity policies -------------------------------------------------------
    Case("identity Resource with wildcards matching the key allows", True,
         identity=[[iam(resource=f"arn:aws:kms:*:{ACCOUNT}:key/*", sid="Keys")]],
         sids=("Enable IAM User Permissions", "Keys")),
    Case("identity Resource for another region does not apply", False,
         identity=[[iam(resource="arn:aws:kms:eu-west-1:*")]], denial=NO_IDENTITY),
    Case("identity Resource naming another key does not apply", False,
         identity=[[iam(resource=OTHER_KEY_ARN)]], denial=NO_IDENTITY),
    Case("identity NotResource allows every resource but those listed", True,
         identity=[[{"Effect": "Allow", "Action": "kms:*", "NotResource": OTHER_KEY_ARN}]]),
    Case("identity NotResource does not allow a listed resource", False,
         identity=[[{"Effect": "Allow", "Action": "kms:*", "NotResource": KEY_ARN}]],
         denial=NO_IDENTITY),
    Case("identity Resource with a policy variable resolves per caller", True,
         resource=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/alice",
         identity=[[iam(resource=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/${{aws:username}}")]]),
    Case("identity Resource with a policy variable does not match another caller", False,
         who=BOB, resource=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/alice",
         identity=[[iam(resource=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/${{aws:username}}")]],
         denial=NO_IDENTITY),

    # --- NotPrincipal -------------------------------------------------------------------------
    Case("a Deny with NotPrincipal spares a user listed with its account", True,
         key=[allow("*", sid="All"), {"Sid": "OnlyAlice", "Effect": "Deny",
                                      "NotPrincipal": {"AWS": [ALICE.arn, ROOT]},
                                      "Action": "kms:*", "Resource": "*"}], sids=("All",)),
    Case("a Deny with NotPrincipal denies anyone not listed", False, who=BOB,
         key=[allow("*"), {"Sid": "OnlyAlice", "Effect": "Deny",
                           "NotPrincipal": {"AWS": [ALICE.arn, ROOT]},
                           "Action": "kms:*", "Resource": "*"}],
         denial=DENY_RESOURCE, sids=("OnlyAlice",)),
    Case("a Deny with NotPrincipal without the account ARN still denies the user", False,
         key=[allow("*"), {"Sid": "NoAccount", "Effect": "Deny",
                           "NotPrincipal": {"AWS": ALICE.arn}, "Action": "kms:*",
                           "Resource": "*"}], denial=DENY_RESOURCE, sids=("NoAccount",)),
    Case("a Deny with NotPrincipal spares a session listed with role and account", True,
         who=SESSION, key=[allow("*"), {"Effect": "Deny",
                                        "NotPrincipal": {"AWS": [SESSION_ARN, ROLE_ARN, ROOT]},
                                        "Action": "kms:*", "Resource": "*"}]),
    Case("a Deny with NotPrincipal listing only the role still denies its session", False,
         who=SESSION, key=[allow("*"), {"Sid": "RoleOnly", "Effect": "Deny",
                                        "NotPrincipal": {"AWS": [ROLE_ARN, ROOT]},
                                        "Action": "kms:*", "Resource": "*"}],
         denial=DENY_RESOURCE, sids=("RoleOnly",)),
    Case("an Allow with NotPrincipal allows those not listed", True,
         key=[{"Sid": "NotBob", "Effect": "Allow", "NotPrincipal": {"AWS": BOB.arn},
               "Action": "kms:*", "Resource": "*"}], sids=("NotBob",)),
    Case("an Allow with NotPrincipal does not allow those listed", False, who=BOB,
         key=[{"Effect": "Allow", "NotPrincipal": {"AWS": BOB.arn}, "Action": "kms:*",
               "Resource": "*"}], denial=NO_RESOURCE),

    # --- roles and sessions -------------------------------------------------------------------
    Case("a key policy naming the role allows its session", True, who=SESSION,
         key=[allow(ROLE_ARN, sid="Role")], sids=("Role",)),
    Case("a key policy naming the session ARN allows the session", True, who=SESSION,
         key=[allow(SESSION_ARN, sid="Session")], sids=("Session",)),
    Case("a key policy naming one role does not allow another role's session", False,
         who=OTHER_SESSION, key=[allow(ROLE_ARN)], denial=NO_RESOURCE),
    Case("a session is allowed through delegation and its role's identity policy", True,
         who=SESSION, identity=[[iam(sid="RolePolicy")]],
         sids=("Enable IAM User Permissions", "RolePolicy")),
    Case("a session without a role identity policy is denied under delegation", False,
         who=SESSION, denial=NO_IDENTITY),
    Case("aws:PrincipalArn of a session is its role ARN", True, who=SESSION,
         key=[allow("*", Condition={"ArnEquals": {"aws:PrincipalArn": ROLE_ARN}})]),
    Case("aws:PrincipalType of a session is AssumedRole", True, who=SESSION,
         key=[allow("*", Condition={"StringEquals": {"aws:PrincipalType": "AssumedRole"}})]),
    Case("aws:userid of a session is role id and session name", True, who=SESSION,
         key=[allow("*", Condition={"StringLike": {"aws:userid": "AROAAPPEXAMPLE0000001:*"}})]),

    # --- the account root user ------------------------------------------------------------------
    Case("the root user is allowed by a statement naming its account", True,
         who=ACCOUNT_ROOT_USER, sids=("Enable IAM User Permissions",)),
    Case("the root user is bound by the key policy like anyone else", False,
         who=ACCOUNT_ROOT_USER, key=ONLY_BOB, denial=NO_RESOURCE),
    Case("the root user needs no identity policy for IAM-only actions", True,
         who=ACCOUNT_ROOT_USER, key=None, action="kms:CreateKey", resource=None),
    Case("aws:PrincipalType of the root user is Account", True, who=ACCOUNT_ROOT_USER,
         key=[allow(ROOT, Condition={"StringEquals": {"aws:PrincipalType": "Account"}})]),

    # --- AWS services -------------------------------------------------------------------------
    Case("a service principal named in the key policy is allowed", True, who=KMS_SERVICE,
         key=[allow({"Service": "kms.amazonaws.com"}, sid="Kms")], sids=("Kms",)),
    Case("a service principal not named is denied", False, who=KMS_SERVICE,
         key=[allow({"Service": "logs.amazonaws.com"})], denial=NO_RESOURCE),
    Case("a service principal is not reached through the account root", False,
         who=KMS_SERVICE, identity=[[iam()]], denial=NO_RESOURCE),
    Case("principal star reaches a service principal too", True, who=KMS_SERVICE,
         key=[allow("*")]),
    Case("a service principal has no aws:PrincipalArn", True, who=KMS_SERVICE,
         key=[allow({"Service": "kms.amazonaws.com"},
                    Condition={"Null": {"aws:PrincipalArn": "true"}})]),

    # --- across accounts ------------------------------------------------------------------------
    Case("cross-account: key policy allows the other account and its IAM allows", True,
         who=CAROL, key=[DELEGATE, allow(OTHER_ROOT, sid="Partner")],
         identity=[[iam(resource=KEY_ARN, sid="CarolUse")]], sids=("Partner", "CarolUse")),
    Case("cross-account: key policy allows the other account but its IAM does not", False,
         who=CAROL, key=[DELEGATE, allow(OTHER_ROOT)], denial=NO_IDENTITY),
    Case("cross-account: its IAM allows but the key policy does not name the account", False,
         who=CAROL, identity=[[iam()]], denial=NO_RESOURCE),
    Case("cross-account: naming the user directly still needs its IAM allow", False,
         who=CAROL, key=[allow(CAROL.arn)], denial=NO_IDENTITY),
    Case("cross-account: naming the user directly and its IAM allowing", True, who=CAROL,
         key=[allow(CAROL.arn, sid="Carol")], identity=[[iam(sid="CarolUse")]],
         sids=("Carol", "CarolUse")),
    Case("cross-account: principal star needs the caller's IAM allow", False, who=CAROL,
         key=[allow("*")], denial=NO_IDENTITY),
    Case("cross-account: principal star and the caller's IAM allow", True, who=CAROL,
         key=[allow("*")], identity=[[iam()]]),
    Case("cross-account: the key account's root statement does not reach another account",
         False, who=CAROL, identity=[[iam()]], denial=NO_RESOURCE),
    Case("cross-account: a grant with the caller's IAM allow", True, who=CAROL,
         grants=(grant(grantee=CAROL.arn),), identity=[[iam()]], ec={}, grant="g1"),
    Case("cross-account: a grant without the caller's IAM allow", False, who=CAROL,
         grants=(grant(grantee=CAROL.arn),), ec={}, denial=NO_IDENTITY),
    Case("cross-account: a deny in the caller's IAM wins", False, who=CAROL,
         key=[allow(OTHER_ROOT)], identity=[[iam(), iam("Deny", sid="No")]],
         denial=DENY_IDENTITY, sids=("No",)),

    # --- grants ---------------------------------------------------------------------------------
    Case("a grant naming the caller and the operation allows", True, key=ONLY_BOB,
         grants=(grant(name="app-grant"),), ec={}, grant="g1", sids=("app-grant",)),
    Case("a grant for another operation does not allow", False, key=ONLY_BOB,
         grants=(grant(operations=("Decrypt",)),), ec={}, denial=NO_RESOURCE),
    Case("a grant for another grantee does not allow", False, key=ONLY_BOB,
         grants=(grant(grantee=BOB.arn),), ec={}, denial=NO_RESOURCE),
    Case("the first matching grant decides", True, key=ONLY_BOB,
         grants=(grant("g0", operations=("Decrypt",)), grant("g1"), grant("g2")), ec={},
         grant="g1"),
    Case("a grant with EncryptionContextEquals allows the exact context", True, key=ONLY_BOB,
         grants=(grant(equals={"tenant": "a"}),), ec={"tenant": "a"}, grant="g1"),
    Case("a grant with EncryptionContextEquals refuses an extra pair", False, key=ONLY_BOB,
         grants=(grant(equals={"tenant": "a"}),), ec={"tenant": "a", "x": "y"},
         denial=NO_RESOURCE),
    Case("a grant with EncryptionContextEquals refuses an empty context", False, key=ONLY_BOB,
         grants=(grant(equals={"tenant": "a"}),), ec={}, denial=NO_RESOURCE),
    Case("a grant with EncryptionContextEquals refuses another value", False, key=ONLY_BOB,
         grants=(grant(equals={"tenant": "a"}),), ec={"tenant": "b"}, denial=NO_RESOURCE),
    Case("a grant with EncryptionContextSubset allows extra pairs", True, key=ONLY_BOB,
         grants=(grant(subset={"tenant": "a"}),), ec={"tenant": "a", "x": "y"}, grant="g1"),
    Case("a grant with EncryptionContextSubset refuses a missing pair", False, key=ONLY_BOB,
         grants=(grant(subset={"tenant": "a", "project": "p"}),), ec={"tenant": "a"},
         denial=NO_RESOURCE),
    Case("a grant with EncryptionContextSubset refuses another value", False, key=ONLY_BOB,
         grants=(grant(subset={"tenant": "a"}),), ec={"tenant": "b"}, denial=NO_RESOURCE),
    Case("grant constraint keys are not case-sensitive", True, key=ONLY_BOB,
         grants=(grant(subset={"tenant": "a"}),), ec={"Tenant": "a"}, grant="g1"),
    Case("grant constraint values are case-sensitive", False, key=ONLY_BOB,
         grants=(grant(subset={"tenant": "a"}),), ec={"tenant": "A"}, denial=NO_RESOURCE),
    Case("grant constraints do not restrict DescribeKey", True, key=ONLY_BOB,
         action="kms:DescribeKey", grants=(grant(operations=("DescribeKey",),
                                                 equals={"tenant": "a"}),), grant="g1"),
    Case("grant constraints do not restrict RetireGrant", True, key=ONLY_BOB,
         action="kms:RetireGrant", grants=(grant(operations=("RetireGrant",),
                                                 subset={"tenant": "a"}),), grant="g1"),
    Case("grant constraints do not restrict an operation without encryption context", True,
         key=ONLY_BOB, action="kms:Sign", grants=(grant(operations=("Sign",),
                                                        equals={"tenant": "a"}),), grant="g1"),
    Case("a ReEncryptFrom grant allows kms:ReEncryptFrom", True, key=ONLY_BOB,
         action="kms:ReEncryptFrom", grants=(grant(operations=("ReEncryptFrom",)),), ec={},
         grant="g1"),
    Case("a ReEncryptFrom grant does not allow kms:ReEncryptTo", False, key=ONLY_BOB,
         action="kms:ReEncryptTo", grants=(grant(operations=("ReEncryptFrom",)),), ec={},
         denial=NO_RESOURCE),
    Case("a grant to the role allows its session", True, who=SESSION, key=ONLY_BOB,
         grants=(grant(grantee=ROLE_ARN),), ec={}, grant="g1"),
    Case("a grant to the session ARN allows the session", True, who=SESSION, key=ONLY_BOB,
         grants=(grant(grantee=SESSION_ARN),), ec={}, grant="g1"),
    Case("a grant to the account root allows a user whose IAM allows", True, key=ONLY_BOB,
         grants=(grant(grantee=ROOT),), identity=[[iam()]], ec={}, grant="g1"),
    Case("a grant to the account root alone does not allow a user", False, key=ONLY_BOB,
         grants=(grant(grantee=ROOT),), ec={}, denial=NO_RESOURCE),
    Case("a grant to a service principal allows that service", True, who=KMS_SERVICE,
         key=ONLY_BOB, grants=(grant(grantee="kms.amazonaws.com"),), ec={}, grant="g1"),
    Case("grants are ignored for IAM-only actions", False, key=None, action="kms:CreateKey",
         resource=None, grants=(grant(operations=("CreateKey",)),),
         denial=NO_IDENTITY),

    # --- IAM-only actions -----------------------------------------------------------------------
    Case("IAM-only: an identity policy allows CreateKey", True, key=None,
         action="kms:CreateKey", resource=None, identity=[[iam("Allow", "kms:CreateKey",
                                                               sid="Create")]],
         sids=("Create",)),
    Case("IAM-only: without an identity policy CreateKey is denied", False, key=None,
         action="kms:CreateKey", resource=None, denial=NO_IDENTITY),
    Case("IAM-only: an identity deny wins", False, key=None, action="kms:ListKeys",
         resource=None, identity=[[iam(), iam("Deny", "kms:List*", sid="NoList")]],
         denial=DENY_IDENTITY, sids=("NoList",)),
    Case("IAM-only: a key ARN resource pattern does not cover an action without a resource",
         False, key=None, action="kms:ListKeys", resource=None,
         identity=[[iam(resource=f"arn:aws:kms:*:{ACCOUNT}:key/*")]], denial=NO_IDENTITY),
    Case("IAM-only: a list wildcard allows ListAliases", True, key=None,
         action="kms:ListAliases", resource=None, identity=[[iam("Allow", "kms:List*")]]),
    Case("IAM-only: the identity condition is evaluated", False, key=None,
         action="kms:GenerateRandom", resource=None,
         identity=[[iam(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})]],
         context={"aws:SourceIp": "203.0.113.7"}, denial=NO_IDENTITY, failed="IpAddress"),

    # --- explanations of failed conditions ------------------------------------------------------
    Case("an identity Allow stopped by its condition is explained", False,
         identity=[[iam(sid="TenantA", Condition={
             "StringEquals": {"kms:EncryptionContext:tenant": "a"}})]],
         ec={"tenant": "b"}, denial=NO_IDENTITY,
         failed='StringEquals kms:EncryptionContext:tenant: request has "b", policy wants ["a"]'),
    Case("a delegating statement stopped by its condition is explained", False,
         key=[allow(ROOT, sid="ViaS3", Condition={
             "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})],
         identity=[[iam()]], denial=NO_RESOURCE,
         failed="StringEquals kms:ViaService: key kms:ViaService is absent"),

    # --- String operators -----------------------------------------------------------------------
    conditional("StringEquals matches the exact value", True, "StringEquals",
                "kms:ViaService", "s3.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com"),
    conditional("StringEquals is case-sensitive on values", False, "StringEquals",
                "kms:ViaService", "s3.us-east-1.amazonaws.com", "S3.us-east-1.amazonaws.com",
                failed='request has "S3.us-east-1.amazonaws.com"'),
    conditional("StringEquals ORs the listed values", True, "StringEquals", "kms:ViaService",
                ["ec2.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com"],
                "s3.us-east-1.amazonaws.com"),
    conditional("StringEquals on an absent key is false", False, "StringEquals",
                "kms:ViaService", "s3.us-east-1.amazonaws.com",
                failed="key kms:ViaService is absent"),
    conditional("StringEqualsIfExists on an absent key is true", True, "StringEqualsIfExists",
                "kms:ViaService", "s3.us-east-1.amazonaws.com"),
    conditional("StringEqualsIfExists on a present key still compares", False,
                "StringEqualsIfExists", "kms:ViaService", "s3.us-east-1.amazonaws.com",
                "ec2.us-east-1.amazonaws.com"),
    conditional("StringNotEquals holds for another value", True, "StringNotEquals",
                "kms:ViaService", "s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"),
    conditional("StringNotEquals fails for the listed value", False, "StringNotEquals",
                "kms:ViaService", "s3.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com",
                failed="policy wants none of"),
    conditional("StringNotEquals NORs the listed values", False, "StringNotEquals",
                "kms:ViaService", ["a", "b"], "b"),
    conditional("StringNotEquals holds when no listed value matches", True, "StringNotEquals",
                "kms:ViaService", ["a", "b"], "c"),
    conditional("StringNotEquals on an absent key is true", True, "StringNotEquals",
                "kms:ViaService", "a"),
    conditional("StringEqualsIgnoreCase ignores case", True, "StringEqualsIgnoreCase",
                "kms:ViaService", "S3.US-EAST-1.AMAZONAWS.COM", "s3.us-east-1.amazonaws.com"),
    conditional("StringEqualsIgnoreCase still compares letters", False,
                "StringEqualsIgnoreCase", "kms:ViaService", "s3", "ec2"),
    conditional("StringNotEqualsIgnoreCase fails for a value differing in case only", False,
                "StringNotEqualsIgnoreCase", "kms:ViaService", "S3", "s3"),
    conditional("StringNotEqualsIgnoreCase holds for another value", True,
                "StringNotEqualsIgnoreCase", "kms:ViaService", "S3", "ec2"),
    conditional("StringLike matches * across dots", True, "StringLike", "kms:ViaService",
                "s3.*.amazonaws.com", "s3.eu-west-1.amazonaws.com"),
    conditional("StringLike ? matches exactly one character", True, "StringLike",
                "aws:RequestTag/team", "team-?", "team-a"),
    conditional("StringLike ? does not match two characters", False, "StringLike",
                "aws:RequestTag/team", "team-?", "team-ab"),
    conditional("StringLike is case-sensitive", False, "StringLike", "kms:ViaService",
                "S3.*", "s3.us-east-1.amazonaws.com"),
    conditional("StringLike brackets are literal, not a character class", True, "StringLike",
                "aws:RequestTag/team", "team[1]", "team[1]"),
    conditional("StringLike brackets do not match as a class", False, "StringLike",
                "aws:RequestTag/team", "team[1]", "team1"),
    conditional("StringLike on an absent key is false", False, "StringLike",
                "kms:ViaService", "*"),
    conditional("StringNotLike holds for a non-matching value", True, "StringNotLike",
                "kms:ViaService", "s3.*", "ec2.us-east-1.amazonaws.com"),
    conditional("StringNotLike fails for a matching value", False, "StringNotLike",
                "kms:ViaService", "s3.*", "s3.us-east-1.amazonaws.com"),
    Case("condition key names are case-insensitive", True, context={"kms:viaservice": "s3"},
         key=[allow(ALICE.arn, sid="Upper", Condition={"StringEquals": {"KMS:VIASERVICE": "s3"}})],
         sids=("Upper",)),
    conditional("aws:username comes from the principal", True, "StringEquals",
                "aws:username", "alice", "alice"),
    conditional("kms:CallerAccount comes from the principal", True, "StringEquals",
                "kms:CallerAccount", ACCOUNT, ACCOUNT),
    conditional("a JSON number compares as its text", True, "StringEquals",
                "aws:RequestTag/cost", 10, "10"),

    # --- Numeric operators ----------------------------------------------------------------------
    conditional("NumericEquals matches", True, "NumericEquals",
                "kms:ScheduleKeyDeletionPendingWindowInDays", 7, 7),
    conditional("NumericEquals reads a numeric string in the request", True, "NumericEquals",
                "kms:ScheduleKeyDeletionPendingWindowInDays", "7", "7"),
    conditional("NumericEquals with 7.0 in the policy matches 7", True, "NumericEquals",
                "kms:ScheduleKeyDeletionPendingWindowInDays", "7.0", 7),
    conditional("NumericEquals fails for another number", False, "NumericEquals",
                "kms:ScheduleKeyDeletionPendingWindowInDays", 7, 8),
    conditional("NumericEquals fails for a request value that is not a number", False,
                "NumericEquals", "kms:ScheduleKeyDeletionPendingWindowInDays", 7, "seven"),
    conditional("NumericNotEquals holds for another number", True, "NumericNotEquals",
                "kms:ScheduleKeyDeletionPendingWindowInDays", 7, 8),
    conditional("NumericNotEquals fails for the number", False, "NumericNotEquals",
                "kms:ScheduleKeyDeletionPendingWindowInDays", 7, 7),
    conditional("NumericLessThan holds below", True, "NumericLessThan",
                "kms:ScheduleKeyDeletionPendingWindowInDays", 30, 7),
    conditional("NumericLessThan fails at the bound", False, "NumericLessThan",
                "kms:ScheduleKeyDeletionPendingWindowInDays", 30, 30),
    conditional("NumericLessThanEquals holds at the bound", True, "NumericLessThanEquals",
                "kms:ScheduleKeyDeletionPendingWindowInDays", 30, 30),
    conditional("NumericGreaterThan holds above", True, "NumericGreaterThan",
                "kms:RotationPeriodInDays", 90, 365),
    conditional("NumericGreaterThan fails at the bound", False, "NumericGreaterThan",
                "kms:RotationPeriodInDays", 90, 90),
    conditional("NumericGreaterThanEquals holds at the bound", True,
                "NumericGreaterThanEquals", "kms:RotationPeriodInDays", 90, 90),
    conditional("NumericLessThan on an absent key is false", False, "NumericLessThan",
                "kms:RotationPeriodInDays", 90, failed="key kms:RotationPeriodInDays is absent"),
    conditional("NumericLessThanIfExists on an absent key is true", True,
                "NumericLessThanIfExists", "kms:RotationPeriodInDays", 90),
    conditional("NumericNotEquals on an absent key is true", True, "NumericNotEquals",
                "kms:RotationPeriodInDays", 90),

    # --- Date operators -------------------------------------------------------------------------
    conditional("DateLessThan holds before the date", True, "DateLessThan", "aws:CurrentTime",
                "2030-01-01T00:00:00Z", NOW),
    conditional("DateLessThan fails after the date", False, "DateLessThan", "aws:CurrentTime",
                "2020-01-01T00:00:00Z", NOW),
    conditional("DateGreaterThan holds after the date", True, "DateGreaterThan",
                "aws:CurrentTime", "2020-01-01", NOW),
    conditional("DateLessThanEquals holds at the instant", True, "DateLessThanEquals",
                "aws:CurrentTime", "2026-06-01T12:00:00Z", NOW),
    conditional("DateGreaterThanEquals holds at the instant", True, "DateGreaterThanEquals",
                "aws:CurrentTime", "2026-06-01T12:00:00Z", NOW),
    conditional("DateEquals compares instants across offsets", True, "DateEquals",
                "aws:CurrentTime", "2026-06-01T14:00:00+02:00", NOW),
    conditional("DateEquals reads epoch seconds in the policy", True, "DateEquals",
                "aws:CurrentTime", EPOCH_NOW, NOW),
    conditional("DateEquals reads an ISO string in the request", True, "DateEquals",
                "aws:CurrentTime", "2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z"),
    conditional("DateNotEquals holds for another instant", True, "DateNotEquals",
                "aws:CurrentTime", "2026-06-01T12:00:01Z", NOW),
    conditional("DateNotEquals fails at the instant", False, "DateNotEquals",
                "aws:CurrentTime", "2026-06-01T12:00:00Z", NOW),
    conditional("aws:CurrentTime defaults to now", True, "DateGreaterThan", "aws:CurrentTime",
                "2020-01-01T00:00:00Z"),
    conditional("aws:EpochTime defaults to now", True, "NumericGreaterThan", "aws:EpochTime",
                1577836800),
    conditional("a date condition on an absent key is false", False, "DateLessThan",
                "kms:ValidTo", "2030-01-01T00:00:00Z"),

    # --- Bool, Binary, Null ---------------------------------------------------------------------
    conditional("Bool true matches a true request value", True, "Bool",
                "aws:SecureTransport", "true", True),
    conditional("Bool true does not match false", False, "Bool", "aws:SecureTransport",
                "true", False, failed='request has false, policy wants ["true"]'),
    conditional("Bool accepts a JSON true and a string request value", True, "Bool",
                "aws:SecureTransport", True, "true"),
    conditional("Bool on an absent key is false", False, "Bool", "aws:SecureTransport", "false"),
    conditional("BoolIfExists on an absent key is true", True, "BoolIfExists",
                "aws:SecureTransport", "true"),
    conditional("BinaryEquals compares decoded bytes", True, "BinaryEquals", "aws:x",
                "QUJD", b"ABC"),
    conditional("BinaryEquals fails for other bytes", False, "BinaryEquals", "aws:x",
                "QUJD", b"ABD"),
    conditional("BinaryEquals reads base64 text in the request", True, "BinaryEquals", "aws:x",
                "QUJD", "QUJD"),
    with_ec("Null false requires an encryption context", True, "Null",
            "kms:EncryptionContextKeys", False, {"a": "b"}),
    with_ec("Null false fails without an encryption context", False, "Null",
            "kms:EncryptionContextKeys", False, None,
            failed="key kms:EncryptionContextKeys is absent, policy wants it present"),
    with_ec("Null true holds without an encryption context", True, "Null",
            "kms:EncryptionContextKeys", "true", None),
    with_ec("Null true fails with an encryption context", False, "Null",
            "kms:EncryptionContextKeys", True, {"a": "b"}),
    with_ec("Null treats an empty encryption context as absent", True, "Null",
            "kms:EncryptionContextKeys", True, {}),
    conditional("Null false holds for the principal's username", True, "Null",
                "aws:username", False),

    # --- IP addresses ---------------------------------------------------------------------------
    conditional("IpAddress holds inside the block", True, "IpAddress", "aws:SourceIp",
                "203.0.113.0/24", "203.0.113.7"),
    conditional("IpAddress fails outside the block", False, "IpAddress", "aws:SourceIp",
                "203.0.113.0/24", "198.51.100.1"),
    conditional("IpAddress with a single address", True, "IpAddress", "aws:SourceIp",
                "203.0.113.7", "203.0.113.7"),
    conditional("IpAddress holds for IPv6 inside the block", True, "IpAddress", "aws:SourceIp",
                "2001:db8::/32", "2001:db8::1"),
    conditional("IpAddress with an IPv4 block does not match IPv6", False, "IpAddress",
                "aws:SourceIp", "0.0.0.0/0", "2001:db8::1"),
    conditional("IpAddress ORs the listed blocks", True, "IpAddress", "aws:SourceIp",
                ["10.0.0.0/8", "203.0.113.0/24"], "203.0.113.7"),
    conditional("IpAddress on an absent key is false", False, "IpAddress", "aws:SourceIp",
                "10.0.0.0/8"),
    conditional("IpAddress fails for a request value that is not an address", False,
                "IpAddress", "aws:SourceIp", "10.0.0.0/8", "not-an-ip"),
    conditional("NotIpAddress holds outside the block", True, "NotIpAddress", "aws:SourceIp",
                "10.0.0.0/8", "203.0.113.7"),
    conditional("NotIpAddress fails inside the block", False, "NotIpAddress", "aws:SourceIp",
                "10.0.0.0/8", "10.1.2.3"),
    conditional("NotIpAddress on an absent key is true", True, "NotIpAddress", "aws:SourceIp",
                "10.0.0.0/8"),

    # --- ARN operators --------------------------------------------------------------------------
    conditional("ArnEquals matches aws:PrincipalArn", True, "ArnEquals", "aws:PrincipalArn",
                ALICE.arn),
    conditional("ArnLike with a resource wildcard", True, "ArnLike", "aws:PrincipalArn",
                f"arn:aws:iam::{ACCOUNT}:user/*"),
    conditional("ArnLike with an account wildcard", True, "ArnLike", "aws:PrincipalArn",
                "arn:aws:iam::*:user/alice"),
    conditional("ArnLike fails for another resource type", False, "ArnLike",
                "aws:PrincipalArn", f"arn:aws:iam::{ACCOUNT}:role/*"),
    conditional("ArnLike wildcards do not reach across a colon", False, "ArnLike",
                "aws:SourceArn", "arn:aws:iam::*:user/alice",
                f"arn:aws:iam::{ACCOUNT}:extra:user/alice"),
    conditional("ArnLike on an absent key is false", False, "ArnLike", "aws:SourceArn",
                "arn:aws:s3:::*"),
    conditional("ArnNotLike holds for a non-matching ARN", True, "ArnNotLike",
                "aws:PrincipalArn", f"arn:aws:iam::{ACCOUNT}:role/*"),
    conditional("ArnNotEquals fails for the ARN", False, "ArnNotEquals", "aws:PrincipalArn",
                ALICE.arn),
    conditional("ArnNotLike on an absent key is true", True, "ArnNotLike", "aws:SourceArn",
                "arn:aws:s3:::*"),
    conditional("ArnEquals with a policy variable", True, "ArnEquals", "aws:PrincipalArn",
                "arn:aws:iam::${aws:PrincipalAccount}:user/${aws:username}"),

    # --- encryption context ---------------------------------------------------------------------
    with_ec("kms:EncryptionContext:<key> matches the pair", True, "StringEquals",
            "kms:EncryptionContext:tenant", "a", {"tenant": "a"}),
    with_ec("kms:EncryptionContext:<key> fails for another value", False, "StringEquals",
            "kms:EncryptionContext:tenant", "a", {"tenant": "b"},
            failed='request has "b", policy wants ["a"]'),
    with_ec("the context key in the condition key ignores case", True, "StringEquals",
            "kms:EncryptionContext:TENANT", "a", {"Tenant": "a"}),
    with_ec("the context value is case-sensitive under StringEquals", False, "StringEquals",
            "kms:EncryptionContext:tenant", "a", {"tenant": "A"}),
    with_ec("the context value ignores case under StringEqualsIgnoreCase", True,
            "StringEqualsIgnoreCase", "kms:EncryptionContext:tenant", "a", {"tenant": "A"}),
    with_ec("kms:EncryptionContext:<key> fails without a context", False, "StringEquals",
            "kms:EncryptionContext:tenant", "a", None,
            failed="key kms:EncryptionContext:tenant is absent"),
    with_ec("kms:EncryptionContext:<key> allows other pairs", True, "StringEquals",
            "kms:EncryptionContext:tenant", "a", {"tenant": "a", "x": "y"}),
    with_ec("kms:EncryptionContext:<key> with StringLike", True, "StringLike",
            "kms:EncryptionContext:path", "/data/*", {"path": "/data/2026/report"}),
    with_ec("a policy variable in an encryption context value", True, "StringEquals",
            "kms:EncryptionContext:user", "${aws:username}", {"user": "alice"}),
    with_ec("a policy variable resolves to the caller, not to anyone", False, "StringEquals",
            "kms:EncryptionContext:user", "${aws:username}", {"user": "bob"}),
    with_ec("in a 2008-10-17 policy a variable is literal text", False, "StringEquals",
            "kms:EncryptionContext:user", "${aws:username}", {"user": "alice"},
            version="2008-10-17"),
    with_ec("${*} is a literal star in StringLike", True, "StringLike",
            "kms:EncryptionContext:path", "a${*}", {"path": "a*"}),
    with_ec("${*} does not act as a wildcard", False, "StringLike",
            "kms:EncryptionContext:path", "a${*}", {"path": "ab"}),
    with_ec("a variable default applies when the key is absent", True, "StringEquals",
            "kms:EncryptionContext:team", "${aws:PrincipalTag/team, 'ops'}", {"team": "ops"}),
    with_ec("a variable without value or default makes the condition false", False,
            "StringEquals", "kms:EncryptionContext:team", "${aws:PrincipalTag/team}",
            {"team": "ops"}, failed="has no value in the request"),
    with_ec("a variable with no value makes a negated condition false too", False,
            "StringNotEquals", "kms:EncryptionContext:team", "${aws:PrincipalTag/team}",
            {"team": "ops"}),

    Case("a deny on a context value cannot be dodged by a second spelling of the key", False,
         key=[allow(ALICE.arn), deny("*", sid="Restricted", Condition={
             "StringEquals": {"kms:EncryptionContext:stage": "restricted"}})],
         ec={"stage": "ok", "STAGE": "restricted"}, denial=DENY_RESOURCE, sids=("Restricted",)),

    # --- kms:EncryptionContextKeys and set qualifiers --------------------------------------------
    with_ec("ForAnyValue holds when one context key is listed", True,
            "ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "tenant",
            {"tenant": "a", "x": "y"}),
    with_ec("ForAnyValue fails when no context key is listed", False,
            "ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "tenant", {"x": "y"}),
    with_ec("ForAnyValue fails without an encryption context", False,
            "ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "tenant", None),
    with_ec("ForAnyValue with IfExists holds without an encryption context", True,
            "ForAnyValue:StringEqualsIfExists", "kms:EncryptionContextKeys", "tenant", None),
    with_ec("ForAnyValue with StringLike", True, "ForAnyValue:StringLike",
            "kms:EncryptionContextKeys", "ten*", {"tenant": "a"}),
    with_ec("ForAllValues holds when every context key is listed", True,
            "ForAllValues:StringEquals", "kms:EncryptionContextKeys", ["tenant", "project"],
            {"tenant": "a"}),
    with_ec("ForAllValues fails for an unlisted context key", False,
            "ForAllValues:StringEquals", "kms:EncryptionContextKeys", ["tenant", "project"],
            {"tenant": "a", "extra": "x"}),
    with_ec("ForAllValues holds without an encryption context", True,
            "ForAllValues:StringEquals", "kms:EncryptionContextKeys", "tenant", None),
    with_ec("ForAllValues holds for an empty encryption context", True,
            "ForAllValues:StringEquals", "kms:EncryptionContextKeys", "tenant", {}),
    with_ec("ForAllValues compares context keys case-sensitively", False,
            "ForAllValues:StringEquals", "kms:EncryptionContextKeys", "Tenant", {"tenant": "a"}),
    with_ec("ForAllValues with StringNotEquals holds when no key is forbidden", True,
            "ForAllValues:StringNotEquals", "kms:EncryptionContextKeys", "secret", {"a": "b"}),
    with_ec("ForAllValues with StringNotEquals fails for a forbidden key", False,
            "ForAllValues:StringNotEquals", "kms:EncryptionContextKeys", "secret",
            {"a": "b", "secret": "c"}),
    with_ec("ForAnyValue with StringNotEquals holds when some key is not listed", True,
            "ForAnyValue:StringNotEquals", "kms:EncryptionContextKeys", "tenant",
            {"tenant": "a", "x": "y"}),
    with_ec("ForAnyValue with StringNotEquals fails when every key is listed", False,
            "ForAnyValue:StringNotEquals", "kms:EncryptionContextKeys", "tenant",
            {"tenant": "a"}),
    with_ec("a multi-valued key without a qualifier: StringEquals holds if any value matches",
            True, "StringEquals", "kms:EncryptionContextKeys", "tenant",
            {"tenant": "a", "x": "y"}),
    with_ec("a multi-valued key without a qualifier: StringNotEquals fails if any matches",
            False, "StringNotEquals", "kms:EncryptionContextKeys", "secret",
            {"a": "b", "secret": "c"}),
    conditional("ForAnyValue over a multi-valued request context key", True,
                "ForAnyValue:StringEquals", "aws:TagKeys", ["team", "env"], ["env", "owner"]),
    conditional("ForAllValues over a multi-valued request context key", False,
                "ForAllValues:StringEquals", "aws:TagKeys", ["team", "env"], ["env", "owner"]),
]


def _policy_text(statements, version) -> str:
    clean = [{k: v for k, v in s.items() if v is not None} for s in statements]
    return json.dumps({"Version": version, "Statement": clean})


def run(case: Case):
    key_policy = (parse_policy(_policy_text(case.key, case.version), kind="key")
                  if case.key is not None else None)
    identity = [NamedPolicy(f"identity policy {number}",
                            parse_policy(_policy_text(statements, case.version), kind="identity"))
                for number, statements in enumerate(case.identity)]
    request = Request(principal=case.who, action=case.action, resource_arn=case.resource,
                      resource_account_id=case.resource_account if case.resource else None,
                      context=case.context, encryption_context=case.ec)
    return evaluate(request, key_policy=key_policy, identity_policies=identity,
                    grants=case.grants)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_decision(case: Case):
    decision = run(case)
    assert decision.allowed is case.allowed, decision.reason
    if case.allowed:
        assert decision.denial_kind is None
        assert decision.missing_permission is None
        assert decision.reason.startswith("Allowed: ")
    else:
        assert decision.missing_permission == case.action
        assert decision.reason.startswith("Denied: ")
        if case.denial is not None:
            assert decision.denial_kind == case.denial.format(action=case.action)
    if case.sids:
        assert tuple(ref.sid for ref in decision.deciding) == case.sids
    if case.failed is not None:
        assert any(case.failed in failure for failure in decision.failed_conditions), (
            decision.failed_conditions)
    if case.grant is not None:
        assert decision.grant_id == case.grant
        assert decision.deciding[0].kind == "grant"


def test_the_table_has_at_least_150_cases_with_unique_names():
    names = [case.name for case in CASES]
    assert len(names) >= 150
    assert len(set(names)) == len(names)


# --- messages and explanations, beyond the table ------------------------------------------------

def test_the_access_denied_message_for_an_implicit_deny_is_aws_wording():
    decision = run(Case("x", False, key=ONLY_BOB))
    assert decision.message(ALICE.arn, KEY_ARN) == (
        f"User: {ALICE.arn} is not authorized to perform: kms:Encrypt on resource: {KEY_ARN} "
        "because no resource-based policy allows the kms:Encrypt action")


def test_the_access_denied_message_for_an_explicit_deny_is_aws_wording():
    decision = run(Case("x", False, identity=[[iam("Deny")]]))
    assert decision.message(ALICE.arn, KEY_ARN) == (
        f"User: {ALICE.arn} is not authorized to perform: kms:Encrypt on resource: {KEY_ARN} "
        "with an explicit deny in an identity-based policy")


def test_the_access_denied_message_leaves_out_the_resource_for_iam_only_actions():
    decision = run(Case("x", False, key=None, action="kms:CreateKey", resource=None))
    assert decision.message(ALICE.arn) == (
        f"User: {ALICE.arn} is not authorized to perform: kms:CreateKey because no "
        "identity-based policy allows the kms:CreateKey action")


def test_an_allowed_decision_has_no_access_denied_message():
    with pytest.raises(ValueError):
        run(Case("x", True, key=[allow(ALICE.arn)])).message(ALICE.arn, KEY_ARN)


def test_a_denial_reason_names_the_allow_that_a_condition_stopped():
    decision = run(Case("x", False, key=[allow(ALICE.arn, sid="Tenant A", Condition={
        "StringEquals": {"kms:EncryptionContext:tenant": "a"}})], ec={"tenant": "b"}))
    assert decision.failed_conditions == (
        ('key policy Statement[0] "Tenant A": StringEquals kms:EncryptionContext:tenant: '
         'request has "b", policy wants ["a"]'),)
    assert 'Statement[0] "Tenant A"' in decision.reason


def test_an_explicit_deny_reason_names_the_deny_statement():
    decision = run(Case("x", False, key=[allow("*"), deny("*", sid="Freeze")]))
    assert decision.reason == ('Denied: explicit deny in a resource-based policy: '
                               'key policy Statement[1] "Freeze" denies kms:Encrypt.')
    ref = decision.deciding[0]
    assert (ref.policy, ref.index, ref.sid, ref.effect) == ("key policy", 1, "Freeze", "Deny")


def test_an_identity_policy_is_named_as_the_caller_named_it():
    policy = parse_policy(json.dumps({"Statement": [iam()]}), kind="identity")
    key_policy = parse_policy(_policy_text([DELEGATE], "2012-10-17"), kind="key")
    request = Request(principal=ALICE, action="kms:Encrypt", resource_arn=KEY_ARN,
                      resource_account_id=ACCOUNT)
    decision = evaluate(request, key_policy=key_policy, identity_policies=[
        NamedPolicy("inline policy kms-use of user alice", policy)])
    assert decision.deciding[1].policy == "inline policy kms-use of user alice"
    assert "inline policy kms-use of user alice Statement[0]" in decision.reason


def test_a_grant_decision_names_the_grant():
    decision = run(Case("x", True, key=ONLY_BOB, grants=(grant("abc", name="for-app"),), ec={}))
    assert decision.grant_id == "abc"
    assert decision.deciding[0].describe() == 'grant abc "for-app"'
    assert "grant abc" in decision.reason


def test_one_parsed_policy_serves_many_requests():
    key_policy = parse_policy(_policy_text([allow(ALICE.arn, Condition={
        "StringEquals": {"kms:EncryptionContext:tenant": "${aws:username}"}})], "2012-10-17"),
        kind="key")
    for who, tenant, expected in [(ALICE, "alice", True), (ALICE, "bob", False),
                                  (BOB, "bob", False)]:
        request = Request(principal=who, action="kms:Decrypt", resource_arn=KEY_ARN,
                          resource_account_id=ACCOUNT, encryption_context={"tenant": tenant})
        assert evaluate(request, key_policy=key_policy).allowed is expected


def test_an_unknown_principal_type_is_refused():
    with pytest.raises(ValueError, match="type"):
        PrincipalInfo(arn=ALICE.arn, account_id=ACCOUNT, type="User")
