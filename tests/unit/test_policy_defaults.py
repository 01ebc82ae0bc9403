"""grants.policy.defaults: the API's and the console's default key policies (kms-spec.md 5.1)."""

from __future__ import annotations

import json

import pytest

from grants.policy import (
    KEY_TYPES,
    PrincipalInfo,
    Request,
    api_default_policy,
    console_default_policy,
    evaluate,
    parse_policy,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
ADMIN = f"arn:aws:iam::{ACCOUNT}:user/key-admin"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/KeyAdmins"
USER = f"arn:aws:iam::{ACCOUNT}:user/key-user"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

API_DEFAULT = """{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"""

CONSOLE_SYMMETRIC = """{
  "Id" : "key-consolepolicy-3",
  "Version" : "2012-10-17",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  }, {
    "Sid" : "Allow access for Key Administrators",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:user/key-admin"
    },
    "Action" : [ "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", \
"kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", \
"kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion" ],
    "Resource" : "*"
  }, {
    "Sid" : "Allow use of the key",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:user/key-user"
    },
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", \
"kms:DescribeKey" ],
    "Resource" : "*"
  }, {
    "Sid" : "Allow attachment of persistent resources",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:user/key-user"
    },
    "Action" : [ "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant" ],
    "Resource" : "*",
    "Condition" : {
      "Bool" : {
        "kms:GrantIsForAWSResource" : "true"
      }
    }
  } ]
}"""

USER_ACTIONS = {
    "SYMMETRIC_ENCRYPT": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                          "kms:GenerateDataKey*", "kms:DescribeKey"],
    "ASYMMETRIC_ENCRYPT": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey",
                           "kms:GetPublicKey"],
    "SIGN_VERIFY": ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:Verify"],
    "HMAC": ["kms:DescribeKey", "kms:GenerateMac", "kms:VerifyMac"],
}


def console(**overrides) -> dict:
    arguments = {"admins": [ADMIN], "users": [USER], "other_accounts": [],
                 "key_type": "SYMMETRIC_ENCRYPT", **overrides}
    return json.loads(console_default_policy(ACCOUNT, **arguments))


def sids(document: dict) -> list[str]:
    return [statement["Sid"] for statement in document["Statement"]]


def principal(arn: str) -> PrincipalInfo:
    return PrincipalInfo(arn=arn, account_id=arn.split(":")[4], type="IAMUser",
                         username=arn.rsplit("/", 1)[-1])


def allowed(policy_text: str, who: str, action: str, **request) -> bool:
    policy = parse_policy(policy_text, kind="key")
    caller = principal(who)
    return evaluate(Request(principal=caller, action=action, resource_arn=KEY_ARN,
                            resource_account_id=ACCOUNT, **request),
                    key_policy=policy).allowed


def test_the_api_default_policy_is_exactly_what_aws_returns():
    assert api_default_policy(ACCOUNT) == API_DEFAULT


def test_keys_policies_still_exports_the_api_default_and_jackson_dumps():
    from keys import policies
    assert policies.api_default_policy(ACCOUNT) == API_DEFAULT
    assert policies.jackson_dumps({"a": [1, {}]}) == '{\n  "a" : [ 1, { } ]\n}'


def test_the_console_default_for_a_symmetric_key_is_printed_exactly_as_aws_prints_it():
    # CONSOLE_SYMMETRIC is kms-spec.md 5.1's document, from a console before on-demand rotation.
    assert console_default_policy(ACCOUNT, admins=[ADMIN], users=[USER], other_accounts=[],
                                  key_type="SYMMETRIC_ENCRYPT",
                                  admins_rotate_on_demand=False) == CONSOLE_SYMMETRIC


def test_todays_console_default_adds_rotate_key_on_demand_after_the_deletion_pair():
    today = console_default_policy(ACCOUNT, admins=[ADMIN], users=[USER], other_accounts=[],
                                   key_type="SYMMETRIC_ENCRYPT")
    assert today == CONSOLE_SYMMETRIC.replace(
        '"kms:CancelKeyDeletion" ]', '"kms:CancelKeyDeletion", "kms:RotateKeyOnDemand" ]')


def test_a_key_administrator_of_a_console_key_may_rotate_it_on_demand_but_not_use_it():
    text = console_default_policy(ACCOUNT, admins=[ADMIN], users=[USER], other_accounts=[],
                                  key_type="SYMMETRIC_ENCRYPT")
    assert allowed(text, ADMIN, "kms:RotateKeyOnDemand")
    assert not allowed(text, ADMIN, "kms:Encrypt")
    assert not allowed(text, USER, "kms:RotateKeyOnDemand")


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_the_console_default_has_the_four_statements_in_order_with_the_key_types_actions(
        key_type):
    document = console(key_type=key_type)
    assert document["Id"] == "key-consolepolicy-3"
    assert list(document) == ["Id", "Version", "Statement"]
    assert sids(document) == ["Enable IAM User Permissions", "Allow access for Key Administrators",
                              "Allow use of the key", "Allow attachment of persistent resources"]
    assert document["Statement"][2]["Action"] == USER_ACTIONS[key_type]
    assert document["Statement"][3]["Action"] == ["kms:CreateGrant", "kms:ListGrants",
                                                  "kms:RevokeGrant"]
    assert all(statement["Resource"] == "*" for statement in document["Statement"])


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_every_console_default_parses_as_a_key_policy(key_type):
    text = console_default_policy(ACCOUNT, admins=[ADMIN, ADMIN_ROLE], users=[USER],
                                  other_accounts=[OTHER], key_type=key_type)
    policy = parse_policy(text, kind="key")
    assert len(policy.statements) == 4
    assert policy.inert_statements() == ()


