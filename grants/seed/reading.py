"""The first check of a seed file: its shape. Data in, entries out, every problem collected;
nothing here reads the database (that is `matching`).

Policy documents are parsed here, each as its kind (identity, trust or key), so a malformed one
is reported with its path like any other problem and the whole file is refused before anything
is written. The services check again when they act.
"""

import re

from django.conf import settings

from grants import services as grant_services
from grants.builtin_policies import BUILTIN_POLICIES
from grants.models import (
    ACCOUNT_ID_VALIDATOR,
    IAM_NAME_VALIDATOR,
    MAX_MAX_SESSION_DURATION,
    MIN_MAX_SESSION_DURATION,
    POLICY_NAME_VALIDATOR,
)
from keys import validation as key_validation
from keys.crypto import specs
from keys.rotation import MAX_ROTATION_PERIOD_DAYS, MIN_ROTATION_PERIOD_DAYS
from kmsconsole.errors import KmsError

from .entries import (
    AccessKeyEntry,
    AccountEntry,
    InlinePolicyEntry,
    KeyEntry,
    ManagedPolicyEntry,
    PolicyRef,
    RoleEntry,
    UserEntry,
)
from .parsing import (
    Problems,
    fields,
    join,
    kms_check,
    listed,
    policy_document,
    string,
    type_name,
    valid,
)

TOP_FIELDS = {"accounts"}
ACCOUNT_FIELDS = {"id", "alias", "users", "roles", "policies", "keys"}
USER_FIELDS = {"name", "password", "access_keys", "policies", "inline_policies"}
ACCESS_KEY_FIELDS = {"id", "secret"}
POLICY_FIELDS = {"name", "description", "document"}
ROLE_FIELDS = {"name", "description", "trust_policy", "max_session_duration", "policies",
               "inline_policies"}
KEY_FIELDS = {"alias", "description", "spec", "usage", "region", "tags", "policy",
              "rotation_days"}
ACCOUNT_ALIAS_PATTERN = re.compile(r"[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]")
MAX_IAM_DESCRIPTION = 1000  # IAM: a role's or a managed policy's description
POLICY_NAME_RULE = "use 1-128 letters, digits and + = , . @ _ -"


def read_document(document, problems: Problems) -> list[AccountEntry]:
    if document is None:
        problems.add("", "empty; expected a mapping with 'accounts'")
        return []
    data = fields(document, "", TOP_FIELDS, problems)
    if data is None:
        return []
    return [account for index, item in enumerate(listed(data, "accounts", "", problems))
            if (account := _read_account(item, f"accounts[{index}]", problems))]


def _entries(data: dict, name: str, path: str, problems: Problems, reader) -> list:
    """The entries of list `name`, each read by `reader(item, path, problems)`."""
    return [entry for index, item in enumerate(listed(data, name, path, problems))
            if (entry := reader(item, f"{path}.{name}[{index}]", problems))]


def _read_account(item, path: str, problems: Problems) -> AccountEntry | None:
    data = fields(item, path, ACCOUNT_FIELDS, problems)
    if data is None:
        return None
    account_id = string(data, "id", path, problems, required=True)
    if account_id is not None and not valid(ACCOUNT_ID_VALIDATOR, account_id):
        problems.add(f"{path}.id", "an account id is 12 digits")
    alias = string(data, "alias", path, problems)
    if alias is not None and not _account_alias_ok(alias):
        problems.add(f"{path}.alias", "an account alias is 3-63 lower-case letters, digits and "
                                      "single hyphens, and not only digits")
    # Read in the order a file usually declares them, so that problems are listed that way.
    policies = _entries(data, "policies", path, problems, _read_managed_policy)
    users = _entries(data, "users", path, problems, _read_user)
    roles = _entries(data, "roles", path, problems, _read_role)
    keys = _entries(data, "keys", path, problems, _read_key)
    account = AccountEntry(path, account_id or "", alias, users=users, keys=keys,
                           policies=policies, roles=roles)
    _resolve_policy_names(account, problems)
    return account


