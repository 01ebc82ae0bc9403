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
import re
from dataclasses import dataclass

__all__ = [
    "KEY_TYPES",
    "ConsoleParts",
    "api_default_policy",
    "console_default_policy",
    "console_key_type",
    "console_policy_parts",
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
# kms-spec.md 5.1 prints the list of the console before on-demand rotation (2024) and says newer
# consoles "may add" kms:RotateKeyOnDemand (unverified). We add it, last, where the key policies
# people copy from today's console have it: without it a key administrator named in the wizard
# could not use the Key rotation tab's "Rotate now". Policies written without it (older consoles,
# the spec's captured document) are still recognised by the default view and kept as they are.
_ADMIN_ROTATION_ACTIONS = ["kms:RotateKeyOnDemand"]

_USER_ACTIONS = {
    "SYMMETRIC_ENCRYPT": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                          "kms:GenerateDataKey*", "kms:DescribeKey"],
    "ASYMMETRIC_ENCRYPT": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey",
                           "kms:GetPublicKey"],
    "SIGN_VERIFY": ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:Verify"],
    "HMAC": ["kms:DescribeKey", "kms:GenerateMac", "kms:VerifyMac"],
}
_GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]


def key_admin_actions(*, allow_admins_to_delete: bool = True, external_origin: bool = False,
                      admins_rotate_on_demand: bool = True) -> list[str]:
    """The actions of "Allow access for Key Administrators", in the console's order.

    kms:ImportKeyMaterial (EXTERNAL origin only) follows kms:Delete*, where the console prints
    it; the deletion pair is dropped when "Allow key administrators to delete this key" is off;
    kms:RotateKeyOnDemand comes last unless `admins_rotate_on_demand` is off (an older console's
    policy, which the default view keeps as it was).
    """
    actions = list(_ADMIN_ACTIONS)
    if external_origin:
        actions.append("kms:ImportKeyMaterial")
    actions += _ADMIN_TAGGING_ACTIONS
    if allow_admins_to_delete:
        actions += _ADMIN_DELETION_ACTIONS
    if admins_rotate_on_demand:
        actions += _ADMIN_ROTATION_ACTIONS
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
                           external_origin: bool = False,
                           admins_rotate_on_demand: bool = True) -> str:
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
                                        external_origin=external_origin,
                                        admins_rotate_on_demand=admins_rotate_on_demand),
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


def console_key_type(key_spec: str, key_usage: str) -> str | None:
    """The console key type (KEY_TYPES) of a key's spec and usage; None when the console has
    no default policy for it (key agreement keys), so its keys only have the policy view."""
    if key_usage == "GENERATE_VERIFY_MAC":
        return "HMAC"
    if key_usage == "SIGN_VERIFY":
        return "SIGN_VERIFY"
    if key_usage == "ENCRYPT_DECRYPT":
        return "SYMMETRIC_ENCRYPT" if key_spec == "SYMMETRIC_DEFAULT" else "ASYMMETRIC_ENCRYPT"
    return None


@dataclass(frozen=True)
class ConsoleParts:
    """What the Key policy tab's default view shows of a console default policy: the choices
    `console_default_policy` was given (kms-spec.md 8.3)."""

    admins: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    other_accounts: tuple[str, ...] = ()
    # Without administrators the policy cannot say; the console's default (checked) is assumed.
    allow_admins_to_delete: bool = True
    # False only for a policy an older console wrote (no kms:RotateKeyOnDemand): a change in the
    # default view must not widen what its administrators may do.
    admins_rotate_on_demand: bool = True

    def policy(self, account_id: str, *, key_type: str, external_origin: bool = False) -> str:
        """The console default policy for these parts."""
        return console_default_policy(
            account_id, admins=list(self.admins), users=list(self.users),
            other_accounts=list(self.other_accounts), key_type=key_type,
            allow_admins_to_delete=self.allow_admins_to_delete, external_origin=external_origin,
            admins_rotate_on_demand=self.admins_rotate_on_demand)


_ACCOUNT_ROOT = re.compile(r"arn:aws:iam::(\d{12}):root")


def _principal_list(statement) -> list[str] | None:
    principal = statement.get("Principal") if isinstance(statement, dict) else None
    arns = principal.get("AWS") if isinstance(principal, dict) else None
    if isinstance(arns, str):
        return [arns]
    if isinstance(arns, list) and arns and all(isinstance(arn, str) for arn in arns):
        return arns
    return None


def console_policy_parts(policy_text: str, account_id: str, key_type: str | None,
                         external_origin: bool = False) -> ConsoleParts | None:
    """The default view's parts of a key policy, or None when the document is not exactly what
    `console_default_policy` generates for some administrators, users and other accounts (a
    hand-edited policy, the API default, a policy of another account): then the console only
    has the policy view. Pure: it parses and compares, it reads nothing.

    "Exactly" is the parsed JSON document: the same members, values, statement order and action
    order; only whitespace and the order of an object's members may differ (the editor may
    re-indent). Administrators and key users must be IAM users or roles of `account_id`, each
    listed once; other accounts are other accounts' roots, after the users, as the console
    writes them.
    """
    if key_type not in KEY_TYPES:
        return None
    try:
        document = json.loads(policy_text)
    except (TypeError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list):
        return None
    by_sid: dict[str, object] = {}
    for statement in document["Statement"]:
        sid = statement.get("Sid") if isinstance(statement, dict) else None
        if not isinstance(sid, str) or sid in by_sid:
            return None
        by_sid[sid] = statement
    admins: list[str] = []
    allow_delete = True
    rotate_on_demand = True
    if "Allow access for Key Administrators" in by_sid:
        statement = by_sid["Allow access for Key Administrators"]
        admins = _principal_list(statement)
        if admins is None:
            return None
        actions = statement.get("Action")
        allow_delete = isinstance(actions, list) and "kms:ScheduleKeyDeletion" in actions
        rotate_on_demand = isinstance(actions, list) and "kms:RotateKeyOnDemand" in actions
    users: list[str] = []
    others: list[str] = []
    if "Allow use of the key" in by_sid:
        key_users = _principal_list(by_sid["Allow use of the key"])
        if key_users is None:
            return None
        for arn in key_users:
            root = _ACCOUNT_ROOT.fullmatch(arn)
            if root and root[1] != account_id:
                others.append(root[1])
            else:
                users.append(arn)
    own = re.compile(rf"arn:aws:iam::{re.escape(account_id)}:(?:user|role)/\S+")
    for arns in (admins, users, others):
        if len(set(arns)) != len(arns):
            return None
    if not all(own.fullmatch(arn) for arn in admins + users):
        return None
    parts = ConsoleParts(admins=tuple(admins), users=tuple(users), other_accounts=tuple(others),
                         allow_admins_to_delete=allow_delete,
                         admins_rotate_on_demand=rotate_on_demand)
    expected = json.loads(parts.policy(account_id, key_type=key_type,
                                       external_origin=external_origin))
    return parts if document == expected else None
