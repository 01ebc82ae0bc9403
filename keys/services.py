"""Key services: lifecycle, aliases and tags. Every function is one door.

Each service is keyword-only, takes a Caller, and runs `authorize -> act -> audit` inside
`audit.recording.operation` (one transaction; failures audited too). Cryptographic operations
are in keys/operations.py.
"""

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import selectors as audit_selectors
from audit.recording import operation
from grants.authorization import authorize, decide
from grants.grant_tokens import require_valid_grant_tokens
from grants.models import Account
from grants.principals import Caller
from grants.selectors import principal_exists
from kmsconsole.errors import (
    AlreadyExistsError,
    CustomKeyStoreNotFoundError,
    InvalidMarkerError,
    LimitExceededError,
    MalformedPolicyDocumentError,
    NotFoundError,
    UnsupportedOperationError,
    ValidationError,
)

from . import selectors, states, validation
from .access import authorize_key, locked, open_key
from .crypto import specs
from .crypto.material import generate_key_material
from .materials import add_material
from .models import (
    DISABLED,
    ENABLED,
    MANAGER_CUSTOMER,
    ORIGIN_AWS_KMS,
    ORIGIN_EXTERNAL,
    PENDING_DELETION,
    PENDING_IMPORT,
    Alias,
    Key,
    Tag,
)
from .policies import api_default_policy

MAX_ALIASES_PER_KEY = 50
DEFAULT_PENDING_WINDOW_DAYS = 30


# --- creation -------------------------------------------------------------------------------

def _validate_spec_and_usage(key_spec: str, key_usage: str | None) -> str:
    validation.require_enum("keySpec", key_spec, specs.ALL_KEY_SPECS)
    if key_spec not in specs.KEY_SPECS:
        raise UnsupportedOperationError(f"KeySpec {key_spec} is not supported by this service.")
    if key_usage is None:
        if key_spec != "SYMMETRIC_DEFAULT":
            raise ValidationError("You must specify a KeyUsage value for all KMS keys except "
                                  "for symmetric encryption keys.")
        return "ENCRYPT_DECRYPT"
    validation.require_enum("keyUsage", key_usage, specs.KEY_USAGES)
    if key_usage not in specs.allowed_usages(key_spec):
        raise ValidationError(f"KeyUsage {key_usage} is not compatible with KeySpec {key_spec}")
    return key_usage


def key_create(*, caller: Caller, description: str = "", key_spec: str = "SYMMETRIC_DEFAULT",
               key_usage: str | None = None, origin: str = ORIGIN_AWS_KMS,
               policy: str | None = None, tags: list[tuple[str, str]] | None = None,
               multi_region: bool = False, bypass_policy_lockout_safety_check: bool = False,
               customer_master_key_spec: str | None = None,
               custom_key_store_id: str | None = None) -> Key:
    """CreateKey: a new key with fresh material (or none yet, for EXTERNAL origin)."""
    params = {"description": description, "keySpec": key_spec, "keyUsage": key_usage,
              "origin": origin, "multiRegion": multi_region,
              "bypassPolicyLockoutSafetyCheck": bypass_policy_lockout_safety_check}
    if customer_master_key_spec:
        params["customerMasterKeySpec"] = customer_master_key_spec
    if policy is not None:
        params["policy"] = policy
    if tags:
        params["tags"] = [{"tagKey": k, "tagValue": v} for k, v in tags]
    with operation(caller, "CreateKey", read_only=False,
                   request_parameters={k: v for k, v in params.items() if v is not None}) as op:
        authorize(caller, "kms:CreateKey", context=_create_key_condition_keys(
            key_spec, key_usage, origin, multi_region, bypass_policy_lockout_safety_check, tags))
        if tags:
            authorize(caller, "kms:TagResource", context=_tag_condition_keys(tags))
        if customer_master_key_spec and key_spec == "SYMMETRIC_DEFAULT":
            key_spec = customer_master_key_spec
        key_usage = _validate_spec_and_usage(key_spec, key_usage)
        validation.validate_description(description)
        validation.validate_tags(tags or [], existing_keys=set())
        if origin not in (ORIGIN_AWS_KMS, ORIGIN_EXTERNAL):
            validation.require_enum("origin", origin,
                                    ["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"])
            raise UnsupportedOperationError("Custom key stores are not supported by this service.")
        if multi_region:
            raise UnsupportedOperationError("Multi-Region keys are not supported by this service.")
        require_no_custom_key_store(custom_key_store_id)
        account = Account.objects.get(pk=caller.account_id)
        key = Key(
            account=account, region=caller.region, description=description, key_spec=key_spec,
            key_usage=key_usage, origin=origin, key_manager=MANAGER_CUSTOMER,
            key_state=PENDING_IMPORT if origin == ORIGIN_EXTERNAL else ENABLED,
            policy=policy if policy is not None else api_default_policy(account.id),
            created_at=timezone.now(),
        )
        if policy is not None:
            _accept_key_policy(caller, key, policy, bypass_policy_lockout_safety_check)
        key.save(force_insert=True)
        if origin == ORIGIN_AWS_KMS:
            add_material(key, version=1, material=generate_key_material(key_spec))
            key.save(update_fields=["current_version"])
        Tag.objects.bulk_create(Tag(key=key, tag_key=k, tag_value=v) for k, v in tags or [])
        op.add_key(key)
        op.response_elements = {"keyMetadata": {"keyId": str(key.id), "arn": key.arn,
                                                "keyState": key.key_state}}
        return key


