"""Default key policies (kms-spec.md section 5.1), printed the way AWS prints them.

GetKeyPolicy returns a policy string as stored; AWS's generated defaults are pretty-printed in
Jackson's style (`"Key" : value`, two-space indent, `[ {` ... `} ]`), so ours are too.

- `api_default_policy`: what CreateKey gives a key when the request has no Policy.
- `console_default_policy`: what the console's Create key wizard generates from its steps 3 and 4
  (key administrators, key users, other AWS accounts). Statement order, Sids and action lists are
  AWS's; a single principal is printed as a string and several as a list, as AWS prints them.
"""

from __future__ import annotations

import json

__all__ = [
    "KEY_TYPES",
    "api_default_policy",
    "console_default_policy",
    "jackson_dumps",
    "key_admin_actions",
    "key_user_actions",
]


def jackson_dumps(value, indent: int = 0) -> str:
    """Serialise like Jackson's default pretty printer, which AWS uses for generated policies."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{ }"
        members = [f"{inner}{json.dumps(k)} : {jackson_dumps(v, indent + 1)}"
                   for k, v in value.items()]
        return "{\n" + ",\n".join(members) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[ ]"
        # Jackson keeps array items on the bracket's line, separated by ", ".
        return "[ " + ", ".join(jackson_dumps(item, indent) for item in value) + " ]"
    return json.dumps(value)


def _account_root(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def api_default_policy(account_id: str) -> str:
    """The policy CreateKey gives a key when the request has no Policy."""
    return jackson_dumps({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": _account_root(account_id)},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })


# The console's key types (wizard step 1), named after the key usage they give.
KEY_TYPES = ("SYMMETRIC_ENCRYPT", "ASYMMETRIC_ENCRYPT", "SIGN_VERIFY", "HMAC")

_ADMIN_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
]
_ADMIN_TAGGING_ACTIONS = ["kms:TagResource", "kms:UntagResource"]
_ADMIN_DELETION_ACTIONS = ["kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]

_USER_ACTIONS = {
    "SYMMETRIC_ENCRYPT": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                          "kms:GenerateDataKey*", "kms:DescribeKey"],
    "ASYMMETRIC_ENCRYPT": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey",
                           "kms:GetPublicKey"],
    "SIGN_VERIFY": ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:Verify"],
    "HMAC": ["kms:DescribeKey", "kms:GenerateMac", "kms:VerifyMac"],
}
_GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]


def key_admin_actions(*, allow_admins_to_delete: bool = True,
                      external_origin: bool = False) -> list[str]:
    """The actions of "Allow access for Key Administrators", in the console's order.

    kms:ImportKeyMaterial (EXTERNAL origin only) follows kms:Delete*, where the console prints
    it; the deletion pair is dropped when "Allow key administrators to delete this key" is off.
    """
    actions = list(_ADMIN_ACTIONS)
    if external_origin:
        actions.append("kms:ImportKeyMaterial")
    actions += _ADMIN_TAGGING_ACTIONS
    if allow_admins_to_delete:
        actions += _ADMIN_DELETION_ACTIONS
    return actions


def key_user_actions(key_type: str) -> list[str]:
    """The actions of "Allow use of the key" for a console key type."""
    if key_type not in _USER_ACTIONS:
        raise ValueError(f"key_type must be one of {', '.join(KEY_TYPES)}, not {key_type!r}")
    return list(_USER_ACTIONS[key_type])


def _principal(arns: list[str]) -> dict:
    # AWS prints one principal as a string and several as a list.
    return {"AWS": arns[0] if len(arns) == 1 else list(arns)}


def console_default_policy(account_id: str, *, admins: list[str], users: list[str],
                           other_accounts: list[str], key_type: str,
                           allow_admins_to_delete: bool = True,
                           external_origin: bool = False) -> str:
    """The key policy the Create key wizard generates (kms-spec.md 5.1, console default).

    `admins` and `users` are IAM user/role ARNs; `other_accounts` are 12-digit account ids, which
    join the key users as their account root. The administrators' statement is omitted without
    administrators; the two users' statements are omitted without users or other accounts.
    "Allow attachment of persistent resources" is generated for every key type (kms-spec says
    "for most key types"; the console's exceptions are not documented).
    """
    actions = key_user_actions(key_type)  # validates key_type before anything is built
    statements: list[dict] = [{
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": _account_root(account_id)},
        "Action": "kms:*",
        "Resource": "*",
    }]
    if admins:
        statements.append({
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": _principal(admins),
            "Action": key_admin_actions(allow_admins_to_delete=allow_admins_to_delete,
                                        external_origin=external_origin),
            "Resource": "*",
        })
    key_users = list(users) + [_account_root(other) for other in other_accounts]
    if key_users:
        statements.append({
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": _principal(key_users),
            "Action": actions,
            "Resource": "*",
        })
        statements.append({
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": _principal(key_users),
            "Action": list(_GRANT_ACTIONS),
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        })
    # The console prints Id before Version (unlike the API default).
    return jackson_dumps({
        "Id": "key-consolepolicy-3",
        "Version": "2012-10-17",
        "Statement": statements,
    })
