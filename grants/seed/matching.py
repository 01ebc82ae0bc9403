"""The second check of a seed file: against the database. Each entry is matched with the
existing object it names (its natural key) and annotated with what differs; every problem is
collected; nothing is written.

Principals named in trust and key policies must exist when the policy is applied, as IAM and KMS
require; a principal the file itself declares counts if `applying` creates it first (per
account: customer managed policies, users, roles in file order, then keys).
"""

import hmac
import re

from grants import services as grant_services
from grants.models import AccessKey, Account, ManagedPolicy, Role, User
from grants.selectors import principal_exists
from keys import validation as key_validation
from keys.crypto.rootkey import RootKeyError
from keys.models import MANAGER_CUSTOMER, ORIGIN_AWS_KMS, PENDING_DELETION, Alias, Key

from .entries import (
    AccessKeyEntry,
    AccountEntry,
    KeyEntry,
    ManagedPolicyEntry,
    PrincipalEntry,
    RoleEntry,
    UserEntry,
)
from .parsing import PolicyDocument, Problems, kms_check

SESSION_ARN = re.compile(r"arn:aws:sts::(\d{12}):assumed-role/([^/]+)/.+")


class Declared:
    """The principals the file creates before the entry being checked (see the module doc)."""

    def __init__(self):
        self.arns: set[str] = set()

    def add(self, arn: str) -> None:
        self.arns.add(arn)

    def knows(self, arn: str) -> bool:
        session = SESSION_ARN.fullmatch(arn)
        if session is not None:
            arn = f"arn:aws:iam::{session[1]}:role/{session[2]}"
        return arn in self.arns or principal_exists(arn)


def match_accounts(accounts: list[AccountEntry], problems: Problems) -> None:
    declared = Declared()
    for account in accounts:
        _match_account(account, declared, problems)


def _match_account(account: AccountEntry, declared: Declared, problems: Problems) -> None:
    account.existing = Account.objects.filter(pk=account.id).first()
    if account.alias:
        holder = Account.objects.filter(alias=account.alias).exclude(pk=account.id).first()
        if holder is not None:
            problems.add(f"{account.path}.alias",
                         f"{account.alias} is already the alias of account {holder.id}")
    if account.existing is not None and account.alias \
            and account.existing.alias != account.alias:
        problems.add(f"{account.path}.alias",
                     f"account {account.id} exists with alias {account.existing.alias or '(none)'}"
                     "; the seed does not change account aliases")
    declared.add(f"arn:aws:iam::{account.id}:root")
    for policy in account.policies:
        _match_managed_policy(account, policy, problems)
    for user in account.users:
        _match_user(account, user, problems)
        declared.add(f"arn:aws:iam::{account.id}:user/{user.name}")
    for role in account.roles:
        _match_role(account, role, declared, problems)
        declared.add(role.existing.arn if role.existing
                     else f"arn:aws:iam::{account.id}:role/{role.name}")
    for key in account.keys:
        _match_key(account, key, declared, problems)


# --- IAM ------------------------------------------------------------------------------------

def _match_managed_policy(account: AccountEntry, policy: ManagedPolicyEntry,
                          problems: Problems) -> None:
    if account.existing is None:
        return
    existing = ManagedPolicy.objects.filter(account=account.existing,
                                            name__iexact=policy.name).first()
    if existing is None:
        return
    if existing.name != policy.name:
        problems.add(f"{policy.path}.name", f"the account has policy {existing.name}; IAM "
                                            "policy names are unique regardless of case")
        return
    policy.existing = existing
    if policy.description is not None and existing.description != policy.description:
        problems.add(f"{policy.path}.description",
                     f"policy {policy.name} exists with another description, and IAM cannot "
                     "change a policy's description (keep it, or delete the policy)")
    versions = list(existing.versions.order_by("created_at", "id"))
    default = next((version for version in versions if version.is_default), None)
    policy.document_changes = not policy.document.same_as(default and default.document)
    if policy.document_changes and len(versions) >= grant_services.MAX_POLICY_VERSIONS:
        policy.version_to_delete = next(
            version.version_id for version in versions if not version.is_default)