def _create_key_condition_keys(key_spec, key_usage, origin, multi_region, bypass, tags) -> dict:
    return {"kms:KeySpec": key_spec, "kms:KeyUsage": key_usage or "ENCRYPT_DECRYPT",
            "kms:KeyOrigin": origin, "kms:MultiRegion": multi_region,
            "kms:BypassPolicyLockoutSafetyCheck": bypass, **_tag_condition_keys(tags or [])}


def _tag_condition_keys(tags: list[tuple[str, str]]) -> dict:
    """aws:RequestTag/<key> and aws:TagKeys of a request that sets tags."""
    keys = {f"aws:RequestTag/{k}": v for k, v in tags}
    keys["aws:TagKeys"] = [k for k, _ in tags]
    return keys


# --- key policies ---------------------------------------------------------------------------

POLICY_NAME = "default"  # the only policy name of a key (AWS_RAM is for keys shared by RAM)
LOCKOUT_MESSAGE = ("The new key policy will not allow you to update the key policy in the "
                   "future.")


def _accept_key_policy(caller: Caller, key: Key, policy: str, bypass: bool) -> None:
    """The checks of kms-spec.md 5.4 before a policy becomes `key`'s (key.policy is set).

    Valid document; every principal it names exists; and, unless the caller bypasses it, the
    lockout safety check: under the new policy the caller must still be allowed
    kms:PutKeyPolicy (grants aside), or nobody could ever repair it.
    """
    parsed = validation.validate_policy_text(policy)
    if not all(principal_exists(arn) for arn in parsed.named_principals()):
        raise MalformedPolicyDocumentError(
            "Policy contains a statement with one or more invalid principals.")
    key.policy = policy
    if not bypass and not decide(caller, "kms:PutKeyPolicy", key=key,
                                 context={"kms:BypassPolicyLockoutSafetyCheck": False},
                                 include_grants=False).allowed:
        raise MalformedPolicyDocumentError(LOCKOUT_MESSAGE)


def _require_policy_name(policy_name: str) -> None:
    if policy_name != POLICY_NAME:
        raise NotFoundError(f"No such policy exists: {policy_name}")


def key_get_policy(*, caller: Caller, key_id: str, policy_name: str = POLICY_NAME) -> str:
    """GetKeyPolicy: the policy text as stored (the audit event never holds it)."""
    with operation(caller, "GetKeyPolicy", read_only=True,
                   request_parameters={"keyId": key_id, "policyName": policy_name}) as op:
        key = open_key(op, caller, key_id, "kms:GetKeyPolicy", allow_alias=False)
        _require_policy_name(policy_name)
        return key.policy


def key_list_policies(*, caller: Caller, key_id: str, limit: int = 100,
                      marker: str | None = None) -> tuple[list[str], str | None]:
    """ListKeyPolicies: always ["default"] (no key is shared through RAM here)."""
    params = {"keyId": key_id, "limit": limit, "marker": marker}
    with operation(caller, "ListKeyPolicies", read_only=True,
                   request_parameters={k: v for k, v in params.items() if v is not None}) as op:
        open_key(op, caller, key_id, "kms:ListKeyPolicies", allow_alias=False)
        validation.require_range("limit", limit, 1, 1000)
        if marker is not None:
            raise InvalidMarkerError("The marker is not valid.")  # one page: we issue none
        return [POLICY_NAME], None