def test_without_administrators_the_administrators_statement_is_omitted():
    assert sids(console(admins=[])) == ["Enable IAM User Permissions", "Allow use of the key",
                                        "Allow attachment of persistent resources"]


def test_without_users_or_other_accounts_the_two_use_statements_are_omitted():
    assert sids(console(users=[])) == ["Enable IAM User Permissions",
                                       "Allow access for Key Administrators"]


def test_with_nobody_chosen_only_the_account_statement_remains():
    assert sids(console(admins=[], users=[])) == ["Enable IAM User Permissions"]


def test_other_accounts_join_the_key_users_as_their_account_root():
    document = console(users=[], other_accounts=[OTHER])
    assert document["Statement"][2]["Principal"] == {"AWS": f"arn:aws:iam::{OTHER}:root"}
    both = console(other_accounts=[OTHER])
    assert both["Statement"][2]["Principal"] == {"AWS": [USER, f"arn:aws:iam::{OTHER}:root"]}
    assert both["Statement"][3]["Principal"] == both["Statement"][2]["Principal"]


def test_one_principal_prints_as_a_string_several_as_a_list():
    assert console(admins=[ADMIN])["Statement"][1]["Principal"] == {"AWS": ADMIN}
    assert console(admins=[ADMIN, ADMIN_ROLE])["Statement"][1]["Principal"] == {
        "AWS": [ADMIN, ADMIN_ROLE]}


def test_unchecking_allow_deletion_drops_schedule_and_cancel_key_deletion():
    actions = console(allow_admins_to_delete=False)["Statement"][1]["Action"]
    assert "kms:ScheduleKeyDeletion" not in actions
    assert "kms:CancelKeyDeletion" not in actions
    assert actions[-3:] == ["kms:TagResource", "kms:UntagResource", "kms:RotateKeyOnDemand"]


def test_an_external_origin_key_lets_administrators_import_key_material():
    actions = console(external_origin=True)["Statement"][1]["Action"]
    assert "kms:ImportKeyMaterial" in actions
    assert "kms:ImportKeyMaterial" not in console()["Statement"][1]["Action"]


def test_the_persistent_resources_statement_requires_grant_is_for_aws_resource():
    condition = console()["Statement"][3]["Condition"]
    assert condition == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_an_unknown_key_type_is_refused():
    with pytest.raises(ValueError, match="key_type"):
        console_default_policy(ACCOUNT, admins=[], users=[], other_accounts=[],
                               key_type="SYMMETRIC_DEFAULT")


# --- what the generated policy allows -------------------------------------------------------

@pytest.fixture
def symmetric_policy() -> str:
    return console_default_policy(ACCOUNT, admins=[ADMIN], users=[USER], other_accounts=[OTHER],
                                  key_type="SYMMETRIC_ENCRYPT")


def test_a_key_administrator_can_schedule_deletion_but_not_encrypt(symmetric_policy):
    assert allowed(symmetric_policy, ADMIN, "kms:ScheduleKeyDeletion")
    assert allowed(symmetric_policy, ADMIN, "kms:PutKeyPolicy")
    assert allowed(symmetric_policy, ADMIN, "kms:DescribeKey")
    assert not allowed(symmetric_policy, ADMIN, "kms:Encrypt", encryption_context={})
    assert not allowed(symmetric_policy, ADMIN, "kms:Decrypt", encryption_context={})


def test_a_key_user_can_encrypt_but_not_schedule_deletion(symmetric_policy):
    assert allowed(symmetric_policy, USER, "kms:Encrypt", encryption_context={})
    assert allowed(symmetric_policy, USER, "kms:ReEncryptFrom", encryption_context={})
    assert allowed(symmetric_policy, USER, "kms:GenerateDataKeyWithoutPlaintext",
                   encryption_context={})
    assert not allowed(symmetric_policy, USER, "kms:ScheduleKeyDeletion")
    assert not allowed(symmetric_policy, USER, "kms:PutKeyPolicy")


def test_a_key_user_may_create_grants_only_for_aws_resources(symmetric_policy):
    assert allowed(symmetric_policy, USER, "kms:CreateGrant",
                   context={"kms:GrantIsForAWSResource": True})
    assert not allowed(symmetric_policy, USER, "kms:CreateGrant",
                       context={"kms:GrantIsForAWSResource": False})
    assert not allowed(symmetric_policy, USER, "kms:CreateGrant")


def test_without_deletion_rights_a_key_administrator_cannot_schedule_deletion():
    text = console_default_policy(ACCOUNT, admins=[ADMIN], users=[], other_accounts=[],
                                  key_type="SYMMETRIC_ENCRYPT", allow_admins_to_delete=False)
    assert not allowed(text, ADMIN, "kms:ScheduleKeyDeletion")
    assert allowed(text, ADMIN, "kms:DisableKey")


def test_a_signing_key_user_can_sign_but_not_encrypt():
    text = console_default_policy(ACCOUNT, admins=[], users=[USER], other_accounts=[],
                                  key_type="SIGN_VERIFY")
    assert allowed(text, USER, "kms:Sign")
    assert not allowed(text, USER, "kms:Encrypt")


def test_someone_not_named_is_denied_without_an_identity_policy(symmetric_policy):
    stranger = f"arn:aws:iam::{ACCOUNT}:user/stranger"
    assert not allowed(symmetric_policy, stranger, "kms:DescribeKey")
