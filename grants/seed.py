"""Seed files: declare accounts, users, passwords, access keys, keys, aliases and tags.

The format is design.md's "Seed file format" (YAML; JSON is YAML too). A file is applied in three
steps inside one transaction: `parse` (YAML -> Python), `plan` (check the shape and the database,
collecting every problem; nothing is written) and `apply` (create or change what differs, always
through the services, so each change is authorized and audited like a console click). A file with
any problem changes nothing; a file applied twice changes nothing the second time.

How existing things are recognised (their natural keys):
- an account by its id; a user by its name in the account; an access key by its id (it must
  belong to the same user and have the same secret: a secret cannot be changed);
- a key with an alias by that alias in the key's account and region (the key it points at must
  have the declared spec and usage);
- a key without alias by (description, spec, usage) among the customer managed keys of the
  account and region that have no alias and are not pending deletion: none -> it is created,
  exactly one -> it is that key, several -> error (give the entry an alias).
The seed only creates and changes: what exists but is not in the file is left alone. Changes it
applies to existing things: a user's password, a key's description (keys with an alias) and tag
values; anything else that differs is an error rather than a silent rewrite.
"""

import hmac
import json
import re
from dataclasses import dataclass, field

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from grants import services as grant_services
from grants.models import (
    ACCOUNT_ID_VALIDATOR,
    IAM_NAME_VALIDATOR,
    AccessKey,
    Account,
    User,
)
from grants.principals import Caller
from keys import services as key_services
from keys import validation as key_validation
from keys.crypto import specs
from keys.crypto.rootkey import RootKeyError
from keys.models import MANAGER_CUSTOMER, ORIGIN_AWS_KMS, PENDING_DELETION, Alias, Key
from kmsconsole.errors import KmsError

TOP_FIELDS = {"accounts"}
ACCOUNT_FIELDS = {"id", "alias", "users", "keys"}
USER_FIELDS = {"name", "password", "access_keys"}
ACCESS_KEY_FIELDS = {"id", "secret"}
KEY_FIELDS = {"alias", "description", "spec", "usage", "region", "tags"}
# Part of the format, implemented by later issues. Refused, never ignored: a file that asks for
# a role or a key policy must not seem to have been applied while it was not.
NOT_YET = {
    "roles": "roles", "policies": "managed policies", "inline_policies": "inline policies",
    "policy": "key policies", "rotation_days": "automatic rotation",
}
ACCOUNT_ALIAS_PATTERN = re.compile(r"[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]")


class SeedError(Exception):
    """A seed file that cannot be applied; `problems` lists each one as `path: what is wrong`."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# --- the declared world, as checked by `plan` ----------------------------------------------

@dataclass
class AccessKeyEntry:
    path: str
    id: str
    secret: str
    existing: AccessKey | None = None


@dataclass
class UserEntry:
    path: str
    name: str
    password: str | None
    access_keys: list[AccessKeyEntry]
    existing: User | None = None
    password_changes: bool = False


@dataclass
class KeyEntry:
    path: str
    alias: str | None
    description: str
    spec: str
    usage: str
    region: str
    tags: dict[str, str]
    existing: Key | None = None
    tags_to_set: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class AccountEntry:
    path: str
    id: str
    alias: str | None
    users: list[UserEntry]
    keys: list[KeyEntry]
    existing: Account | None = None


# --- entry point ----------------------------------------------------------------------------

def seed(text: str) -> list[str]:
    """Apply a seed file's text in one transaction; one line per change, [] if nothing changed.

    Raises SeedError (nothing applied) if the file has any problem.
    """
    document = parse(text)
    with transaction.atomic():
        accounts = plan(document)
        return apply(accounts)


def parse(text: str):
    """The file's data; JSON first when it looks like JSON (tabs are not YAML indentation)."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_json_object)
        except ValueError:
            pass  # a YAML flow mapping, or broken: YAML reports where
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as error:
        # Built by hand: PyYAML's own message quotes the offending line, which may hold a secret.
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = "; ".join(part for part in (error.context, error.problem) if part)
        raise SeedError([f"{where}not valid YAML: {what}"]) from None
    except yaml.YAMLError:
        raise SeedError(["not valid YAML"]) from None