def key_put_policy(*, caller: Caller, key_id: str, policy: str, policy_name: str = POLICY_NAME,
                   bypass_policy_lockout_safety_check: bool = False) -> Key:
    """PutKeyPolicy: replace the key policy (checks of kms-spec.md 5.4). The audit event logs
    the policy text, as CloudTrail does."""
    params = {"keyId": key_id, "policyName": policy_name, "policy": policy,
              "bypassPolicyLockoutSafetyCheck": bypass_policy_lockout_safety_check}
    with operation(caller, "PutKeyPolicy", read_only=False, request_parameters=params) as op:
        key = locked(open_key(
            op, caller, key_id, "kms:PutKeyPolicy", allow_alias=False,
            context={"kms:BypassPolicyLockoutSafetyCheck": bypass_policy_lockout_safety_check}))
        if policy_name != POLICY_NAME:
            raise ValidationError(f"PolicyName {policy_name} cannot be changed; only "
                                  f"{POLICY_NAME} can.")
        # Works in every key state (kms-spec.md 3.3), so a key pending deletion can be repaired.
        _require_customer_managed(key)
        _accept_key_policy(caller, key, policy, bypass_policy_lockout_safety_check)
        key.save(update_fields=["policy"])
        return key


# --- reading --------------------------------------------------------------------------------

def key_describe(*, caller: Caller, key_id: str, grant_tokens: list[str] | None = None) -> Key:
    """DescribeKey: works in every key state."""
    with operation(caller, "DescribeKey", read_only=True,
                   request_parameters={"keyId": key_id}) as op:
        require_valid_grant_tokens(grant_tokens)
        return open_key(op, caller, key_id, "kms:DescribeKey")


def key_list(*, caller: Caller, limit: int = 100, marker: str | None = None):
    """ListKeys: (keys, next_marker) of the caller's account in the caller's region."""
    params = {"limit": limit, "marker": marker}
    with operation(caller, "ListKeys", read_only=True,
                   request_parameters={k: v for k, v in params.items() if v is not None}):
        authorize(caller, "kms:ListKeys")
        validation.require_range("limit", limit, 1, 1000)
        return selectors.key_list(account_id=caller.account_id, region=caller.region,
                                  limit=limit, marker=marker)


def key_last_usage(*, caller: Caller, key_id: str):
    """GetKeyLastUsage: (key, the audit event of its last successful cryptographic use)."""
    with operation(caller, "GetKeyLastUsage", read_only=True,
                   request_parameters={"keyId": key_id}) as op:
        key = open_key(op, caller, key_id, "kms:GetKeyLastUsage", allow_alias=False)
        return key, audit_selectors.last_cryptographic_use(key_id=str(key.id))


# --- state changes --------------------------------------------------------------------------

def key_enable(*, caller: Caller, key_id: str) -> Key:
    """EnableKey: idempotent on an enabled key; refused while pending deletion or import."""
    with operation(caller, "EnableKey", read_only=False,
                   request_parameters={"keyId": key_id}) as op:
        key = locked(open_key(op, caller, key_id, "kms:EnableKey", allow_alias=False))
        _require_customer_managed(key)
        states.require_state(key, states.ENABLE_DISABLE)
        key.key_state = ENABLED
        key.save(update_fields=["key_state"])
        return key


def key_disable(*, caller: Caller, key_id: str) -> Key:
    """DisableKey: idempotent on a disabled key; refused while pending deletion or import."""
    with operation(caller, "DisableKey", read_only=False,
                   request_parameters={"keyId": key_id}) as op:
        key = locked(open_key(op, caller, key_id, "kms:DisableKey", allow_alias=False))
        _require_customer_managed(key)
        states.require_state(key, states.ENABLE_DISABLE)
        key.key_state = DISABLED
        key.save(update_fields=["key_state"])
        return key


