"""IAM services: accounts, users, roles and identity policies. One door, like every service
(authorize -> act -> audit).

Roles and managed policies follow IAM's rules and quotas (kms-spec.md leaves IAM to AWS's own
documentation): names unique per account regardless of case, at most 10 managed policies per
user or role, 5 versions per managed policy, policy sizes counted without white space, and no
deleting what is still in use (DeleteConflict). Policy documents are kept as the text given, after
grants.policy has parsed them (a malformed one is MalformedPolicyDocument with the parser's
message). STS (AssumeRole, GetCallerIdentity) is in grants.sts.
"""

import re
import secrets

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.recording import operation
from grants.authorization import authorize
from grants.policy.document import PolicyError, PolicyTooLargeError, parse_policy
from grants.principals import Caller
from kmsconsole.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    DeleteConflictError,
    LimitExceededError,
    MalformedPolicyDocumentError,
    NoSuchEntityError,
    ValidationError,
)

from .account_settings import password_problems, password_remember
from .builtin_policies import BUILTIN_POLICIES, builtin_policy_arn, builtin_policy_name
from .models import (
    ACCESS_KEY_ID_VALIDATOR,
    AccessKey,
    Account,
    InlinePolicy,
    ManagedPolicy,
    ManagedPolicyVersion,
    Role,
    User,
    new_access_key_id,
    new_secret_access_key,
)
from .selectors import (  # noqa: F401  (identity_policies_for re-exported: the policy selector)
    MAX_IDENTITY_POLICY_SIZE,
    identity_policies_for,
)

IAM = "iam.amazonaws.com"


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def account_create(*, account_id: str, alias: str | None = None) -> Account:
    """Create an account. Accounts are created by operators (bootstrap, seed), so the event is
    recorded as a service event of the new account itself."""
    caller = Caller.scheduler(account_id=account_id, region=settings.KMS_DEFAULT_REGION)
    with operation(caller, "CreateAccount", read_only=False, event_source=IAM,
                   request_parameters={"accountId": account_id, "alias": alias}):
        if Account.objects.filter(pk=account_id).exists():
            raise AlreadyExistsError(f"Account {account_id} already exists.")
        account = Account(id=account_id, alias=alias)
        _full_clean(account)
        account.save()
        return account


def user_create(*, caller: Caller, name: str, password: str | None = None) -> User:
    """CreateUser (+ console password): a new IAM user in the caller's account."""
    with operation(caller, "CreateUser", read_only=False, event_source=IAM,
                   request_parameters={"userName": name}) as op:
        authorize(caller, "iam:CreateUser")
        if User.objects.filter(account_id=caller.account_id, name=name).exists():
            raise AlreadyExistsError(f"User with name {name} already exists.")
        user = User(account_id=caller.account_id, name=name,
                    arn=f"arn:aws:iam::{caller.account_id}:user/{name}")
        _full_clean(user, exclude=["password"])
        user.set_password(password) if password else user.set_unusable_password()
        user.password_changed_at = timezone.now() if password else None
        user.save()
        op.response_elements = {"user": {"userName": name, "arn": user.arn,
                                         "userId": user.unique_id}}
        return user


# --- access keys and passwords (seed files, and later the console's user pages) --------------

MAX_ACCESS_KEYS_PER_USER = 2  # IAM's quota AccessKeysPerUser
# A secret chosen by the operator is a credential like any other: printable ASCII without spaces,
# and long enough not to be guessed (AWS's own secrets are 40 characters).
SECRET_ACCESS_KEY_PATTERN = re.compile(r"[\x21-\x7e]{16,128}")
SECRET_ACCESS_KEY_RULE = ("A secret access key is 16-128 printable ASCII characters "
                          "without spaces.")


