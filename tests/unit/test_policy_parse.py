"""grants.policy.document: malformed policies are refused naming the place; valid ones normalise."""

from __future__ import annotations

import json

import pytest

from grants.policy import (
    Policy,
    PolicyError,
    PolicyTooLargeError,
    parse_policy,
    parse_policy_cached,
)

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


def key_doc(*statements, **top) -> str:
    return json.dumps({"Version": "2012-10-17", **top, "Statement": list(statements)})


def key_stmt(**members) -> dict:
    return {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*",
            **members}


def id_stmt(**members) -> dict:
    return {"Effect": "Allow", "Action": "kms:*", "Resource": "*", **members}


def without(statement: dict, *names: str) -> dict:
    return {k: v for k, v in statement.items() if k not in names}


# (id, kind, text, expected fragments of the message)
MALFORMED = [
    ("invalid JSON", "key", '{"Version": "2012-10-17", "Statement": [', ["invalid JSON", "line 1"]),
    ("not an object", "key", "[]", ["must be a JSON object"]),
    ("NaN is not JSON", "key", key_doc(key_stmt()).replace('"*"}', "NaN}"), ["invalid JSON"]),
    ("duplicate member", "key",
     ('{"Statement": [{"Effect": "Allow", "Effect": "Deny", "Principal": "*", '
      '"Action": "kms:*", "Resource": "*"}]}'), ["'Effect' appears twice"]),
    ("bad Version", "key", key_doc(key_stmt(), Version="2020-01-01"),
     ["Version", "not a policy language version"]),
    ("Version not a string", "key", json.dumps({"Version": 2012, "Statement": [key_stmt()]}),
     ["Version"]),
    ("Id not a string", "key", key_doc(key_stmt(), Id=3), ["Id: must be a string"]),
    ("unknown top-level member", "key", key_doc(key_stmt(), Comment="x"),
     ["Policy document: unknown member 'Comment'"]),
    ("missing Statement", "key", json.dumps({"Version": "2012-10-17"}),
     ["missing required member Statement"]),
    ("empty Statement list", "key", key_doc(), ["Statement: must be a statement object"]),
    ("Statement not a list", "key", json.dumps({"Statement": "x"}), ["Statement:"]),
    ("statement not an object", "key", json.dumps({"Statement": ["x"]}),
     ["Statement[0]: must be an object"]),
    ("missing Effect", "key", key_doc(key_stmt(), without(key_stmt(), "Effect")),
     ["Statement[1]: missing required member Effect"]),
    ("bad Effect", "key", key_doc(key_stmt(Effect="allow")),
     ["Statement[0].Effect", '"Allow" or "Deny"']),
    ("unknown statement member", "key", key_doc(key_stmt(Actions="kms:*")),
     ["Statement[0]: unknown member 'Actions'"]),
    ("both Action and NotAction", "key", key_doc(key_stmt(NotAction="kms:Decrypt")),
     ["Statement[0]: has both Action and NotAction"]),
    ("both Resource and NotResource", "identity",
     json.dumps({"Statement": [id_stmt(NotResource="arn:aws:kms:*")]}),
     ["Statement[0]: has both Resource and NotResource"]),
    ("both Principal and NotPrincipal", "key", key_doc(key_stmt(NotPrincipal={"AWS": ALICE})),
     ["has both Principal and NotPrincipal"]),
    ("Principal in an identity policy", "identity",
     json.dumps({"Statement": [id_stmt(Principal="*")]}),
     ["Statement[0]: Policy document should not specify a principal."]),
    ("NotPrincipal in an identity policy", "identity",
     json.dumps({"Statement": [id_stmt(NotPrincipal={"AWS": ALICE})]}),
     ["should not specify a principal"]),
    ("missing Principal in a key policy", "key", key_doc(without(key_stmt(), "Principal")),
     ["Statement[0]: missing required member Principal",
      "Policy contains a statement with one or more invalid principals."]),
    ("missing Principal in a trust policy", "trust",
     json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}),
     ["missing required member Principal"]),
    ("invalid principal name", "key", key_doc(key_stmt(Principal={"AWS": "alice"})),
     ["Statement[0].Principal.AWS: invalid principal 'alice'", "invalid principals"]),
    ("wildcard inside a principal ARN", "key",
     key_doc(key_stmt(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"})),
     ["invalid principals"]),
    ("principal string other than *", "key", key_doc(key_stmt(Principal=ALICE)),
     ["Statement[0].Principal: Policy contains a statement with one or more invalid principals."]),
    ("unknown principal type", "key", key_doc(key_stmt(Principal={"CanonicalUser": "abc"})),
     ["unknown principal type 'CanonicalUser'"]),
    ("empty principal list", "key", key_doc(key_stmt(Principal={"AWS": []})),
     ["Statement[0].Principal.AWS", "invalid principals"]),
    ("bad service principal", "key", key_doc(key_stmt(Principal={"Service": "Not A Service"})),
     ["invalid service principal"]),
    ("missing Action in an identity policy", "identity",
     json.dumps({"Statement": [without(id_stmt(), "Action")]}),
     ["Statement[0]: Policy statement must contain actions."]),
    ("missing Resource in an identity policy", "identity",
     json.dumps({"Statement": [without(id_stmt(), "Resource")]}),
     ["Statement[0]: Policy statement must contain resources."]),
    ("Resource in a trust policy", "trust",
     json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROOT},
                                "Action": "sts:AssumeRole", "Resource": "*"}]}),
     ["Has prohibited field Resource"]),
    ("action without a vendor", "identity", json.dumps({"Statement": [id_stmt(Action="Encrypt")]}),
     ["Statement[0].Action: 'Encrypt'", "must be prefaced by a vendor"]),
    ("empty action list", "identity", json.dumps({"Statement": [id_stmt(Action=[])]}),
     ["Statement[0].Action: must not be an empty list"]),
    ("action not a string", "identity", json.dumps({"Statement": [id_stmt(Action=["kms:*", 3])]}),
     ["Statement[0].Action"]),
    ("resource not an ARN", "identity", json.dumps({"Statement": [id_stmt(Resource="my-key")]}),
     ['Resource my-key must be in ARN format or "*".']),
    ("IAM Sid with a space", "identity", json.dumps({"Statement": [id_stmt(Sid="Allow use")]}),
     ["Statement[0].Sid: Statement IDs (SID) must be alpha-numeric"]),
    ("duplicate IAM Sids", "identity",
     json.dumps({"Statement": [id_stmt(Sid="A"), id_stmt(Sid="A")]}),
     ["Statement IDs (SID) in a single policy must be unique."]),
    ("Sid not a string", "key", key_doc(key_stmt(Sid=1)), ["Statement[0].Sid: must be a string"]),
    ("unknown condition operator", "key",
     key_doc(key_stmt(), key_stmt(Condition={"StringEqualz": {"aws:username": "a"}})),
     ["Statement[1].Condition: unknown condition operator 'StringEqualz'"]),
    ("unknown set qualifier", "key",
     key_doc(key_stmt(Condition={"ForSomeValues:StringEquals": {"aws:TagKeys": "a"}})),
     ["unknown condition operator 'ForSomeValues:StringEquals'"]),
    ("Null with IfExists", "key",
     key_doc(key_stmt(Condition={"NullIfExists": {"aws:username": "true"}})),
     ["unknown condition operator 'NullIfExists'"]),
    ("condition not an object", "key", key_doc(key_stmt(Condition=["StringEquals"])),
     ["Statement[0].Condition: must be an object"]),
    ("operator body not an object", "key",
     key_doc(key_stmt(Condition={"StringEquals": "aws:username"})),
     ["Statement[0].Condition.StringEquals: must be a non-empty object"]),
    ("condition key without a vendor", "key",
     key_doc(key_stmt(Condition={"StringEquals": {"username": "a"}})),
     ["Statement[0].Condition.StringEquals.username", "prefaced by a vendor"]),
    ("condition value null", "key",
     key_doc(key_stmt(Condition={"StringEquals": {"aws:username": None}})),
     ["Statement[0].Condition.StringEquals.aws:username: values must be strings"]),
    ("condition value an object", "key",
     key_doc(key_stmt(Condition={"StringEquals": {"aws:username": {"a": 1}}})),
     ["values must be strings"]),
    ("empty condition value list", "key",
     key_doc(key_stmt(Condition={"StringEquals": {"aws:username": []}})),
     ["must have at least one value"]),
    ("numeric value not a number", "key",
     key_doc(key_stmt(Condition={"NumericLessThan": {"kms:RotationPeriodInDays": "ten"}})),
     ["NumericLessThan.kms:RotationPeriodInDays: \"ten\" is not a number"]),
    ("date value not a date", "key",
     key_doc(key_stmt(Condition={"DateLessThan": {"aws:CurrentTime": "tomorrow"}})),
     ["is not an ISO-8601 date or epoch seconds"]),
    ("bool value not a boolean", "key",
     key_doc(key_stmt(Condition={"Bool": {"aws:SecureTransport": "yes"}})),
     ["\"yes\" is not true or false"]),
    ("IP value not a CIDR block", "key",
     key_doc(key_stmt(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}})),
     ["is not an IP address or CIDR block"]),
    ("binary value not base64", "key",
     key_doc(key_stmt(Condition={"BinaryEquals": {"aws:x": "***"}})), ["is not base64"]),
    ("Null value not a boolean", "key",
     key_doc(key_stmt(Condition={"Null": {"aws:username": "maybe"}})),
     ["Null takes true or false"]),
    ("set qualifier on kms:EncryptionContext:<key> in a key policy", "key",
     key_doc(key_stmt(Condition={"ForAllValues:StringEquals": {
         "kms:EncryptionContext:Department": "IT"}})),
     ["OverlyPermissiveCondition"]),
    ("invalid policy variable", "identity",
     json.dumps({"Version": "2012-10-17",
                 "Statement": [id_stmt(Condition={"StringEquals": {"aws:username": "${}"}})]}),
     ["invalid policy variable '${}'"]),
]