def key_update_description(*, caller: Caller, key_id: str, description: str) -> Key:
    """UpdateKeyDescription: "" clears it; refused while pending deletion."""
    with operation(caller, "UpdateKeyDescription", read_only=False,
                   request_parameters={"keyId": key_id, "description": description}) as op:
        key = locked(open_key(op, caller, key_id, "kms:UpdateKeyDescription",
                                allow_alias=False))
        _require_customer_managed(key)
        validation.validate_description(description)
        states.require_state(key, states.MODIFY)
        key.description = description
        key.save(update_fields=["description"])
        return key


def key_schedule_deletion(*, caller: Caller, key_id: str,
                          pending_window_days: int | None = None) -> Key:
    """ScheduleKeyDeletion: 7-30 days (default 30); the key is unusable while it waits."""
    params = {"keyId": key_id}
    if pending_window_days is not None:
        params["pendingWindowInDays"] = pending_window_days
    with operation(caller, "ScheduleKeyDeletion", read_only=False,
                   request_parameters=params) as op:
        key = locked(open_key(
            op, caller, key_id, "kms:ScheduleKeyDeletion", allow_alias=False,
            context={"kms:ScheduleKeyDeletionPendingWindowInDays":
                     DEFAULT_PENDING_WINDOW_DAYS if pending_window_days is None
                     else pending_window_days}))
        _require_customer_managed(key)
        days = DEFAULT_PENDING_WINDOW_DAYS if pending_window_days is None else pending_window_days
        validation.require_range("pendingWindowInDays", days, 7, 30)
        states.require_state(key, states.SCHEDULE_DELETION)
        key.key_state = PENDING_DELETION
        key.pending_window_days = days
        key.deletion_date = timezone.now() + datetime.timedelta(days=days)
        key.save(update_fields=["key_state", "pending_window_days", "deletion_date"])
        op.response_elements = {
            "keyId": key.arn, "keyState": key.key_state,
            "deletionDate": key.deletion_date.isoformat(), "pendingWindowInDays": days,
        }
        return key


def key_cancel_deletion(*, caller: Caller, key_id: str) -> Key:
    """CancelKeyDeletion: the key returns to Disabled, not to its earlier state (as AWS)."""
    with operation(caller, "CancelKeyDeletion", read_only=False,
                   request_parameters={"keyId": key_id}) as op:
        key = locked(open_key(op, caller, key_id, "kms:CancelKeyDeletion", allow_alias=False))
        _require_customer_managed(key)
        states.require_pending_deletion(key)
        key.key_state = DISABLED if key.current_version else PENDING_IMPORT
        key.deletion_date = None
        key.pending_window_days = None
        key.save(update_fields=["key_state", "deletion_date", "pending_window_days"])
        op.response_elements = {"keyId": key.arn}
        return key


# --- aliases --------------------------------------------------------------------------------

def _authorize_alias(caller: Caller, action: str, alias_name: str) -> None:
    """The alias half of an *Alias operation: an IAM-only permission on the alias ARN
    (kms-spec.md 5.3; the key half is the key policy's)."""
    authorize(caller, action, resource_arn=(f"arn:aws:kms:{caller.region}:{caller.account_id}:"
                                            f"{alias_name}"),
              resource_account_id=caller.account_id)


def _alias_target(op, caller: Caller, target_key_id: str, action: str) -> Key:
    key = open_key(op, caller, target_key_id, action, allow_alias=False)
    if key.account_id != caller.account_id:
        # Aliases live in the caller's account and may only name that account's keys.
        raise NotFoundError(f"Key '{key.arn}' does not exist")
    if key.key_manager != MANAGER_CUSTOMER:
        raise UnsupportedOperationError(f"{key.arn} is an AWS managed key.")
    states.require_state(key, states.ALIAS_TARGET)
    return key


