"""The last step of a seed file: create or change what `matching` found missing or different,
always through the services, so each change is authorized and audited like a console click.

Seeding is an operator action: the services run as KMS itself acting for the account (the
scheduler caller), which every authorization allows. That is also why a key policy from the file
passes KMS's lockout safety check at creation: the check asks whether the caller could still
change the policy, and the operator always can. Per account the order is customer managed
policies, users, roles (in file order), keys: each may name what comes before it.
"""

from django.conf import settings

from grants import services as grant_services
from grants.principals import Caller
from keys import rotation as key_rotation
from keys import services as key_services

from .entries import (
    AccountEntry,
    KeyEntry,
    ManagedPolicyEntry,
    PrincipalEntry,
    RoleEntry,
    UserEntry,
)


def apply(accounts: list[AccountEntry]) -> list[str]:
    """Create or change what `plan` found missing or different; one line per change."""
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
    for policy in account.policies:
        _apply_managed_policy(account, policy, done)
    for user in account.users:
        _apply_user(account, user, done)
    for role in account.roles:
        _apply_role(account, role, done)
    for key in account.keys:
        _apply_key(account, key, done)


# --- IAM ------------------------------------------------------------------------------------

def _apply_managed_policy(account: AccountEntry, policy: ManagedPolicyEntry,
                          done: list[str]) -> None:
    caller = _operator(account.id)
    where = f"in account {account.id}"
    if policy.existing is None:
        policy.existing = grant_services.managed_policy_create(
            caller=caller, name=policy.name, document=policy.document.text,
            description=policy.description or "")
        done.append(f"created policy {policy.name} {where}")
        return
    if not policy.document_changes:
        return
    if policy.version_to_delete:
        grant_services.managed_policy_delete_version(
            caller=caller, policy_arn=policy.existing.arn, version_id=policy.version_to_delete)
        done.append(f"deleted version {policy.version_to_delete} of policy {policy.name} {where}"
                    f" (IAM keeps at most {grant_services.MAX_POLICY_VERSIONS} versions)")
    version = grant_services.managed_policy_create_version(
        caller=caller, policy_arn=policy.existing.arn, document=policy.document.text,
        set_as_default=True)
    done.append(f"changed policy {policy.name} {where}: its default version is now "
                f"{version.version_id}")


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
    _apply_identity_policies(account, user, user.existing, "user", done)


def _apply_role(account: AccountEntry, role: RoleEntry, done: list[str]) -> None:
    caller = _operator(account.id)
    where = f"in account {account.id}"
    if role.existing is None:
        role.existing = grant_services.role_create(
            caller=caller, name=role.name, trust_policy=role.trust_policy.text,
            description=role.description or "",
            max_session_duration=role.max_session_duration or 3600)
        done.append(f"created role {role.name} {where}")
    elif role.trust_changes:
        grant_services.role_update_trust_policy(caller=caller, role=role.existing,
                                                trust_policy=role.trust_policy.text)
        done.append(f"changed the trust policy of role {role.name} {where}")
    _apply_identity_policies(account, role, role.existing, "role", done)


def _apply_identity_policies(account: AccountEntry, entry: PrincipalEntry, owner, kind: str,
                             done: list[str]) -> None:
    caller = _operator(account.id)
    where = f"{kind} {entry.name} in account {account.id}"
    put = (grant_services.user_put_inline_policy if kind == "user"
           else grant_services.role_put_inline_policy)
    attach = (grant_services.policy_attach_user if kind == "user"
              else grant_services.policy_attach_role)
    for inline in entry.inline_policies:
        if inline.changes:
            put(caller=caller, policy_name=inline.name, document=inline.document.text,
                **{kind: owner})
            done.append(f"{'changed' if inline.exists else 'put'} inline policy "
                        f"{inline.name} of {where}")
    for ref in entry.to_attach:
        attach(caller=caller, policy_arn=ref.arn(account.id), **{kind: owner})
        done.append(f"attached policy {ref.name} to {where}")


# --- keys -----------------------------------------------------------------------------------

def _apply_key(account: AccountEntry, key: KeyEntry, done: list[str]) -> None:
    caller = _operator(account.id, key.region)
    where = f"in account {account.id}, {key.region}"
    if key.existing is None:
        created = key_services.key_create(caller=caller, description=key.description,
                                          key_spec=key.spec, key_usage=key.usage,
                                          policy=key.policy.text if key.policy else None,
                                          tags=key.tags_to_set or None)
        done.append(f"created key {created.id} ({key.spec}, {key.usage}) {where}"
                    + (f" tagged {', '.join(key.tags)}" if key.tags else "")
                    + (" with the declared key policy" if key.policy else ""))
        if key.alias:
            key_services.alias_create(caller=caller, alias_name=key.alias,
                                      target_key_id=str(created.id))
            done.append(f"created alias {key.alias} -> key {created.id} {where}")
        _apply_rotation(caller, key, str(created.id), f"key {created.id}", where, done)
        return
    key_id = str(key.existing.id)
    named = f"key {key_id}" + (f" ({key.alias})" if key.alias else "")
    if key.existing.description != key.description:
        key_services.key_update_description(caller=caller, key_id=key_id,
                                            description=key.description)
        done.append(f"changed the description of {named} {where}")
    if key.tags_to_set:
        key_services.key_tag(caller=caller, key_id=key_id, tags=key.tags_to_set)
        done.append(f"set tags {', '.join(k for k, _ in key.tags_to_set)} on key {key_id} "
                    f"{where}")
    if key.policy_changes:
        key_services.key_put_policy(caller=caller, key_id=key_id, policy=key.policy.text)
        done.append(f"changed the key policy of {named} {where}")
    _apply_rotation(caller, key, key_id, named, where, done)


def _apply_rotation(caller, key: KeyEntry, key_id: str, named: str, where: str,
                    done: list[str]) -> None:
    if key.rotation_changes:
        key_rotation.key_rotation_enable(caller=caller, key_id=key_id,
                                         rotation_period_days=key.rotation_days)
        done.append(f"enabled automatic rotation every {key.rotation_days} days for {named} "
                    f"{where}")