def _account_alias_ok(alias: str) -> bool:
    # Threat: an all-digit alias that equals another account's id would make console sign-in
    # (account id or alias) ambiguous.
    return bool(ACCOUNT_ALIAS_PATTERN.fullmatch(alias)) and not alias.isdigit()


# --- users and access keys ------------------------------------------------------------------

def _read_user(item, path: str, problems: Problems) -> UserEntry | None:
    data = fields(item, path, USER_FIELDS, problems)
    if data is None:
        return None
    name = string(data, "name", path, problems, required=True)
    if name is not None and not valid(IAM_NAME_VALIDATOR, name):
        problems.add(f"{path}.name", "use 1-64 letters, digits and + = , . @ _ -")
    password = string(data, "password", path, problems, secret=True)
    if password is not None:
        try:
            grant_services.validate_console_password(password)
        except KmsError as error:
            problems.add(f"{path}.password", error.message)
    access_keys = _entries(data, "access_keys", path, problems, _read_access_key)
    if len(access_keys) > grant_services.MAX_ACCESS_KEYS_PER_USER:
        limit = grant_services.MAX_ACCESS_KEYS_PER_USER
        problems.add(f"{path}.access_keys", f"a user has at most {limit} access keys")
    return UserEntry(
        path, name or "", policies=_read_policy_refs(data, path, problems),
        inline_policies=_read_inline_policies(
            data, path, problems, grant_services.MAX_USER_INLINE_POLICIES_SIZE),
        password=password, access_keys=access_keys)


def _read_access_key(item, path: str, problems: Problems) -> AccessKeyEntry | None:
    data = fields(item, path, ACCESS_KEY_FIELDS, problems)
    if data is None:
        return None
    # Both are required: without an id the entry could not be recognised on the next run, and a
    # generated secret would be useless since the seed never prints secrets.
    access_key_id = string(data, "id", path, problems, required=True)
    secret = string(data, "secret", path, problems, required=True, secret=True)
    for name, value, check in (("id", access_key_id, grant_services.validate_access_key_id),
                               ("secret", secret, grant_services.validate_secret_access_key)):
        if value is not None:
            kms_check(problems, f"{path}.{name}", check, value)
    return AccessKeyEntry(path, access_key_id or "", secret or "")


# --- identity policies: managed, attached by name, inline -----------------------------------

def _read_managed_policy(item, path: str, problems: Problems) -> ManagedPolicyEntry | None:
    data = fields(item, path, POLICY_FIELDS, problems)
    if data is None:
        return None
    name = string(data, "name", path, problems, required=True)
    if name is not None and not valid(POLICY_NAME_VALIDATOR, name):
        problems.add(f"{path}.name", POLICY_NAME_RULE)
    elif name is not None and name.lower() in {builtin.lower() for builtin in BUILTIN_POLICIES}:
        # Users and roles name policies by name alone: which one would they mean?
        problems.add(f"{path}.name", f"{name} is a built-in policy; give yours another name")
    description = _iam_description(data, path, problems)
    if data.get("document") is None:
        problems.add(f"{path}.document", "required")
        return None
    document = policy_document(data["document"], f"{path}.document", problems, kind="identity",
                               max_size=grant_services.MAX_MANAGED_POLICY_SIZE)
    if name is None or document is None:
        return None
    return ManagedPolicyEntry(path, name, description, document)


def _iam_description(data: dict, path: str, problems: Problems) -> str | None:
    description = string(data, "description", path, problems)
    if description is not None and len(description) > MAX_IAM_DESCRIPTION:
        problems.add(f"{path}.description", f"at most {MAX_IAM_DESCRIPTION} characters")
    return description


def _read_policy_refs(data: dict, path: str, problems: Problems) -> list[PolicyRef]:
    """`policies`: managed policy names; which policy each names is resolved per account."""
    refs, seen = [], set()
    for index, name in enumerate(listed(data, "policies", path, problems)):
        where = f"{path}.policies[{index}]"
        if not isinstance(name, str):
            problems.add(where, f"expected a policy name, got {type_name(name)}")
        elif name in seen:
            problems.add(where, f"{name} is listed twice")
        else:
            seen.add(name)
            refs.append(PolicyRef(where, name))
    if len(refs) > grant_services.MAX_ATTACHED_POLICIES:
        problems.add(f"{path}.policies", f"at most {grant_services.MAX_ATTACHED_POLICIES} "
                                         "managed policies can be attached")
    return refs