def alias_create(*, caller: Caller, alias_name: str, target_key_id: str) -> Alias:
    """CreateAlias: unique per account and region; at most 50 per key."""
    with operation(caller, "CreateAlias", read_only=False,
                   request_parameters={"aliasName": alias_name,
                                       "targetKeyId": target_key_id}) as op:
        validation.validate_alias_name(alias_name, creating=True)
        _authorize_alias(caller, "kms:CreateAlias", alias_name)
        key = _alias_target(op, caller, target_key_id, "kms:CreateAlias")
        if key.aliases.count() >= MAX_ALIASES_PER_KEY:
            raise LimitExceededError(f"A key can have at most {MAX_ALIASES_PER_KEY} aliases.")
        now = timezone.now()
        alias = Alias(account_id=caller.account_id, region=caller.region, name=alias_name,
                      target_key=key, created_at=now, updated_at=now)
        try:
            with transaction.atomic():
                alias.save()
        except IntegrityError:
            raise AlreadyExistsError(f"An alias with the name {alias.arn} already exists") \
                from None
        return alias


def _existing_alias(caller: Caller, alias_name: str) -> Alias:
    alias = (Alias.objects.select_for_update()
             .filter(account_id=caller.account_id, region=caller.region, name=alias_name).first())
    if alias is None:
        raise NotFoundError(
            f"Alias arn:aws:kms:{caller.region}:{caller.account_id}:{alias_name} is not found.")
    return alias


def alias_update(*, caller: Caller, alias_name: str, target_key_id: str) -> Alias:
    """UpdateAlias: re-point to a key of the same type and usage."""
    with operation(caller, "UpdateAlias", read_only=False,
                   request_parameters={"aliasName": alias_name,
                                       "targetKeyId": target_key_id}) as op:
        validation.validate_alias_name(alias_name, creating=False)
        _authorize_alias(caller, "kms:UpdateAlias", alias_name)
        alias = _existing_alias(caller, alias_name)
        if alias.target_key is not None:
            op.add_key(alias.target_key)
            authorize_key(caller, "kms:UpdateAlias", alias.target_key)
        key = _alias_target(op, caller, target_key_id, "kms:UpdateAlias")
        if key.pk != alias.target_key_id and key.aliases.count() >= MAX_ALIASES_PER_KEY:
            raise LimitExceededError(f"A key can have at most {MAX_ALIASES_PER_KEY} aliases.")
        old = alias.target_key
        if old is not None and (specs.key_type(old.key_spec), old.key_usage) != (
                specs.key_type(key.key_spec), key.key_usage):
            raise ValidationError(
                f"{alias_name} points to a {specs.key_type(old.key_spec).lower()} key with "
                f"usage {old.key_usage}; it cannot be moved to a "
                f"{specs.key_type(key.key_spec).lower()} key with usage {key.key_usage}.")
        alias.target_key = key
        alias.updated_at = timezone.now()
        alias.save(update_fields=["target_key", "updated_at"])
        return alias


def alias_delete(*, caller: Caller, alias_name: str) -> None:
    """DeleteAlias: allowed in every key state."""
    with operation(caller, "DeleteAlias", read_only=False,
                   request_parameters={"aliasName": alias_name}) as op:
        validation.validate_alias_name(alias_name, creating=True)
        _authorize_alias(caller, "kms:DeleteAlias", alias_name)
        alias = _existing_alias(caller, alias_name)
        if alias.target_key is not None:
            op.add_key(alias.target_key)
            authorize_key(caller, "kms:DeleteAlias", alias.target_key)
        alias.delete()


def alias_list(*, caller: Caller, key_id: str | None = None, limit: int = 50,
               marker: str | None = None):
    """ListAliases: (aliases, next_marker), all of the region or those of one key."""
    params = {"keyId": key_id, "limit": limit, "marker": marker}
    with operation(caller, "ListAliases", read_only=True,
                   request_parameters={k: v for k, v in params.items() if v is not None}) as op:
        validation.require_range("limit", limit, 1, 100)
        key = None
        if key_id is not None:
            key = open_key(op, caller, key_id, "kms:ListAliases", allow_alias=False)
        else:
            authorize(caller, "kms:ListAliases")
        return selectors.alias_list(account_id=caller.account_id, region=caller.region,
                                    key=key, limit=limit, marker=marker)


# --- tags -----------------------------------------------------------------------------------