def _match_user(account: AccountEntry, user: UserEntry, problems: Problems) -> None:
    if account.existing is not None:
        user.existing = User.objects.filter(account=account.existing, name=user.name).first()
    if user.password is not None:
        # check_password first: re-hashing an unchanged password would be a change (a new
        # salt, an audit event) on every run.
        user.password_changes = (user.existing is None
                                 or not user.existing.check_password(user.password))
    new_keys = 0
    for access_key in user.access_keys:
        _match_access_key(account, user, access_key, problems)
        new_keys += access_key.existing is None
    held = user.existing.access_keys.count() if user.existing else 0
    if new_keys and held + new_keys > grant_services.MAX_ACCESS_KEYS_PER_USER:
        problems.add(f"{user.path}.access_keys",
                     f"user {user.name} already has {held} access key(s); with {new_keys} new "
                     f"one(s) it would exceed {grant_services.MAX_ACCESS_KEYS_PER_USER}")
    _match_identity_policies(account, user, user.existing, "user",
                             grant_services.MAX_USER_INLINE_POLICIES_SIZE, problems)


def _match_access_key(account: AccountEntry, user: UserEntry, access_key: AccessKeyEntry,
                      problems: Problems) -> None:
    existing = (AccessKey.objects.select_related("user")
                .filter(access_key_id=access_key.id).first())
    if existing is None:
        return
    owner = existing.user
    if owner.account_id != account.id or owner.name != user.name:
        # Threat: a seed file taking over another principal's credentials.
        problems.add(f"{access_key.path}.id",
                     f"access key {access_key.id} belongs to user {owner.name} of account "
                     f"{owner.account_id}")
        return
    try:
        stored = existing.secret()
    except RootKeyError:
        problems.add(f"{access_key.path}.id", f"the secret of access key {access_key.id} cannot "
                                              "be unwrapped with the current root key")
        return
    if not hmac.compare_digest(stored.encode(), access_key.secret.encode()):
        problems.add(f"{access_key.path}.secret",
                     f"access key {access_key.id} exists with a different secret; a secret cannot "
                     "be changed (delete the access key or use a new id)")
        return
    access_key.existing = existing


def _match_identity_policies(account: AccountEntry, entry: PrincipalEntry, owner, kind: str,
                             inline_limit: int, problems: Problems) -> None:
    """Which managed policies to attach and which inline policies to put; IAM's quotas counted
    with what the user or role already has (the seed never detaches or deletes)."""
    attached = set(owner.attached_policies.values_list("arn", flat=True)) if owner else set()
    entry.to_attach = [ref for ref in entry.policies if ref.arn(account.id) not in attached]
    limit = grant_services.MAX_ATTACHED_POLICIES
    if entry.to_attach and len(attached) + len(entry.to_attach) > limit:
        problems.add(f"{entry.path}.policies",
                     f"{kind} {entry.name} has {len(attached)} managed policies attached; with "
                     f"{len(entry.to_attach)} more it would exceed IAM's quota of {limit}")
    stored = dict(owner.inline_policies.values_list("name", "document")) if owner else {}
    for inline in entry.inline_policies:
        inline.exists = inline.name in stored
        inline.changes = not inline.document.same_as(stored.get(inline.name))
    if not any(inline.changes for inline in entry.inline_policies):
        return
    declared = {inline.name for inline in entry.inline_policies}
    total = (sum(_size(text) for name, text in stored.items() if name not in declared)
             + sum(_size(inline.document.text) for inline in entry.inline_policies))
    if total > inline_limit:
        problems.add(f"{entry.path}.inline_policies",
                     f"the inline policies of {kind} {entry.name} would total {total} "
                     f"characters (white space not counted); IAM allows {inline_limit}")


def _size(text: str) -> int:
    return sum(1 for char in text if not char.isspace())


