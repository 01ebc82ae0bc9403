"""The Key policy tab's default view (kms-spec.md 8.3): Key administrators, Key deletion, Key
users and Other AWS accounts, shown when the key's policy is exactly the console's default
policy (grants.policy.defaults.console_policy_parts); otherwise only the policy view exists.

Each change here is a new ConsoleParts; the view regenerates the policy from it with
console_default_policy and saves it through PutKeyPolicy as the signed-in user (detail_views).
This module reads the account's principals but writes nothing.
"""

import re
from dataclasses import replace

from grants.models import Role
from grants.policy.defaults import ConsoleParts, console_key_type, console_policy_parts
from grants.selectors import principals_of_account

from .models import MANAGER_AWS

ACCOUNT_ID = re.compile(r"\d{12}")
MAX_OTHER_ACCOUNTS = 50
NOT_TEMPLATE = ("The default view is not available because this key policy is not the default "
                "key policy that the console creates (it was changed in policy view or through "
                "the KMS API). You can view and edit the key policy document in policy view.")


class ChangeError(Exception):
    """A change the default view cannot make; `field` names the section it is shown in."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _key_type(key) -> str | None:
    return console_key_type(key.key_spec, key.key_usage)


def parts_of(key, policy_text: str) -> ConsoleParts | None:
    """The default view's parts of the key's policy, or None (policy view only). AWS managed
    keys only have the policy view."""
    if key.key_manager == MANAGER_AWS:
        return None
    return console_policy_parts(policy_text, key.account_id, _key_type(key),
                                key.origin == "EXTERNAL")


def policy_for(key, parts: ConsoleParts) -> str:
    """The console default policy of the key for `parts` (parts_of gave a key type)."""
    return parts.policy(key.account_id, key_type=_key_type(key),
                        external_origin=key.origin == "EXTERNAL")


def _without(values: tuple[str, ...], removed: list[str]) -> tuple[str, ...]:
    return tuple(value for value in values if value not in removed)


def _principal_change(parts, data, field: str, known: set[str], noun: str, plural: str):
    current = getattr(parts, field)
    if data.get("action") == f"add_{noun}":
        arn = data.get("principal", "")
        if arn not in known:
            raise ChangeError(field, "Choose an IAM user or role of this account to add.")
        if arn in current:
            raise ChangeError(field, f"{arn} is already one of the {plural}.")
        return replace(parts, **{field: current + (arn,)})
    removed = [arn for arn in data.getlist("principal") if arn in current]
    if not removed:
        raise ChangeError(field, f"Select the {plural} to remove.")
    return replace(parts, **{field: _without(current, removed)})


def change(parts: ConsoleParts, data, *, account_id: str, known: set[str]) -> ConsoleParts:
    """The parts after the change a default-view form posted (`action` names it); `known` are
    the ARNs of the account's users and roles, the only principals that can be added."""
    action = data.get("action", "")
    if action in ("add_admin", "remove_admin"):
        return _principal_change(parts, data, "admins", known, "admin", "key administrators")
    if action in ("add_user", "remove_user"):
        return _principal_change(parts, data, "users", known, "user", "key users")
    if action == "set_deletion":
        if not parts.admins:
            raise ChangeError("deletion", "Add key administrators first: this setting is part "
                                          "of their permissions.")
        return replace(parts, allow_admins_to_delete=data.get("allow_admins_to_delete") == "on")
    if action == "add_account":
        value = data.get("account_id", "").strip()
        if not ACCOUNT_ID.fullmatch(value):
            raise ChangeError("other_accounts", f"The AWS account ID {value[:64]} is not valid. "
                                                "An AWS account ID is 12 digits.")
        if value == account_id:
            raise ChangeError("other_accounts", "This is the key's own account. Add its users "
                                                "and roles as key users instead.")
        if value in parts.other_accounts:
            raise ChangeError("other_accounts", f"The AWS account {value} can already use "
                                                "this key.")
        if len(parts.other_accounts) >= MAX_OTHER_ACCOUNTS:
            raise ChangeError("other_accounts", f"A key can have at most {MAX_OTHER_ACCOUNTS} "
                                                "other AWS accounts here.")
        return replace(parts, other_accounts=parts.other_accounts + (value,))
    if action == "remove_account":
        removed = [value for value in data.getlist("account_id") if value in parts.other_accounts]
        if not removed:
            raise ChangeError("other_accounts", "Select the AWS accounts to remove.")
        return replace(parts, other_accounts=_without(parts.other_accounts, removed))
    raise ChangeError("policy", "Choose a change to the key policy.")


def _row(arn: str, principal) -> dict:
    if principal is not None:
        return {"arn": arn, "name": principal.name, "path": principal.path,
                "type": "Role" if isinstance(principal, Role) else "User"}
    # A user or role deleted since it was added: the policy still names it.
    return {"arn": arn, "name": arn.rsplit("/", 1)[-1], "path": "-",
            "type": "Role" if ":role/" in arn else "User"}


def context(key, parts: ConsoleParts, principals=None) -> dict:
    """What tabs/policy_default.html shows: the tables' rows and what Add can offer."""
    if principals is None:
        principals = principals_of_account(key.account_id)
    by_arn = {principal.arn: principal for principal in principals}
    return {
        "parts": parts,
        "admin_rows": [_row(arn, by_arn.get(arn)) for arn in parts.admins],
        "user_rows": [_row(arn, by_arn.get(arn)) for arn in parts.users],
        "admin_choices": [_row(p.arn, p) for p in principals if p.arn not in parts.admins],
        "user_choices": [_row(p.arn, p) for p in principals if p.arn not in parts.users],
        "tab_template": "keys/tabs/policy_default.html",
    }