def key_tag(*, caller: Caller, key_id: str, tags: list[tuple[str, str]]) -> Key:
    """TagResource: add or overwrite tags (at most 50 per key)."""
    with operation(caller, "TagResource", read_only=False, request_parameters={
            "keyId": key_id, "tags": [{"tagKey": k, "tagValue": v} for k, v in tags]}) as op:
        key = locked(open_key(op, caller, key_id, "kms:TagResource", allow_alias=False,
                              context=_tag_condition_keys(tags)))
        _require_customer_managed(key)
        states.require_state(key, states.MODIFY)
        existing = set(key.tags.values_list("tag_key", flat=True))
        validation.validate_tags(tags, existing_keys=existing)
        for tag_key, tag_value in tags:
            Tag.objects.update_or_create(key=key, tag_key=tag_key,
                                         defaults={"tag_value": tag_value})
        return key


def key_untag(*, caller: Caller, key_id: str, tag_keys: list[str]) -> Key:
    """UntagResource: removing a tag the key does not have is not an error."""
    with operation(caller, "UntagResource", read_only=False,
                   request_parameters={"keyId": key_id, "tagKeys": tag_keys}) as op:
        key = locked(open_key(op, caller, key_id, "kms:UntagResource", allow_alias=False,
                              context={"aws:TagKeys": list(tag_keys)}))
        _require_customer_managed(key)
        for index, tag_key in enumerate(tag_keys, start=1):
            validation.require_length(f"tagKeys.{index}.member", tag_key, 1, 128)
        states.require_state(key, states.MODIFY)
        key.tags.filter(tag_key__in=tag_keys).delete()
        return key


def key_list_tags(*, caller: Caller, key_id: str, limit: int = 50, marker: str | None = None):
    """ListResourceTags: (tags, next_marker)."""
    params = {"keyId": key_id, "limit": limit, "marker": marker}
    with operation(caller, "ListResourceTags", read_only=True,
                   request_parameters={k: v for k, v in params.items() if v is not None}) as op:
        key = open_key(op, caller, key_id, "kms:ListResourceTags", allow_alias=False)
        validation.require_range("limit", limit, 1, 50)
        return selectors.paginate(key.tags.all(), listing=f"tags:{key.arn}",
                                  order_field="tag_key", limit=limit, marker=marker)


def require_no_custom_key_store(custom_key_store_id: str | None) -> None:
    # This service has no custom key stores (CloudHSM, XKS), so any id names none.
    if custom_key_store_id is not None:
        raise CustomKeyStoreNotFoundError(
            f"Custom key store {custom_key_store_id} does not exist.")


def _require_customer_managed(key: Key) -> None:
    if key.key_manager != MANAGER_CUSTOMER:
        raise UnsupportedOperationError(f"{key.arn} is an AWS managed key.")



# --- the console's Create key wizard --------------------------------------------------------

def key_create_with_alias(*, caller: Caller, alias_name: str, description: str = "",
                          key_spec: str = "SYMMETRIC_DEFAULT", key_usage: str | None = None,
                          origin: str = ORIGIN_AWS_KMS, tags: list[tuple[str, str]] | None = None,
                          policy: str | None = None) -> tuple[Key, Alias]:
    """Finish of the Create key wizard: CreateKey (with its policy and tags) then CreateAlias,
    all or nothing.

    Each half goes through its own door and keeps its own audit event, as CloudTrail shows a
    console key creation. Threat: a key left behind without the alias the user asked for (or
    an alias-less key nobody recognises). So both run in one transaction; when either fails,
    everything rolls back, including the failure event its door recorded, and that failure
    event is written again afterwards: a refused request stays audited, and no event survives
    for a change that did not happen.
    """
    from audit.models import AuditEvent
    from audit.recording import Operation, record
    from kmsconsole.errors import KmsError

    failed = None
    try:
        with transaction.atomic():
            try:
                key = key_create(caller=caller, description=description, key_spec=key_spec,
                                 key_usage=key_usage, origin=origin, policy=policy, tags=tags)
                alias = alias_create(caller=caller, alias_name=alias_name,
                                     target_key_id=str(key.id))
            except Exception:
                failed = (AuditEvent.objects.filter(request_id=caller.request_id)
                          .exclude(error_code="").order_by("-id").first())
                raise
            return key, alias
    except Exception as error:
        if failed is not None:
            op = Operation(caller, failed.event_name, failed.read_only,
                           failed.request_parameters)
            op.resources, op.key_id = list(failed.resources or []), failed.key_id
            shown = error if isinstance(error, KmsError) else KmsError(failed.error_message)
            with transaction.atomic():
                record(op, error=shown)
        raise