@pytest.mark.parametrize(("kind", "text", "fragments"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_a_malformed_policy_is_refused_with_a_message_naming_the_place(kind, text, fragments):
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, kind=kind)
    for fragment in fragments:
        assert fragment in caught.value.message
    assert str(caught.value) == caught.value.message


def test_a_key_policy_over_32_kb_is_too_large_counted_in_bytes():
    filler = "é" * 16400  # 2 bytes each in UTF-8: under 32768 characters, over 32768 bytes
    text = json.dumps({"Statement": [key_stmt(Sid=filler)]}, ensure_ascii=False)
    assert len(text) < 32768 < len(text.encode())
    with pytest.raises(PolicyTooLargeError) as caught:
        parse_policy(text, kind="key")
    assert caught.value.message == "The key policy exceeds the quota of 32768 bytes."


def test_an_identity_policy_counts_characters_without_white_space_against_its_limit():
    statement = id_stmt(Sid="A" * 100)
    compact = json.dumps({"Statement": [statement]}, separators=(",", ":"))
    padded = json.dumps({"Statement": [statement]}, indent=40)
    assert parse_policy(padded, kind="identity", max_size=len(compact)).size == len(compact)
    with pytest.raises(PolicyTooLargeError, match="Cannot exceed quota for PolicySize: 50"):
        parse_policy(compact, kind="identity", max_size=50)


def test_the_default_identity_limit_is_6144_characters():
    text = json.dumps({"Statement": [id_stmt(Sid="A" * 6144)]})
    with pytest.raises(PolicyTooLargeError, match="PolicySize: 6144"):
        parse_policy(text, kind="identity")


def test_a_policy_too_large_is_also_a_policy_error():
    assert issubclass(PolicyTooLargeError, PolicyError)
    assert issubclass(PolicyError, ValueError)


def test_an_unknown_kind_is_a_programming_error_not_a_policy_error():
    with pytest.raises(ValueError) as caught:
        parse_policy(key_doc(key_stmt()), kind="bucket")
    assert not isinstance(caught.value, PolicyError)


def test_non_text_is_refused():
    with pytest.raises(PolicyError, match="must be JSON text"):
        parse_policy({"Statement": []}, kind="key")


# --- normalisation ---------------------------------------------------------------------------

def test_a_single_statement_object_becomes_a_list_of_one():
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": key_stmt()}),
                          kind="key")
    assert len(policy.statements) == 1
    assert policy.statements[0].index == 0