def _json_object(pairs):
    result = {}
    for name, value in pairs:
        if name in result:
            raise SeedError([f"duplicate key {name!r}"])
        result[name] = value
    return result


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (YAML would silently keep the last)."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        name = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = name in seen
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {name!r}", key_node.start_mark)
        seen.add(name)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# --- plan: shape ----------------------------------------------------------------------------

class _Problems(list):
    def add(self, path: str, message: str) -> None:
        self.append(f"{path or '(file)'}: {message}")


def _join(path: str, name) -> str:
    return f"{path}.{name}" if path else str(name)


def plan(document) -> list[AccountEntry]:
    """Check the whole file against the format and the database; raise SeedError listing every
    problem, or return the entries annotated with the existing objects they name."""
    problems = _Problems()
    accounts = _read_document(document, problems)
    if not problems:
        # The database checks assume a well-formed file.
        _check_duplicates(accounts, problems)
    if not problems:
        for account in accounts:
            _match_account(account, problems)
    if problems:
        raise SeedError(list(problems))
    return accounts


def _fields(data, path: str, allowed: set[str], problems: _Problems) -> dict | None:
    """`data` as a mapping with only `allowed` fields (unknown and not-yet fields are problems)."""
    if not isinstance(data, dict):
        problems.add(path, f"expected a mapping, got {_type_name(data)}")
        return None
    for name in data:
        where = _join(path, name)
        if name in NOT_YET:
            problems.add(where, f"'{name}' is not supported yet ({NOT_YET[name]} come in a "
                                "later release); remove it from the file")
        elif name not in allowed:
            problems.add(where, "unknown key")
    return data


def _type_name(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__)