def access_key_create(*, caller: Caller, user: User, access_key_id: str | None = None,
                      secret: str | None = None) -> tuple[AccessKey, str]:
    """CreateAccessKey: a new access key for `user`, returned with its secret.

    Both id and secret are generated unless given: fixed ones serve seed files and users' test
    pipelines, which must know their credentials in advance. The secret is returned once, stored
    only wrapped under the root key, and never written to the audit event or to error messages.
    """
    with operation(caller, "CreateAccessKey", read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name}) as op:
        authorize(caller, "iam:CreateAccessKey", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        access_key_id = access_key_id or new_access_key_id()
        validate_access_key_id(access_key_id)
        if secret is None:
            secret = new_secret_access_key()
        validate_secret_access_key(secret)
        if user.access_keys.count() >= MAX_ACCESS_KEYS_PER_USER:
            raise LimitExceededError(
                f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}")
        access_key = AccessKey(access_key_id=access_key_id, user=user)
        access_key.set_secret(secret)
        try:
            with transaction.atomic():
                access_key.save()
        except IntegrityError:
            raise AlreadyExistsError(f"Access key {access_key_id} already exists.") from None
        op.response_elements = {"accessKey": {
            "userName": user.name, "accessKeyId": access_key_id, "status": access_key.status,
            "createDate": access_key.created_at.isoformat()}}
        return access_key, secret


def _full_clean(instance, *, exclude=None) -> None:
    """Model validation in the service's error vocabulary (a Django ValidationError escaping a
    service would be reported as an internal error)."""
    try:
        instance.full_clean(exclude=exclude)
    except DjangoValidationError as error:
        raise ValidationError(" ".join(
            f"{field}: {message}" for field, messages in error.message_dict.items()
            for message in messages)) from None


def validate_access_key_id(access_key_id: str) -> None:
    try:
        ACCESS_KEY_ID_VALIDATOR(access_key_id)
    except DjangoValidationError as error:
        raise ValidationError(" ".join(error.messages)) from None


def validate_secret_access_key(secret: str) -> None:
    # The message never echoes the secret (secrets never reach logs or error messages).
    if not isinstance(secret, str) or not SECRET_ACCESS_KEY_PATTERN.fullmatch(secret):
        raise ValidationError(SECRET_ACCESS_KEY_RULE)


def user_set_password(*, caller: Caller, user: User, password: str,
                      password_reset_required: bool = False) -> User:
    """CreateLoginProfile / UpdateLoginProfile: give `user` a console password or change it.

    The password must pass the configured password validators; the event names the user and
    PasswordResetRequired only (as CloudTrail records them). With `password_reset_required`
    the user's next console sign-in leads to Change password first (grants.passwords).
    """
    event_name = "UpdateLoginProfile" if user.has_usable_password() else "CreateLoginProfile"
    with operation(caller, event_name, read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name,
                                       "passwordResetRequired": password_reset_required}):
        authorize(caller, f"iam:{event_name}", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        validate_console_password(password, user=user)
        password_remember(user)  # the old hash, for the policy's reuse prevention
        user.set_password(password)
        user.password_changed_at = timezone.now()
        user.password_reset_required = bool(password_reset_required)
        user.save(update_fields=["password", "password_changed_at", "password_reset_required"])
        return user


def validate_console_password(password: str, *, user: User | None = None,
                              account_id: str | None = None) -> None:
    """Refuse a console password that breaks the account's password policy (IAM's default
    when it has none; grants.account_settings) or the configured Django validators. The
    account is the user's, or `account_id` for a user about to be created; without either
    (a seed file read before its accounts exist) only Django's validators apply."""
    problems = password_problems(password, user=user, account_id=account_id)
    try:
        validate_password(password, user=user)
    except DjangoValidationError as error:
        problems += error.messages
    if problems:
        raise ValidationError(" ".join(problems))


# --- roles ----------------------------------------------------------------------------------

# IAM quotas, in characters not counting white space (IAM does not count it either).
MAX_TRUST_POLICY_SIZE = 2048        # ACLSizePerRole (default)
MAX_USER_INLINE_POLICIES_SIZE = 2048   # all inline policies of one user together
MAX_ROLE_INLINE_POLICIES_SIZE = MAX_IDENTITY_POLICY_SIZE  # ... of one role together (10240)
MAX_MANAGED_POLICY_SIZE = 6144      # PolicySize
MAX_ATTACHED_POLICIES = 10          # PoliciesPerUser, PoliciesPerRole
MAX_POLICY_VERSIONS = 5
IAM_IDENTITY_ARN_PATTERN = re.compile(r"arn:aws:iam::\d{12}:(user|role)/.+")
POLICY_ARN_PATTERN = re.compile(r"arn:aws:iam::(\d{12}|aws):policy(/|/[\x21-\x7e]*/)([\w+=,.@-]+)")
VERSION_ID_PATTERN = re.compile(r"v[1-9][0-9]*")


def role_create(*, caller: Caller, name: str, trust_policy: str, path: str = "/",
                description: str = "", max_session_duration: int = 3600) -> Role:
    """CreateRole: a new role of the caller's account, assumable as its trust policy says."""
    with operation(caller, "CreateRole", read_only=False, event_source=IAM,
                   request_parameters={"roleName": name, "path": path,
                                       "assumeRolePolicyDocument": trust_policy,
                                       "description": description,
                                       "maxSessionDuration": max_session_duration}) as op:
        arn = f"arn:aws:iam::{caller.account_id}:role{path}{name}"
        authorize(caller, "iam:CreateRole", resource_arn=arn,
                  resource_account_id=caller.account_id)
        role = Role(account_id=caller.account_id, name=name, path=path, arn=arn,
                    description=description, trust_policy=trust_policy,
                    max_session_duration=max_session_duration)
        if isinstance(name, str) and Role.objects.filter(account_id=caller.account_id,
                                                         name__iexact=name).exists():
            raise AlreadyExistsError(f"Role with name {name} already exists.")
        _full_clean(role)
        _check_trust_policy(trust_policy)
        _save_new(role, f"Role with name {name} already exists.")
        op.response_elements = {"role": {
            "roleName": role.name, "path": role.path, "arn": role.arn, "roleId": role.unique_id,
            "createDate": role.created_at.isoformat(),
            "maxSessionDuration": role.max_session_duration}}
        return role


def role_update_trust_policy(*, caller: Caller, role: Role, trust_policy: str) -> Role:
    """UpdateAssumeRolePolicy: replace who may assume `role`. Sessions already issued keep
    running until they expire, as in AWS."""
    with operation(caller, "UpdateAssumeRolePolicy", read_only=False, event_source=IAM,
                   request_parameters={"roleName": role.name,
                                       "policyDocument": trust_policy}):
        authorize(caller, "iam:UpdateAssumeRolePolicy", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        _check_trust_policy(trust_policy)
        role.trust_policy = trust_policy
        role.save(update_fields=["trust_policy"])
        return role


def role_delete(*, caller: Caller, role: Role) -> None:
    """DeleteRole: refused while policies are attached or embedded (IAM's DeleteConflict), so a
    role is never deleted with permissions nobody looked at. Its sessions end with it."""
    with operation(caller, "DeleteRole", read_only=False, event_source=IAM,
                   request_parameters={"roleName": role.name}):
        authorize(caller, "iam:DeleteRole", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        locked = _locked(Role, role)
        if locked.attached_policies.exists():
            raise DeleteConflictError("Cannot delete entity, must detach all policies first.")
        if locked.inline_policies.exists():
            raise DeleteConflictError("Cannot delete entity, must delete policies first.")
        locked.delete()


def _check_trust_policy(document) -> None:
    """A valid trust policy (grants.policy enforces ACLSizePerRole) whose users and roles
    exist: IAM refuses "Invalid principal in policy" rather than trust a name that someone
    could create later."""
    policy = _parse(document, kind="trust", max_size=MAX_TRUST_POLICY_SIZE)
    for name in sorted(policy.named_principals()):
        if not IAM_IDENTITY_ARN_PATTERN.fullmatch(name):
            continue  # an account (root), a unique id or a role session: nothing to look up
        if not (User.objects.filter(arn=name).exists() or Role.objects.filter(arn=name).exists()):
            raise MalformedPolicyDocumentError(f'Invalid principal in policy: "AWS":"{name}"')


# --- inline policies ------------------------------------------------------------------------

def user_put_inline_policy(*, caller: Caller, user: User, policy_name: str,
                           document: str) -> InlinePolicy:
    """PutUserPolicy: add or replace the inline policy `policy_name` of `user`."""
    with operation(caller, "PutUserPolicy", read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name, "policyName": policy_name,
                                       "policyDocument": document}):
        authorize(caller, "iam:PutUserPolicy", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        return _put_inline_policy(_locked(User, user), "user", policy_name, document,
                                  MAX_USER_INLINE_POLICIES_SIZE)


def role_put_inline_policy(*, caller: Caller, role: Role, policy_name: str,
                           document: str) -> InlinePolicy:
    """PutRolePolicy: add or replace the inline policy `policy_name` of `role`."""
    with operation(caller, "PutRolePolicy", read_only=False, event_source=IAM,
                   request_parameters={"roleName": role.name, "policyName": policy_name,
                                       "policyDocument": document}):
        authorize(caller, "iam:PutRolePolicy", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        return _put_inline_policy(_locked(Role, role), "role", policy_name, document,
                                  MAX_ROLE_INLINE_POLICIES_SIZE)


def user_delete_inline_policy(*, caller: Caller, user: User, policy_name: str) -> None:
    """DeleteUserPolicy: remove the inline policy `policy_name` of `user`."""
    with operation(caller, "DeleteUserPolicy", read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name, "policyName": policy_name}):
        authorize(caller, "iam:DeleteUserPolicy", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        _delete_inline_policy(user, "user", policy_name)


def role_delete_inline_policy(*, caller: Caller, role: Role, policy_name: str) -> None:
    """DeleteRolePolicy: remove the inline policy `policy_name` of `role`."""
    with operation(caller, "DeleteRolePolicy", read_only=False, event_source=IAM,
                   request_parameters={"roleName": role.name, "policyName": policy_name}):
        authorize(caller, "iam:DeleteRolePolicy", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        _delete_inline_policy(role, "role", policy_name)


def _put_inline_policy(owner, kind: str, policy_name, document, limit: int) -> InlinePolicy:
    policy = owner.inline_policies.filter(name=policy_name).first() if isinstance(
        policy_name, str) else None
    if policy is None:
        policy = InlinePolicy(name=policy_name, **{kind: owner})
    policy.document = document
    _full_clean(policy, exclude=["user", "role"])
    # The quota is on all of the owner's inline policies together, the new text included.
    others = owner.inline_policies.exclude(pk=policy.pk) if policy.pk else owner.inline_policies
    used = sum(_policy_size(text) for text in others.values_list("document", flat=True))
    _check_size(document, limit - used,
                f"Maximum policy size of {limit} bytes exceeded for {kind} {owner.name}")
    # The aggregate quota above is the only size limit of an inline policy (not PolicySize).
    _parse(document, kind="identity", max_size=limit)
    policy.save()
    _identity_policies_changed(owner)
    return policy


def _delete_inline_policy(owner, kind: str, policy_name) -> None:
    deleted, _ = owner.inline_policies.filter(name=policy_name).delete()
    if not deleted:
        raise NoSuchEntityError(f"The {kind} policy with name {policy_name} cannot be found.")
    _identity_policies_changed(owner)


# --- managed policies -----------------------------------------------------------------------

def managed_policy_create(*, caller: Caller, name: str, document: str, path: str = "/",
                          description: str = "") -> ManagedPolicy:
    """CreatePolicy: a customer managed policy of the caller's account; its document is v1,
    the default version."""
    with operation(caller, "CreatePolicy", read_only=False, event_source=IAM,
                   request_parameters={"policyName": name, "path": path,
                                       "policyDocument": document,
                                       "description": description}) as op:
        arn = f"arn:aws:iam::{caller.account_id}:policy{path}{name}"
        authorize(caller, "iam:CreatePolicy", resource_arn=arn,
                  resource_account_id=caller.account_id)
        message = f"A policy called {name} already exists. Duplicate names are not allowed."
        if isinstance(name, str) and ManagedPolicy.objects.filter(
                account_id=caller.account_id, name__iexact=name).exists():
            raise AlreadyExistsError(message)
        policy = ManagedPolicy(account_id=caller.account_id, name=name, path=path, arn=arn,
                               description=description)
        _full_clean(policy)
        _check_managed_document(document)
        _save_new(policy, message)
        version = ManagedPolicyVersion.objects.create(policy=policy, version_id="v1",
                                                      document=document, is_default=True)
        op.response_elements = {"policy": {
            "policyName": policy.name, "policyId": policy.policy_id, "arn": policy.arn,
            "path": policy.path, "defaultVersionId": version.version_id, "attachmentCount": 0,
            "isAttachable": True, "createDate": policy.created_at.isoformat(),
            "updateDate": policy.updated_at.isoformat()}}
        return policy


def managed_policy_create_version(*, caller: Caller, policy_arn: str, document: str,
                                  set_as_default: bool = False) -> ManagedPolicyVersion:
    """CreatePolicyVersion: a new version of a customer managed policy, in force at once if
    `set_as_default`. At most 5 versions are kept (LimitExceeded: delete one first)."""
    with operation(caller, "CreatePolicyVersion", read_only=False, event_source=IAM,
                   request_parameters={"policyArn": policy_arn, "policyDocument": document,
                                       "setAsDefault": set_as_default}) as op:
        policy = _customer_policy(caller, "iam:CreatePolicyVersion", policy_arn)
        if not isinstance(set_as_default, bool):
            raise ValidationError("SetAsDefault must be true or false.")
        if policy.versions.count() >= MAX_POLICY_VERSIONS:
            raise LimitExceededError(
                f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you "
                "create a new version, you must delete an existing version.")
        _check_managed_document(document)
        policy.last_version_number += 1
        version = ManagedPolicyVersion(policy=policy, document=document,
                                       version_id=f"v{policy.last_version_number}")
        if set_as_default is True:
            policy.versions.filter(is_default=True).update(is_default=False)
            version.is_default = True
            policy.default_version_id = version.version_id
        version.save()
        policy.save(update_fields=["last_version_number", "default_version_id", "updated_at"])
        if version.is_default:
            _identity_policies_changed(*policy.users.all(), *policy.roles.all())
        op.response_elements = {"policyVersion": {
            "versionId": version.version_id, "isDefaultVersion": version.is_default,
            "createDate": version.created_at.isoformat()}}
        return version


def managed_policy_set_default_version(*, caller: Caller, policy_arn: str,
                                       version_id: str) -> ManagedPolicy:
    """SetDefaultPolicyVersion: put another kept version of the policy in force."""
    with operation(caller, "SetDefaultPolicyVersion", read_only=False, event_source=IAM,
                   request_parameters={"policyArn": policy_arn, "versionId": version_id}):
        policy = _customer_policy(caller, "iam:SetDefaultPolicyVersion", policy_arn)
        version = _policy_version(policy, version_id)
        if not version.is_default:
            policy.versions.filter(is_default=True).update(is_default=False)
            version.is_default = True
            version.save(update_fields=["is_default"])
            policy.default_version_id = version.version_id
            policy.save(update_fields=["default_version_id", "updated_at"])
            _identity_policies_changed(*policy.users.all(), *policy.roles.all())
        return policy


def managed_policy_delete_version(*, caller: Caller, policy_arn: str, version_id: str) -> None:
    """DeletePolicyVersion: remove a version that is not the default (the one in force)."""
    with operation(caller, "DeletePolicyVersion", read_only=False, event_source=IAM,
                   request_parameters={"policyArn": policy_arn, "versionId": version_id}):
        policy = _customer_policy(caller, "iam:DeletePolicyVersion", policy_arn)
        version = _policy_version(policy, version_id)
        if version.is_default:
            raise DeleteConflictError("Cannot delete the default version of a policy.")
        version.delete()


def managed_policy_delete(*, caller: Caller, policy_arn: str) -> None:
    """DeletePolicy: refused while the policy is attached to a user or role, or while it keeps
    versions besides the default (IAM's rules: nothing in force disappears by surprise)."""
    with operation(caller, "DeletePolicy", read_only=False, event_source=IAM,
                   request_parameters={"policyArn": policy_arn}):
        policy = _customer_policy(caller, "iam:DeletePolicy", policy_arn)
        if policy.users.exists() or policy.roles.exists():
            raise DeleteConflictError("Cannot delete a policy attached to entities.")
        if policy.versions.count() > 1:
            raise DeleteConflictError(
                "This policy has more than one version. Before you delete a policy, you must "
                "delete the policy's versions. The default version is deleted with the policy.")
        policy.delete()


def _customer_policy(caller: Caller, action: str, policy_arn) -> ManagedPolicy:
    """The customer managed policy `policy_arn`, authorized for `action` and locked for the
    change (two concurrent CreatePolicyVersion calls must not both pass the quota)."""
    match = POLICY_ARN_PATTERN.fullmatch(policy_arn) if isinstance(policy_arn, str) else None
    if match is None:
        raise ValidationError(f"ARN {str(policy_arn)[:2048]} is not valid.")
    owner = match.group(1)
    authorize(caller, action, resource_arn=policy_arn, resource_account_id=owner)
    if owner == "aws":
        # Threat: one account rewriting or deleting a built-in policy every account relies on.
        raise AccessDeniedError(f"User: {caller.principal.arn} is not authorized to perform: "
                                f"{action} on resource: policy {policy_arn}")
    policy = (ManagedPolicy.objects.select_for_update()
              .filter(arn=policy_arn, account_id=owner).first())
    if policy is None:
        raise NoSuchEntityError(f"Policy {policy_arn} was not found.")
    return policy


def _policy_version(policy: ManagedPolicy, version_id) -> ManagedPolicyVersion:
    if not isinstance(version_id, str) or not VERSION_ID_PATTERN.fullmatch(version_id):
        raise ValidationError(f"1 validation error detected: Value '{str(version_id)[:32]}' at "
                              "'versionId' failed to satisfy constraint: Member must satisfy "
                              "regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?")
    version = policy.versions.filter(version_id=version_id).first()
    if version is None:
        raise NoSuchEntityError(
            f"Policy {policy.arn} version {version_id} does not exist or is not attachable.")
    return version


def _check_managed_document(document) -> None:
    # grants.policy enforces the PolicySize quota with IAM's message.
    _parse(document, kind="identity", max_size=MAX_MANAGED_POLICY_SIZE)


# --- attaching managed policies -------------------------------------------------------------

def policy_attach_user(*, caller: Caller, user: User, policy_arn: str) -> None:
    """AttachUserPolicy: attach a customer managed policy of the user's account or a built-in
    one (by its arn:aws:iam::aws:policy/ ARN). Attaching it twice changes nothing."""
    with operation(caller, "AttachUserPolicy", read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name, "policyArn": policy_arn}):
        authorize(caller, "iam:AttachUserPolicy", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        _attach(_locked(User, user), policy_arn, "PoliciesPerUser")


def policy_attach_role(*, caller: Caller, role: Role, policy_arn: str) -> None:
    """AttachRolePolicy: like AttachUserPolicy, for a role."""
    with operation(caller, "AttachRolePolicy", read_only=False, event_source=IAM,
                   request_parameters={"roleName": role.name, "policyArn": policy_arn}):
        authorize(caller, "iam:AttachRolePolicy", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        _attach(_locked(Role, role), policy_arn, "PoliciesPerRole")


def policy_detach_user(*, caller: Caller, user: User, policy_arn: str) -> None:
    """DetachUserPolicy: the policy stops applying to the user's next request."""
    with operation(caller, "DetachUserPolicy", read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name, "policyArn": policy_arn}):
        authorize(caller, "iam:DetachUserPolicy", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        _detach(user, policy_arn)


def policy_detach_role(*, caller: Caller, role: Role, policy_arn: str) -> None:
    """DetachRolePolicy: the policy stops applying to the role's sessions' next request."""
    with operation(caller, "DetachRolePolicy", read_only=False, event_source=IAM,
                   request_parameters={"roleName": role.name, "policyArn": policy_arn}):
        authorize(caller, "iam:DetachRolePolicy", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        _detach(role, policy_arn)


def _attach(owner, policy_arn, quota_name: str) -> None:
    policy = _attachable_policy(owner.account_id, policy_arn)
    attached = owner.attached_policies
    if attached.filter(pk=policy.pk).exists():
        return
    if attached.count() >= MAX_ATTACHED_POLICIES:
        raise LimitExceededError(
            f"Cannot exceed quota for {quota_name}: {MAX_ATTACHED_POLICIES}")
    attached.add(policy)
    _identity_policies_changed(owner)


def _detach(owner, policy_arn) -> None:
    policy = (owner.attached_policies.filter(arn=policy_arn).first()
              if isinstance(policy_arn, str) else None)
    if policy is None:
        raise NoSuchEntityError(f"Policy {str(policy_arn)[:2048]} was not attached.")
    owner.attached_policies.remove(policy)
    _identity_policies_changed(owner)


def _attachable_policy(account_id: str, policy_arn) -> ManagedPolicy:
    """A built-in policy, or a customer managed policy of `account_id` (IAM attaches nothing
    from another account)."""
    message = f"Policy {str(policy_arn)[:2048]} does not exist or is not attachable."
    if not isinstance(policy_arn, str):
        raise ValidationError(message)
    builtin = builtin_policy_name(policy_arn)
    if builtin is not None:
        return _builtin_policy_row(builtin)
    policy = ManagedPolicy.objects.filter(arn=policy_arn, account_id=account_id).first()
    if policy is None:
        raise NoSuchEntityError(message)
    return policy


def _builtin_policy_row(name: str) -> ManagedPolicy:
    """The row that attachments of built-in policy `name` point at, made on first use (see
    ManagedPolicy); its document is never read from the database."""
    policy, _ = ManagedPolicy.objects.get_or_create(
        arn=builtin_policy_arn(name),
        defaults={"account": None, "name": name, "description": BUILTIN_POLICIES[name][0]})
    return policy


# --- shared helpers -------------------------------------------------------------------------

def _identity_policies_changed(*owners) -> None:
    """Bump the policy_version of users and roles whose identity policies just changed, in
    the same transaction: authorization caches parsed identity policies per version, so the
    next request of every web process reads the new ones (grants.authorization)."""
    for owner in owners:
        type(owner).objects.filter(pk=owner.pk).update(policy_version=F("policy_version") + 1)
        owner.refresh_from_db(fields=["policy_version"])


def _parse(document, *, kind: str, max_size: int):
    """Parse a policy document in the service's error vocabulary, with the parser's message."""
    try:
        return parse_policy(document, kind=kind, max_size=max_size)
    except PolicyTooLargeError as error:
        raise LimitExceededError(error.message) from None
    except PolicyError as error:
        raise MalformedPolicyDocumentError(error.message) from None


def _policy_size(document) -> int:
    return len(re.sub(r"\s", "", document)) if isinstance(document, str) else 0


def _check_size(document, limit: int, message: str) -> None:
    if _policy_size(document) > limit:
        raise LimitExceededError(message)


def _locked(model, instance):
    """`instance` re-read and locked for this transaction: quota checks (policies per user,
    inline policy size) must not be passed by two concurrent requests at once."""
    try:
        return model.objects.select_for_update().get(pk=instance.pk)
    except model.DoesNotExist:
        raise NoSuchEntityError(
            f"The {model.__name__.lower()} with name {instance.name} cannot be found.") from None


def _save_new(instance, already_exists: str) -> None:
    """Insert `instance`; a concurrent insert of the same name is AlreadyExists, not a 500."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise AlreadyExistsError(already_exists) from None
