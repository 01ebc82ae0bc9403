"""grants.policy.defaults.console_policy_parts: recognising the console's default key policy
(kms-spec.md 5.1) so the Key policy tab can offer its default view (8.3); anything else, even
one changed character of meaning, is policy view only."""

from __future__ import annotations

import json

import pytest

from grants.policy.defaults import (
    KEY_TYPES,
    ConsoleParts,
    api_default_policy,
    console_default_policy,
    console_key_type,
    console_policy_parts,
    jackson_dumps,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
THIRD = "777788889999"
ADMIN = f"arn:aws:iam::{ACCOUNT}:user/key-admin"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/KeyAdmins"
USER = f"arn:aws:iam::{ACCOUNT}:user/key-user"
PATH_USER = f"arn:aws:iam::{ACCOUNT}:user/team/app"


def policy(**kwargs) -> str:
    kwargs.setdefault("admins", [])
    kwargs.setdefault("users", [])
    kwargs.setdefault("other_accounts", [])
    kwargs.setdefault("key_type", "SYMMETRIC_ENCRYPT")
    return console_default_policy(ACCOUNT, **kwargs)


def edited(text: str, change) -> str:
    document = json.loads(text)
    change(document)
    return jackson_dumps(document)


# --- what matches: every combination the console generates -----------------------------------

@pytest.mark.parametrize("key_type", KEY_TYPES)
@pytest.mark.parametrize("delete", [True, False])
@pytest.mark.parametrize("external", [True, False])
@pytest.mark.parametrize("admins, users, others", [
    ([], [], []),
    ([ADMIN], [], []),
    ([ADMIN, ADMIN_ROLE], [USER], []),
    ([], [USER, PATH_USER], [OTHER]),
    ([ADMIN], [], [OTHER, THIRD]),
    ([ADMIN_ROLE], [USER], [OTHER]),
])
def test_every_generated_policy_gives_back_its_parts(key_type, delete, external, admins, users,
                                                     others):
    text = policy(admins=admins, users=users, other_accounts=others, key_type=key_type,
                  allow_admins_to_delete=delete, external_origin=external)
    parts = console_policy_parts(text, ACCOUNT, key_type, external)
    assert parts is not None
    assert (parts.admins, parts.users, parts.other_accounts) == (
        tuple(admins), tuple(users), tuple(others))
    # Without administrators the policy cannot say; the console's default is assumed.
    assert parts.allow_admins_to_delete is (delete if admins else True)
    assert parts.policy(ACCOUNT, key_type=key_type, external_origin=external) == text


@pytest.mark.parametrize("delete", [True, False])
def test_an_older_consoles_policy_without_rotate_key_on_demand_is_recognised_and_kept(delete):
    older = policy(admins=[ADMIN], users=[USER], allow_admins_to_delete=delete,
                   admins_rotate_on_demand=False)
    assert "kms:RotateKeyOnDemand" not in older
    parts = console_policy_parts(older, ACCOUNT, "SYMMETRIC_ENCRYPT")
    assert parts is not None and parts.admins_rotate_on_demand is False
    # A change in the default view (another key user) does not widen the administrators' rights.
    changed = ConsoleParts(admins=parts.admins, users=(USER, PATH_USER),
                           allow_admins_to_delete=delete, admins_rotate_on_demand=False)
    assert "kms:RotateKeyOnDemand" not in changed.policy(ACCOUNT, key_type="SYMMETRIC_ENCRYPT")


def test_whitespace_and_member_order_do_not_matter():
    text = policy(admins=[ADMIN], users=[USER])
    compact = json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    assert console_policy_parts(compact, ACCOUNT, "SYMMETRIC_ENCRYPT") == ConsoleParts(
        admins=(ADMIN,), users=(USER,))


# --- what does not match -------------------------------------------------------------------

def test_the_api_default_is_not_the_console_template():
    assert console_policy_parts(api_default_policy(ACCOUNT), ACCOUNT, "SYMMETRIC_ENCRYPT") is None


@pytest.mark.parametrize("text", ["", "not json", "[]", "{}", '{"Statement": {}}', "null",
                                  '{"Statement": [1]}', '{"Statement": [{"Sid": 1}]}'])
def test_malformed_documents_are_not_the_template(text):
    assert console_policy_parts(text, ACCOUNT, "SYMMETRIC_ENCRYPT") is None


def test_another_key_type_or_origin_is_not_the_template():
    text = policy(admins=[ADMIN], users=[USER])
    assert console_policy_parts(text, ACCOUNT, "HMAC") is None
    assert console_policy_parts(text, ACCOUNT, "SYMMETRIC_ENCRYPT", True) is None
    assert console_policy_parts(text, ACCOUNT, None) is None
    assert console_policy_parts(text, OTHER, "SYMMETRIC_ENCRYPT") is None


def _drop_action(document):
    document["Statement"][1]["Action"].remove("kms:Get*")


def _add_action(document):
    document["Statement"][2]["Action"].append("kms:Sign")


def _reorder_actions(document):
    document["Statement"][1]["Action"].reverse()


def _add_condition(document):
    document["Statement"][2]["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}


def _deny(document):
    document["Statement"][1]["Effect"] = "Deny"


def _rename(document):
    document["Statement"][1]["Sid"] = "Admins"


def _extra_statement(document):
    document["Statement"].append(dict(document["Statement"][0], Sid="Extra"))


def _duplicate_sid(document):
    document["Statement"].append(document["Statement"][0])


def _swap_statements(document):
    statements = document["Statement"]
    statements[2], statements[3] = statements[3], statements[2]


def _other_id(document):
    document["Id"] = "key-default-1"


def _one_principal_as_list(document):
    document["Statement"][1]["Principal"]["AWS"] = [ADMIN]


def _users_differ_between_statements(document):
    document["Statement"][3]["Principal"]["AWS"] = USER


def _no_delete_pair_half(document):
    document["Statement"][1]["Action"].remove("kms:CancelKeyDeletion")


def _resource(document):
    document["Statement"][0]["Resource"] = "arn:aws:kms:*"


@pytest.mark.parametrize("change", [
    _drop_action, _add_action, _reorder_actions, _add_condition, _deny, _rename,
    _extra_statement, _duplicate_sid, _swap_statements, _other_id, _one_principal_as_list,
    _users_differ_between_statements, _no_delete_pair_half, _resource])
def test_a_hand_edited_policy_is_not_the_template(change):
    text = policy(admins=[ADMIN], users=[USER], other_accounts=[OTHER])
    assert console_policy_parts(text, ACCOUNT, "SYMMETRIC_ENCRYPT") is not None
    assert console_policy_parts(edited(text, change), ACCOUNT, "SYMMETRIC_ENCRYPT") is None


@pytest.mark.parametrize("admins, users, others", [
    ([f"arn:aws:iam::{OTHER}:user/theirs"], [], []),      # another account's user as admin
    ([], [f"arn:aws:iam::{OTHER}:role/theirs"], []),      # ... or as key user
    ([f"arn:aws:iam::{ACCOUNT}:root"], [], []),           # the account itself
    ([], [f"arn:aws:iam::{ACCOUNT}:root"], []),
    (["*"], [], []),
    ([ADMIN, ADMIN], [], []),                             # listed twice
    ([], [USER, USER], []),
    ([], [], [OTHER, OTHER]),
])
def test_principals_the_console_cannot_choose_are_not_the_template(admins, users, others):
    text = policy(admins=admins, users=users, other_accounts=others)
    assert console_policy_parts(text, ACCOUNT, "SYMMETRIC_ENCRYPT") is None


def test_other_accounts_must_follow_the_users():
    text = policy(users=[USER], other_accounts=[OTHER])

    def roots_first(document):
        for statement in document["Statement"][2:]:
            statement["Principal"]["AWS"].reverse()
    assert console_policy_parts(edited(text, roots_first), ACCOUNT, "SYMMETRIC_ENCRYPT") is None


# --- console_key_type ------------------------------------------------------------------------

@pytest.mark.parametrize("spec, usage, expected", [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "SYMMETRIC_ENCRYPT"),
    ("RSA_2048", "ENCRYPT_DECRYPT", "ASYMMETRIC_ENCRYPT"),
    ("RSA_2048", "SIGN_VERIFY", "SIGN_VERIFY"),
    ("ECC_NIST_P256", "SIGN_VERIFY", "SIGN_VERIFY"),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "HMAC"),
    ("ECC_NIST_P256", "KEY_AGREEMENT", None),
])
def test_console_key_type(spec, usage, expected):
    assert console_key_type(spec, usage) == expected