def _match_role(account: AccountEntry, role: RoleEntry, declared: Declared,
                problems: Problems) -> None:
    if account.existing is not None:
        role.existing = Role.objects.filter(account=account.existing,
                                            name__iexact=role.name).first()
    existing = role.existing
    if existing is not None and existing.name != role.name:
        problems.add(f"{role.path}.name", f"the account has role {existing.name}; IAM role "
                                          "names are unique regardless of case")
        return
    if existing is not None:
        role.trust_changes = not role.trust_policy.same_as(existing.trust_policy)
        for name, value, current in (
                ("description", role.description, existing.description),
                ("max_session_duration", role.max_session_duration,
                 existing.max_session_duration)):
            if value is not None and value != current:
                problems.add(f"{role.path}.{name}",
                             f"role {role.name} exists with {name} {current!r}; the seed does "
                             "not change it")
    if role.trust_changes:
        # IAM refuses a trust policy naming a user or role that does not exist (yet).
        _check_principals(role.trust_policy, f"{role.path}.trust_policy", declared, problems,
                          only=grant_services.IAM_IDENTITY_ARN_PATTERN)
    _match_identity_policies(account, role, existing, "role",
                             grant_services.MAX_ROLE_INLINE_POLICIES_SIZE, problems)


def _check_principals(document: PolicyDocument, path: str, declared: Declared,
                      problems: Problems, *, only=None) -> None:
    for arn in sorted(document.principals):
        if only is not None and not only.fullmatch(arn):
            continue
        if not declared.knows(arn):
            problems.add(path, f"{arn} does not exist and is not declared before this entry "
                               "(a policy may only name principals that exist)")


# --- keys -----------------------------------------------------------------------------------

def _match_key(account: AccountEntry, key: KeyEntry, declared: Declared,
               problems: Problems) -> None:
    if account.existing is not None:
        if key.alias:
            key.existing = _key_by_alias(account, key, problems)
        else:
            key.existing = _key_without_alias(account, key, problems)
    if key.policy is not None:
        key.policy_changes = (key.existing is not None
                              and not key.policy.same_as(key.existing.policy))
        if key.existing is None or key.policy_changes:
            # KMS: "Policy contains a statement with one or more invalid principals."
            _check_principals(key.policy, f"{key.path}.policy", declared, problems)
    if key.existing is None:
        key.tags_to_set = list(key.tags.items())
        key.rotation_changes = key.rotation_days is not None
        return
    key.rotation_changes = key.rotation_days is not None and not (
        key.existing.rotation_enabled
        and key.existing.rotation_period_days == key.rotation_days)
    current = dict(key.existing.tags.values_list("tag_key", "tag_value"))
    key.tags_to_set = [(k, v) for k, v in key.tags.items() if current.get(k) != v]
    kms_check(problems, f"{key.path}.tags", key_validation.validate_tags, key.tags_to_set,
              existing_keys=set(current))


def _key_by_alias(account: AccountEntry, key: KeyEntry, problems: Problems) -> Key | None:
    alias = (Alias.objects.select_related("target_key")
             .filter(account=account.existing, region=key.region, name=key.alias).first())
    if alias is None:
        return None
    target = alias.target_key
    where = f"{key.path}.alias"
    if target is None:
        problems.add(where, f"{key.alias} exists in {key.region} but points at no key")
    elif (target.key_spec, target.key_usage) != (key.spec, key.usage):
        problems.add(where, f"{key.alias} in {key.region} points at key {target.id} with spec "
                            f"{target.key_spec} and usage {target.key_usage}, not {key.spec} and "
                            f"{key.usage}; the seed does not move aliases")
    elif target.key_state == PENDING_DELETION:
        problems.add(where, f"{key.alias} in {key.region} points at key {target.id}, which is "
                            "pending deletion (cancel the deletion, or run kms_reset)")
    else:
        return target
    return None


def _key_without_alias(account: AccountEntry, key: KeyEntry, problems: Problems) -> Key | None:
    candidates = list(
        Key.objects.filter(account=account.existing, region=key.region,
                           key_manager=MANAGER_CUSTOMER, origin=ORIGIN_AWS_KMS,
                           description=key.description, key_spec=key.spec, key_usage=key.usage,
                           aliases__isnull=True)
        .exclude(key_state=PENDING_DELETION)[:2])
    if len(candidates) > 1:
        problems.add(key.path, f"several keys without alias in {key.region} have this "
                               "description, spec and usage; give the entry an alias so the "
                               "seed knows which one it means")
        return None
    return candidates[0] if candidates else None