def _resolve_policy_names(account: AccountEntry, problems: Problems) -> None:
    declared = {policy.name: policy for policy in account.policies}
    for principal in (*account.users, *account.roles):
        for ref in principal.policies:
            if ref.name in declared:
                ref.declared = declared[ref.name]
            elif ref.name not in BUILTIN_POLICIES:
                problems.add(ref.path, f"{ref.name} is neither a built-in policy "
                                       f"({', '.join(BUILTIN_POLICIES)}) nor declared in this "
                                       "account's 'policies'")


def _read_inline_policies(data: dict, path: str, problems: Problems,
                          limit: int) -> list[InlinePolicyEntry]:
    policies = data.get("inline_policies")
    where = f"{path}.inline_policies"
    if policies is None:
        return []
    if not isinstance(policies, dict):
        problems.add(where, f"expected a mapping of policy names to policy documents, got "
                            f"{type_name(policies)}")
        return []
    entries = []
    for name, value in policies.items():
        at = join(where, name)
        if not isinstance(name, str) or not valid(POLICY_NAME_VALIDATOR, name):
            problems.add(at, f"not a policy name: {POLICY_NAME_RULE}")
            continue
        document = policy_document(value, at, problems, kind="identity", max_size=limit)
        if document is not None:
            entries.append(InlinePolicyEntry(at, name, document))
    return entries


# --- roles ----------------------------------------------------------------------------------

def _read_role(item, path: str, problems: Problems) -> RoleEntry | None:
    data = fields(item, path, ROLE_FIELDS, problems)
    if data is None:
        return None
    name = string(data, "name", path, problems, required=True)
    if name is not None and not valid(IAM_NAME_VALIDATOR, name):
        problems.add(f"{path}.name", "use 1-64 letters, digits and + = , . @ _ -")
    trust_policy = None
    if data.get("trust_policy") is None:
        problems.add(f"{path}.trust_policy", "required (who may assume the role)")
    else:
        trust_policy = policy_document(data["trust_policy"], f"{path}.trust_policy", problems,
                                       kind="trust", max_size=grant_services.MAX_TRUST_POLICY_SIZE)
    return RoleEntry(
        path, name or "", policies=_read_policy_refs(data, path, problems),
        inline_policies=_read_inline_policies(
            data, path, problems, grant_services.MAX_ROLE_INLINE_POLICIES_SIZE),
        trust_policy=trust_policy, description=_iam_description(data, path, problems),
        max_session_duration=_read_max_session_duration(data, path, problems))


def _read_max_session_duration(data: dict, path: str, problems: Problems) -> int | None:
    value = data.get("max_session_duration")
    if value is None:
        return None
    low, high = MIN_MAX_SESSION_DURATION, MAX_MAX_SESSION_DURATION
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.add(f"{path}.max_session_duration",
                     f"expected a number of seconds from {low} to {high}")
        return None
    return value


# --- keys -----------------------------------------------------------------------------------

def _read_key(item, path: str, problems: Problems) -> KeyEntry | None:
    data = fields(item, path, KEY_FIELDS, problems)
    if data is None:
        return None
    alias = string(data, "alias", path, problems)
    if alias is not None:
        kms_check(problems, f"{path}.alias",
                  key_validation.validate_alias_name, alias, creating=True)
    description = string(data, "description", path, problems) or ""
    kms_check(problems, f"{path}.description", key_validation.validate_description, description)
    region = string(data, "region", path, problems) or settings.KMS_DEFAULT_REGION
    if region not in settings.KMS_REGIONS:
        problems.add(f"{path}.region", f"{region} is not a region this server serves "
                                       f"({', '.join(settings.KMS_REGIONS)})")
    spec, usage = _read_spec_and_usage(data, path, problems)
    tags = _read_tags(data, path, problems)
    policy = None
    if data.get("policy") is not None:
        policy = policy_document(data["policy"], f"{path}.policy", problems, kind="key",
                                 max_size=key_validation.MAX_POLICY_BYTES)
    return KeyEntry(path, alias, description, spec or "", usage or "", region, tags, policy,
                    rotation_days=_read_rotation_days(data, spec, path, problems))