def test_strings_become_lists_and_actions_are_lower_cased():
    policy = parse_policy(key_doc(key_stmt(Action="KMS:Encrypt")), kind="key")
    statement = policy.statements[0]
    assert statement.actions == ("kms:encrypt",)
    assert statement.resources == ("*",)
    assert statement.not_actions is None


def test_a_bare_account_id_is_normalised_to_the_account_root_arn():
    policy = parse_policy(key_doc(key_stmt(Principal={"AWS": [ACCOUNT, ALICE]})), kind="key")
    assert policy.statements[0].principal.aws == frozenset({ROOT, ALICE})
    assert policy.named_principals() == frozenset({ROOT, ALICE})


def test_star_and_aws_star_both_mean_everyone():
    for principal in ("*", {"AWS": "*"}):
        policy = parse_policy(key_doc(key_stmt(Principal=principal)), kind="key")
        assert policy.statements[0].principal.everyone


def test_service_federated_and_session_principals_are_accepted():
    principal = {"Service": ["logs.amazonaws.com"], "Federated": "cognito-identity.amazonaws.com",
                 "AWS": [f"arn:aws:sts::{ACCOUNT}:assumed-role/app/session-1",
                         f"arn:aws:iam::{ACCOUNT}:role/team/app", "AROAEXAMPLEEXAMPLE01"]}
    policy = parse_policy(key_doc(key_stmt(Principal=principal)), kind="key")
    element = policy.statements[0].principal
    assert element.services == frozenset({"logs.amazonaws.com"})
    assert element.federated == frozenset({"cognito-identity.amazonaws.com"})
    assert len(element.aws) == 3


