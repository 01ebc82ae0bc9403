"""The built-in (AWS managed) identity policies present in every account (design.md, seed format).

Their documents are defined here and always read from here (never from the database), so every
account sees the same text and an upgrade that changes one takes effect everywhere at once. They
are attached by their ARN, arn:aws:iam::aws:policy/<Name>, like AWS managed policies.
"""

import json

AWS_POLICY_ARN_PREFIX = "arn:aws:iam::aws:policy/"


def _document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


# The key administrator's actions are those of the console's "Allow access for Key
# Administrators" statement (kms-spec.md 5.1): manage keys, never use them cryptographically.
KEY_ADMINISTRATOR_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand", "kms:ImportKeyMaterial",
]

# Reading, not changing: kms:Get* would also match GetParametersForImport, which issues an
# import token and wrapping key for new key material, so the Get actions are listed one by one.
READ_ONLY_ACTIONS = [
    "kms:Describe*", "kms:List*", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
    "kms:GetPublicKey",
]

CHANGE_PASSWORD_POLICY = "IAMUserChangePassword"

BUILTIN_POLICIES: dict[str, tuple[str, str]] = {
    # name: (description, document)
    "AdministratorAccess": (
        "Provides full access to every action and resource.",
        _document({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    ),
    "KMSKeyAdministrator": (
        ("Manage KMS keys (create, describe, enable, disable, tag, schedule deletion, edit "
         "policies) without using them for cryptographic operations."),
        _document({"Effect": "Allow", "Action": KEY_ADMINISTRATOR_ACTIONS, "Resource": "*"}),
    ),
    "KMSReadOnly": (
        "Describe, list and read KMS keys, aliases, policies and grants.",
        _document({"Effect": "Allow", "Action": READ_ONLY_ACTIONS, "Resource": "*"}),
    ),
    # AWS's own policy of this name, with its document: the console attaches it to a user who
    # must create a new password at the next sign-in, so that the user can.
    CHANGE_PASSWORD_POLICY: (
        "Provides the ability for an IAM user to change their own password.",
        _document({"Effect": "Allow", "Action": ["iam:ChangePassword"],
                   "Resource": ["arn:aws:iam::*:user/${aws:username}"]},
                  {"Effect": "Allow", "Action": ["iam:GetAccountPasswordPolicy"],
                   "Resource": "*"}),
    ),
}


def builtin_policy_arn(name: str) -> str:
    return AWS_POLICY_ARN_PREFIX + name


def builtin_policy_name(arn: str) -> str | None:
    """The built-in policy an ARN names, or None."""
    if not arn.startswith(AWS_POLICY_ARN_PREFIX):
        return None
    name = arn[len(AWS_POLICY_ARN_PREFIX):]
    return name if name in BUILTIN_POLICIES else None


def builtin_policy_document(name: str) -> str:
    return BUILTIN_POLICIES[name][1]