def _read_rotation_days(data: dict, spec: str | None, path: str,
                        problems: Problems) -> int | None:
    """Automatic rotation every `rotation_days` (EnableKeyRotation's RotationPeriodInDays);
    absent leaves the key's rotation as it is. Only symmetric encryption keys rotate."""
    value = data.get("rotation_days")
    if value is None:
        return None
    low, high = MIN_ROTATION_PERIOD_DAYS, MAX_ROTATION_PERIOD_DAYS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.add(f"{path}.rotation_days", f"expected a number of days from {low} to {high}")
        return None
    if spec is not None and spec != "SYMMETRIC_DEFAULT":
        problems.add(f"{path}.rotation_days", "automatic rotation is for symmetric encryption "
                                              f"keys (SYMMETRIC_DEFAULT), not {spec}")
        return None
    return value


def _read_spec_and_usage(data: dict, path: str, problems: Problems):
    spec = string(data, "spec", path, problems) or "SYMMETRIC_DEFAULT"
    usage = string(data, "usage", path, problems)
    if spec not in specs.KEY_SPECS:
        problems.add(f"{path}.spec", f"{spec} is not a key spec this server implements "
                                     f"({', '.join(specs.KEY_SPECS)})")
        return None, None
    allowed = specs.allowed_usages(spec)
    if usage is None:
        if spec != "SYMMETRIC_DEFAULT":
            problems.add(f"{path}.usage", f"required for spec {spec} ({', '.join(allowed)})")
            return None, None
        usage = "ENCRYPT_DECRYPT"
    if usage not in allowed:
        problems.add(f"{path}.usage", f"{usage} is not a usage of spec {spec} "
                                      f"({', '.join(allowed)})")
        return None, None
    return spec, usage


def _read_tags(data: dict, path: str, problems: Problems) -> dict[str, str]:
    tags = data.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        problems.add(f"{path}.tags", f"expected a mapping of tag keys to values, got "
                                     f"{type_name(tags)}")
        return {}
    result = {}
    for tag_key, tag_value in tags.items():
        if not isinstance(tag_key, str) or not isinstance(tag_value, str):
            problems.add(f"{path}.tags.{tag_key}", "tag keys and values are strings (quote them)")
            continue
        result[tag_key] = tag_value
    kms_check(problems, f"{path}.tags", key_validation.validate_tags, list(result.items()),
              existing_keys=set())
    return result


# --- the file as a whole --------------------------------------------------------------------

def check_duplicates(accounts: list[AccountEntry], problems: Problems) -> None:
    """Two entries naming the same thing: which one would win is not for the seed to guess."""
    seen: dict[tuple, str] = {}

    def once(natural_key: tuple, path: str, what: str) -> None:
        if natural_key in seen:
            problems.add(path, f"{what} is already declared at {seen[natural_key]}")
        else:
            seen[natural_key] = path

    for account in accounts:
        once(("account", account.id), f"{account.path}.id", f"account {account.id}")
        if account.alias:
            once(("account alias", account.alias), f"{account.path}.alias",
                 f"account alias {account.alias}")
        for user in account.users:
            once(("user", account.id, user.name), f"{user.path}.name", f"user {user.name}")
            for access_key in user.access_keys:
                once(("access key", access_key.id), f"{access_key.path}.id",
                     f"access key {access_key.id}")
        # IAM: role and policy names are unique in an account regardless of case.
        for role in account.roles:
            once(("role", account.id, role.name.lower()), f"{role.path}.name",
                 f"role {role.name}")
        for policy in account.policies:
            once(("policy", account.id, policy.name.lower()), f"{policy.path}.name",
                 f"policy {policy.name}")
        for key in account.keys:
            if key.alias:
                once(("alias", account.id, key.region, key.alias), f"{key.path}.alias",
                     f"{key.alias} in {key.region}")
            else:
                once(("unaliased key", account.id, key.region, key.description, key.spec,
                      key.usage), key.path,
                     "a key without alias with the same description, spec and usage")