def test_key_policy_sids_may_hold_spaces_and_repeat():
    policy = parse_policy(key_doc(key_stmt(Sid="Allow use of the key"),
                                  key_stmt(Sid="Allow use of the key")), kind="key")
    assert [s.sid for s in policy.statements] == ["Allow use of the key"] * 2
    assert policy.statements[1].label == 'Statement[1] "Allow use of the key"'


def test_a_key_policy_statement_without_action_or_resource_is_accepted_but_inert():
    policy = parse_policy(key_doc(key_stmt(), without(key_stmt(), "Action"),
                                  without(key_stmt(), "Resource")), kind="key")
    assert [s.effective for s in policy.statements] == [True, False, False]
    assert [s.index for s in policy.inert_statements()] == [1, 2]


def test_version_id_and_kind_are_kept():
    policy = parse_policy(key_doc(key_stmt(), Id="key-default-1"), kind="key")
    assert (policy.kind, policy.version, policy.id) == ("key", "2012-10-17", "key-default-1")
    assert policy.allows_variables


def test_an_absent_version_is_kept_as_none_and_reads_variables_literally():
    text = json.dumps({"Statement": [id_stmt(Resource="arn:aws:kms:*:*:key/${aws:username}")]})
    policy = parse_policy(text, kind="identity")
    assert policy.version is None and not policy.allows_variables
    legacy = parse_policy(text.replace('{"Statement"', '{"Version": "2008-10-17", "Statement"'),
                          kind="identity")
    assert legacy.version == "2008-10-17" and not legacy.allows_variables


def test_conditions_are_split_per_operator_and_key_with_canonical_operator_names():
    policy = parse_policy(key_doc(key_stmt(Condition={
        "stringequals": {"kms:EncryptionContext:tenant": "a", "kms:CallerAccount": ACCOUNT},
        "ForAnyValue:StringLikeIfExists": {"kms:EncryptionContextKeys": ["ten*"]},
    })), kind="key")
    conditions = policy.statements[0].conditions
    assert [(c.operator, c.key) for c in conditions] == [
        ("StringEquals", "kms:EncryptionContext:tenant"),
        ("StringEquals", "kms:CallerAccount"),
        ("ForAnyValue:StringLikeIfExists", "kms:EncryptionContextKeys"),
    ]
    last = conditions[2]
    assert (last.base, last.qualifier, last.if_exists, last.negated) == (
        "StringLike", "ForAnyValue", True, False)
    assert last.values == ("ten*",)


def test_every_operator_of_the_spec_parses_with_and_without_if_exists():
    values = {
        "String": "a", "Numeric": 1, "Date": "2030-01-01T00:00:00Z", "Bool": True,
        "BinaryEquals": "QUJD", "IpAddress": "10.0.0.0/8", "NotIpAddress": "::1/128",
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/*",
    }
    operators = {
        "String": ["StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
                   "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"],
        "Numeric": ["NumericEquals", "NumericNotEquals", "NumericLessThan",
                    "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals"],
        "Date": ["DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals",
                 "DateGreaterThan", "DateGreaterThanEquals"],
        "Bool": ["Bool"], "BinaryEquals": ["BinaryEquals"], "IpAddress": ["IpAddress"],
        "NotIpAddress": ["NotIpAddress"],
        "Arn": ["ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"],
    }
    block = {}
    for family, names in operators.items():
        for name in names:
            block[name] = {"aws:x": values[family]}
            block[name + "IfExists"] = {"aws:x": values[family]}
            block["ForAnyValue:" + name] = {"aws:y": [values[family]]}
            block["ForAllValues:" + name] = {"aws:y": [values[family]]}
    block["Null"] = {"aws:z": True}
    policy = parse_policy(key_doc(key_stmt(Condition=block)), kind="key")
    assert len(policy.statements[0].conditions) == len(block)


def test_json_numbers_and_booleans_are_accepted_as_condition_values():
    policy = parse_policy(key_doc(key_stmt(Condition={
        "Bool": {"kms:GrantIsForAWSResource": True},
        "NumericLessThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": [7, "30"]},
    })), kind="key")
    assert [c.values for c in policy.statements[0].conditions] == [(True,), (7, "30")]


def test_a_parsed_policy_is_immutable_and_the_cache_returns_the_same_object():
    text = key_doc(key_stmt())
    policy = parse_policy_cached(text, kind="key")
    assert isinstance(policy, Policy)
    assert parse_policy_cached(text, kind="key") is policy
    with pytest.raises(AttributeError):
        policy.version = "2008-10-17"  # type: ignore[misc]


def test_a_trust_policy_needs_no_resource():
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}),
        kind="trust")
    assert policy.statements[0].resources is None
    assert policy.statements[0].effective