def _string(data: dict, name: str, path: str, problems: _Problems, *, required=False,
            secret=False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            problems.add(_join(path, name), "required")
        return None
    if not isinstance(value, str):
        hint = " (quote it)" if isinstance(value, (int, float, bool)) and not secret else ""
        problems.add(_join(path, name), f"expected a string, got {_type_name(value)}{hint}")
        return None
    return value


def _list(data: dict, name: str, path: str, problems: _Problems) -> list:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(_join(path, name), f"expected a list, got {_type_name(value)}")
        return []
    return value


def _read_document(document, problems: _Problems) -> list[AccountEntry]:
    if document is None:
        problems.add("", "empty; expected a mapping with 'accounts'")
        return []
    data = _fields(document, "", TOP_FIELDS, problems)
    if data is None:
        return []
    return [account for index, item in enumerate(_list(data, "accounts", "", problems))
            if (account := _read_account(item, f"accounts[{index}]", problems))]


def _read_account(item, path: str, problems: _Problems) -> AccountEntry | None:
    data = _fields(item, path, ACCOUNT_FIELDS, problems)
    if data is None:
        return None
    account_id = _string(data, "id", path, problems, required=True)
    if account_id is not None and not _valid(ACCOUNT_ID_VALIDATOR, account_id):
        problems.add(f"{path}.id", "an account id is 12 digits")
    alias = _string(data, "alias", path, problems)
    if alias is not None and not _account_alias_ok(alias):
        problems.add(f"{path}.alias", "an account alias is 3-63 lower-case letters, digits and "
                                      "single hyphens, and not only digits")
    users = [user for index, entry in enumerate(_list(data, "users", path, problems))
             if (user := _read_user(entry, f"{path}.users[{index}]", problems))]
    keys = [key for index, entry in enumerate(_list(data, "keys", path, problems))
            if (key := _read_key(entry, f"{path}.keys[{index}]", problems))]
    return AccountEntry(path, account_id or "", alias, users, keys)


def _valid(validator, value: str) -> bool:
    try:
        validator(value)
    except DjangoValidationError:
        return False
    return True


def _account_alias_ok(alias: str) -> bool:
    # Threat: an all-digit alias that equals another account's id would make console sign-in
    # (account id or alias) ambiguous.
    return bool(ACCOUNT_ALIAS_PATTERN.fullmatch(alias)) and not alias.isdigit()


def _read_user(item, path: str, problems: _Problems) -> UserEntry | None:
    data = _fields(item, path, USER_FIELDS, problems)
    if data is None:
        return None
    name = _string(data, "name", path, problems, required=True)
    if name is not None and not _valid(IAM_NAME_VALIDATOR, name):
        problems.add(f"{path}.name", "use 1-64 letters, digits and + = , . @ _ -")
    password = _string(data, "password", path, problems, secret=True)
    if password is not None:
        try:
            grant_services.validate_console_password(password)
        except KmsError as error:
            problems.add(f"{path}.password", error.message)
    access_keys = [key for index, entry in enumerate(_list(data, "access_keys", path, problems))
                   if (key := _read_access_key(entry, f"{path}.access_keys[{index}]", problems))]
    if len(access_keys) > grant_services.MAX_ACCESS_KEYS_PER_USER:
        limit = grant_services.MAX_ACCESS_KEYS_PER_USER
        problems.add(f"{path}.access_keys", f"a user has at most {limit} access keys")
    return UserEntry(path, name or "", password, access_keys)


def _read_access_key(item, path: str, problems: _Problems) -> AccessKeyEntry | None:
    data = _fields(item, path, ACCESS_KEY_FIELDS, problems)
    if data is None:
        return None
    # Both are required: without an id the entry could not be recognised on the next run, and a
    # generated secret would be useless since the seed never prints secrets.
    access_key_id = _string(data, "id", path, problems, required=True)
    secret = _string(data, "secret", path, problems, required=True, secret=True)
    for name, value, check in (("id", access_key_id, grant_services.validate_access_key_id),
                               ("secret", secret, grant_services.validate_secret_access_key)):
        if value is None:
            continue
        try:
            check(value)
        except KmsError as error:
            problems.add(f"{path}.{name}", error.message)
    return AccessKeyEntry(path, access_key_id or "", secret or "")


def _read_key(item, path: str, problems: _Problems) -> KeyEntry | None:
    data = _fields(item, path, KEY_FIELDS, problems)
    if data is None:
        return None
    alias = _string(data, "alias", path, problems)
    if alias is not None:
        _kms_check(problems, f"{path}.alias",
                   key_validation.validate_alias_name, alias, creating=True)
    description = _string(data, "description", path, problems) or ""
    _kms_check(problems, f"{path}.description", key_validation.validate_description, description)
    region = _string(data, "region", path, problems) or settings.KMS_DEFAULT_REGION
    if region not in settings.KMS_REGIONS:
        problems.add(f"{path}.region", f"{region} is not a region this server serves "
                                       f"({', '.join(settings.KMS_REGIONS)})")
    spec, usage = _read_spec_and_usage(data, path, problems)
    tags = _read_tags(data, path, problems)
    return KeyEntry(path, alias, description, spec or "", usage or "", region, tags)


def _read_spec_and_usage(data: dict, path: str, problems: _Problems):
    spec = _string(data, "spec", path, problems) or "SYMMETRIC_DEFAULT"
    usage = _string(data, "usage", path, problems)
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


def _read_tags(data: dict, path: str, problems: _Problems) -> dict[str, str]:
    tags = data.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        problems.add(f"{path}.tags", f"expected a mapping of tag keys to values, got "
                                     f"{_type_name(tags)}")
        return {}
    result = {}
    for tag_key, tag_value in tags.items():
        if not isinstance(tag_key, str) or not isinstance(tag_value, str):
            problems.add(f"{path}.tags.{tag_key}", "tag keys and values are strings (quote them)")
            continue
        result[tag_key] = tag_value
    _kms_check(problems, f"{path}.tags", key_validation.validate_tags, list(result.items()),
               existing_keys=set())
    return result


def _kms_check(problems: _Problems, path: str, check, *args, **kwargs) -> None:
    """Run one of the services' own validators, turning its AWS error into a problem."""
    try:
        check(*args, **kwargs)
    except KmsError as error:
        problems.add(path, error.message)


def _check_duplicates(accounts: list[AccountEntry], problems: _Problems) -> None:
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
        for key in account.keys:
            if key.alias:
                once(("alias", account.id, key.region, key.alias), f"{key.path}.alias",
                     f"{key.alias} in {key.region}")
            else:
                once(("unaliased key", account.id, key.region, key.description, key.spec,
                      key.usage), key.path,
                     "a key without alias with the same description, spec and usage")


# --- plan: against the database -------------------------------------------------------------

def _match_account(account: AccountEntry, problems: _Problems) -> None:
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
    for user in account.users:
        _match_user(account, user, problems)
    for key in account.keys:
        _match_key(account, key, problems)


def _match_user(account: AccountEntry, user: UserEntry, problems: _Problems) -> None:
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


def _match_access_key(account: AccountEntry, user: UserEntry, access_key: AccessKeyEntry,
                      problems: _Problems) -> None:
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


def _match_key(account: AccountEntry, key: KeyEntry, problems: _Problems) -> None:
    if account.existing is None:
        key.tags_to_set = list(key.tags.items())
        return
    if key.alias:
        key.existing = _key_by_alias(account, key, problems)
    else:
        key.existing = _key_without_alias(account, key, problems)
    if key.existing is None:
        key.tags_to_set = list(key.tags.items())
        return
    current = dict(key.existing.tags.values_list("tag_key", "tag_value"))
    key.tags_to_set = [(k, v) for k, v in key.tags.items() if current.get(k) != v]
    _kms_check(problems, f"{key.path}.tags", key_validation.validate_tags, key.tags_to_set,
               existing_keys=set(current))


def _key_by_alias(account: AccountEntry, key: KeyEntry, problems: _Problems) -> Key | None:
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


def _key_without_alias(account: AccountEntry, key: KeyEntry, problems: _Problems) -> Key | None:
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


# --- apply ----------------------------------------------------------------------------------

def apply(accounts: list[AccountEntry]) -> list[str]:
    """Create or change what `plan` found missing or different, through the services."""
    done: list[str] = []
    for account in accounts:
        _apply_account(account, done)
    return done


def _operator(account_id: str, region: str | None = None) -> Caller:
    """Seeding is an operator action: KMS itself acting for the account."""
    return Caller.scheduler(account_id=account_id, region=region or settings.KMS_DEFAULT_REGION)


def _apply_account(account: AccountEntry, done: list[str]) -> None:
    if account.existing is None:
        account.existing = grant_services.account_create(account_id=account.id,
                                                         alias=account.alias)
        done.append(f"created account {account.id}"
                    + (f" (alias {account.alias})" if account.alias else ""))
    for user in account.users:
        _apply_user(account, user, done)
    for key in account.keys:
        _apply_key(account, key, done)


def _apply_user(account: AccountEntry, user: UserEntry, done: list[str]) -> None:
    caller = _operator(account.id)
    where = f"in account {account.id}"
    if user.existing is None:
        user.existing = grant_services.user_create(caller=caller, name=user.name,
                                                   password=user.password)
        done.append(f"created user {user.name} {where}"
                    + (" with a console password" if user.password else ""))
    elif user.password_changes:
        grant_services.user_set_password(caller=caller, user=user.existing,
                                         password=user.password)
        done.append(f"changed the console password of user {user.name} {where}")
    for access_key in user.access_keys:
        if access_key.existing is None:
            grant_services.access_key_create(caller=caller, user=user.existing,
                                             access_key_id=access_key.id,
                                             secret=access_key.secret)
            done.append(f"created access key {access_key.id} for user {user.name} {where}")


def _apply_key(account: AccountEntry, key: KeyEntry, done: list[str]) -> None:
    caller = _operator(account.id, key.region)
    where = f"in account {account.id}, {key.region}"
    if key.existing is None:
        created = key_services.key_create(caller=caller, description=key.description,
                                          key_spec=key.spec, key_usage=key.usage,
                                          tags=key.tags_to_set or None)
        done.append(f"created key {created.id} ({key.spec}, {key.usage}) {where}"
                    + (f" tagged {', '.join(key.tags)}" if key.tags else ""))
        if key.alias:
            key_services.alias_create(caller=caller, alias_name=key.alias,
                                      target_key_id=str(created.id))
            done.append(f"created alias {key.alias} -> key {created.id} {where}")
        return
    key_id = str(key.existing.id)
    if key.existing.description != key.description:
        key_services.key_update_description(caller=caller, key_id=key_id,
                                            description=key.description)
        done.append(f"changed the description of key {key_id} ({key.alias}) {where}")
    if key.tags_to_set:
        key_services.key_tag(caller=caller, key_id=key_id, tags=key.tags_to_set)
        done.append(f"set tags {', '.join(k for k, _ in key.tags_to_set)} on key {key_id} "
                    f"{where}")
