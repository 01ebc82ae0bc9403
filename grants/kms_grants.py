"""KMS grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant (kms-spec 6).

Each service is one door like keys/services.py: keyword-only, it runs inside
`audit.recording.operation` (act and audit in one transaction, failures audited too) and
authorizes before it acts. A grant lets its grantee use one key for the listed operations; the
evaluator (grants.policy.evaluate) applies it the moment CreateGrant commits, so revoking or
retiring it stops it at once. Grant tokens are never logged (kms-spec.md 7.2).

Choices where AWS's behaviour is not documented to the letter:
- Grantee and retiring principals must be IAM principal ARNs (an account root, a user, a role or
  an assumed-role session) of a principal that exists here. AWS refuses principals it cannot
  find with InvalidArnException (Terraform's aws_kms_grant retries CreateGrant on exactly that
  error while a new IAM role propagates); a string that is no IAM principal ARN at all is a
  ValidationException here.
- Service principals (GranteeServicePrincipal, RetiringServicePrincipal) and the SourceArn
  constraint that goes with them need integrated AWS services, which this server does not have:
  UnsupportedOperationException. Listing by a service principal finds nothing.
- Both EncryptionContextEquals and EncryptionContextSubset in one grant: ValidationException
  "More than one constraint supplied" (the message Terraform's provider documents).
- IssuingAccount is the account of the principal that created the grant.
"""

import re

from audit.recording import operation
from keys import states, validation
from keys.access import authorize_key, locked, open_key, resolve_key
from keys.models import Key
from keys.operations import DRY_RUN_MESSAGE
from keys.selectors import paginate
from kmsconsole.errors import (
    AccessDeniedError,
    DryRunOperationError,
    InvalidArnError,
    InvalidGrantIdError,
    LimitExceededError,
    NotFoundError,
    UnsupportedOperationError,
    ValidationError,
)

from .authorization import authorize, decide
from .grant_tokens import grant_id_of_token, grant_token_for, require_valid_grant_tokens
from .models import Grant
from .principals import Caller
from .selectors import IAM_PRINCIPAL_ARN, principal_exists

__all__ = [
    "grant_create", "grant_list", "grant_list_retirable", "grant_retire", "grant_revoke",
    "grant_operations_for",
]

MAX_GRANTS_PER_KEY = 50_000
MAX_CONSTRAINT_PAIRS = 8
MAX_CONSTRAINT_TEXT = 384
MAX_GRANT_TOKENS = 10
EQUALS = "EncryptionContextEquals"
SUBSET = "EncryptionContextSubset"
SOURCE_ARN = "SourceArn"

GRANT_ID_PATTERN = re.compile(r"[0-9a-f]{64}")
GRANT_NAME_PATTERN = re.compile(r"[a-zA-Z0-9:/_-]+")
PRINCIPAL_PATTERN = re.compile(r"[\w+=,.@:/-]+", re.ASCII)  # the model's PrincipalIdType

GRANT_OPERATIONS = (
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac",
    "DeriveSharedSecret", "Encapsulate", "Decapsulate",
)
_ANY_KEY = ("DescribeKey", "CreateGrant", "RetireGrant")
_SYMMETRIC_ENCRYPTION = (
    "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
)
# Asymmetric and HMAC keys, by key usage (kms-spec.md 6, "Grant operations by key type").
_BY_USAGE = {
    "ENCRYPT_DECRYPT": ("Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"),
    "SIGN_VERIFY": ("Sign", "Verify", "GetPublicKey"),
    "GENERATE_VERIFY_MAC": ("GenerateMac", "VerifyMac"),
    "KEY_AGREEMENT": ("DeriveSharedSecret", "GetPublicKey"),
    "ENCAPSULATE_DECAPSULATE": ("Encapsulate", "Decapsulate", "GetPublicKey"),
}
_AUTHENTICATED = ("IAMUser", "AssumedRole", "Root")


def grant_operations_for(key: Key) -> tuple[str, ...]:
    """The grant operations `key`'s type supports (a grant for any other is refused)."""
    own = (_SYMMETRIC_ENCRYPTION if key.key_spec == "SYMMETRIC_DEFAULT"
           else _BY_USAGE.get(key.key_usage, ()))
    return own + _ANY_KEY


# --- checks ---------------------------------------------------------------------------------

def _present(params: dict) -> dict:
    return {name: value for name, value in params.items() if value is not None}


def _dry_run(dry_run: bool) -> None:
    if dry_run:
        raise DryRunOperationError(DRY_RUN_MESSAGE)


def _pattern_error(path: str, value: str, pattern: str) -> ValidationError:
    return ValidationError(validation.constraint_message(
        path, value, f"satisfy regular expression pattern: {pattern}"))


def _validate_principal(path: str, arn) -> None:
    """An IAM principal ARN: the account root, a user, a role or an assumed-role session."""
    if not isinstance(arn, str):
        raise ValidationError(f"{path} must be a string.")
    validation.require_length(path, arn, 1, 256)
    if not PRINCIPAL_PATTERN.fullmatch(arn):
        raise _pattern_error(path, arn, r"^[\w+=,.@:/-]+$")
    match = IAM_PRINCIPAL_ARN.fullmatch(arn)
    well_formed = match is not None and (
        match["sts_account"] is not None
        or (match["kind"] == "root" and match["rest"] is None)
        or (match["kind"] in ("user", "role") and len(match["rest"] or "") > 1
            and not match["rest"].endswith("/")))
    if not well_formed:
        raise ValidationError(
            f"{arn} is not a valid principal. Use the ARN of an AWS account "
            "(arn:aws:iam::<account>:root), an IAM user, an IAM role or an assumed-role session.")


def _require_existing_principal(arn: str | None) -> None:
    # A grant to nobody would lie in wait for whoever is created under that name later.
    if arn is not None and not principal_exists(arn):
        raise InvalidArnError(f"ARN does not refer to a valid principal: {arn}")


def _validate_operations(operations) -> list[str]:
    """The grant's operations, each once, in the order given."""
    if not isinstance(operations, list | tuple) or not operations:
        raise ValidationError("The Operations list of a grant must name at least one "
                              "operation.")
    for index, name in enumerate(operations, start=1):
        validation.require_enum(f"operations.{index}.member", name, GRANT_OPERATIONS)
    return list(dict.fromkeys(operations))


def _require_operations_for_key(key: Key, operations: list[str]) -> None:
    supported = grant_operations_for(key)
    unsupported = [name for name in operations if name not in supported]
    if unsupported:
        raise ValidationError(
            f"Grant operations {', '.join(unsupported)} are not valid for {key.arn}, a "
            f"{key.key_spec} key with key usage {key.key_usage}.")


def _validate_name(name) -> None:
    if not isinstance(name, str):
        raise ValidationError("name must be a string.")
    validation.require_length("name", name, 1, 256)
    if not GRANT_NAME_PATTERN.fullmatch(name):
        raise _pattern_error("name", name, "^[a-zA-Z0-9:/_-]+$")


def _validate_constraints(constraints) -> dict | None:
    """The constraints as stored ({EQUALS: {...}} or {SUBSET: {...}}), or None for none."""
    if constraints is None:
        return None
    if not isinstance(constraints, dict):
        raise ValidationError("Constraints must be a structure.")
    unknown = sorted(set(constraints) - {EQUALS, SUBSET, SOURCE_ARN})
    if unknown:
        raise ValidationError(f"Unknown grant constraint(s): {', '.join(unknown)}.")
    if constraints.get(SOURCE_ARN) is not None:
        raise UnsupportedOperationError(
            "The SourceArn constraint is for grants to AWS service principals, which this "
            "service does not support.")
    present = {name: constraints[name] for name in (EQUALS, SUBSET)
               if constraints.get(name) is not None}
    if len(present) > 1:
        raise ValidationError("More than one constraint supplied")
    for name, context in present.items():
        path = f"constraints.{_member_path(name)}"
        if not isinstance(context, dict):
            raise ValidationError(f"{path} must be a map of strings to strings.")
        validation.validate_encryption_context(context)
        if len(context) > MAX_CONSTRAINT_PAIRS:
            raise ValidationError(f"{path} may hold at most {MAX_CONSTRAINT_PAIRS} encryption "
                                  "context pairs.")
        for key, value in context.items():
            validation.require_length(f"{path}.key", key, 1, MAX_CONSTRAINT_TEXT)
            validation.require_length(f"{path}.value", value, 0, MAX_CONSTRAINT_TEXT)
    return {name: dict(context) for name, context in present.items()} or None


def _member_path(member: str) -> str:
    """EncryptionContextEquals -> encryptionContextEquals (audit and validation paths)."""
    return member[:1].lower() + member[1:]


def _audited_constraints(constraints):
    if not isinstance(constraints, dict):
        return constraints
    return {_member_path(str(name)): value for name, value in constraints.items()}


def _require_grant_id(grant_id) -> None:
    if not isinstance(grant_id, str) or not GRANT_ID_PATTERN.fullmatch(grant_id):
        raise InvalidGrantIdError(f"Invalid grant ID: {grant_id}")


def _require_grant_tokens(grant_tokens) -> None:
    validation.require_length("grantTokens", grant_tokens or [], 0, MAX_GRANT_TOKENS)
    require_valid_grant_tokens(grant_tokens)


def _refuse_service_principals(*service_principals) -> None:
    if any(value is not None for value in service_principals):
        raise UnsupportedOperationError(
            "Grants to AWS service principals are not supported by this service.")


# --- "at least as constrained" ----------------------------------------------------------------

def _lower_keys(context: dict) -> dict:
    # Context keys in grant constraints are not case-sensitive; values are.
    return {key.lower(): value for key, value in context.items()}


def _at_least_as_strict(child: dict | None, parent: dict | None) -> bool:
    """Whether every request `child` constraints allow is also allowed by `parent`'s."""
    child, parent = child or {}, parent or {}
    if EQUALS in parent:
        return EQUALS in child and _lower_keys(child[EQUALS]) == _lower_keys(parent[EQUALS])
    if SUBSET in parent:
        mine = _lower_keys(child.get(EQUALS, child.get(SUBSET)) or {})
        return all(mine.get(key) == value
                   for key, value in _lower_keys(parent[SUBSET]).items())
    return True


def _require_within_parent_grant(caller: Caller, key: Key, parent_id: str,
                                 operations: list[str], constraints: dict | None) -> None:
    """A principal allowed CreateGrant only by a grant may pass on no more than it holds.

    Threat: a grantee widening its own access (more operations, a looser encryption context)
    by granting itself or an accomplice a new grant.
    """
    parent = Grant.objects.filter(grant_id=parent_id).first()
    if parent is not None and set(operations) <= set(parent.operations) \
            and _at_least_as_strict(constraints, parent.constraints):
        return
    raise AccessDeniedError(
        f"User: {caller.principal.arn} is not authorized to perform: kms:CreateGrant on "
        f"resource: {key.arn} because the new grant would be less constrained than grant "
        f"{parent_id}, which allows the kms:CreateGrant action")


# --- CreateGrant ------------------------------------------------------------------------------

def _create_condition_keys(operations, grantee, retiring, constraints) -> dict:
    keys = {"kms:GrantOperations": list(operations), "kms:GranteePrincipal": grantee,
            "kms:GrantIsForAWSResource": False}
    if retiring is not None:
        keys["kms:RetiringPrincipal"] = retiring
    if constraints:
        keys["kms:GrantConstraintType"] = next(iter(constraints))
    return keys


def _identical_grant(key: Key, *, name, grantee, retiring, operations, constraints):
    """The grant an identical named CreateGrant made before, if it still exists."""
    candidates = key.grants.filter(name=name, grantee_principal=grantee,
                                   retiring_principal=retiring).order_by("id")
    for grant in candidates:
        if set(grant.operations) == set(operations) and grant.constraints == constraints:
            return grant
    return None


def _validated_request(*, grantee_principal, retiring_principal, operations, constraints,
                       name, grant_tokens) -> tuple[list[str], dict | None]:
    _require_grant_tokens(grant_tokens)
    if grantee_principal is None:
        raise ValidationError(validation.constraint_message("granteePrincipal", None,
                                                            "not be null"))
    _validate_principal("granteePrincipal", grantee_principal)
    if retiring_principal is not None:
        _validate_principal("retiringPrincipal", retiring_principal)
    wanted = _validate_operations(operations)
    stored_constraints = _validate_constraints(constraints)
    if name is not None:
        _validate_name(name)
    return wanted, stored_constraints


def grant_create(*, caller: Caller, key_id: str, grantee_principal: str | None, operations,
                 retiring_principal: str | None = None, constraints: dict | None = None,
                 grant_tokens: list[str] | None = None, name: str | None = None,
                 dry_run: bool = False, grantee_service_principal: str | None = None,
                 retiring_service_principal: str | None = None) -> tuple[Grant, str]:
    """CreateGrant: (the grant, a new grant token). The key must be Enabled.

    With a Name, an identical retry returns the existing grant (with a new token, as AWS does);
    without one every call makes a new grant. `constraints` is {"EncryptionContextEquals": {...}}
    or {"EncryptionContextSubset": {...}} (the stored form).
    """
    params = {"keyId": key_id, "granteePrincipal": grantee_principal,
              "retiringPrincipal": retiring_principal,
              "granteeServicePrincipal": grantee_service_principal,
              "retiringServicePrincipal": retiring_service_principal,
              "operations": list(operations) if isinstance(operations, list | tuple)
              else operations,
              "constraints": _audited_constraints(constraints), "name": name}
    with operation(caller, "CreateGrant", read_only=False,
                   request_parameters=_present(params)) as op:
        _refuse_service_principals(grantee_service_principal, retiring_service_principal)
        wanted, constraints = _validated_request(
            grantee_principal=grantee_principal, retiring_principal=retiring_principal,
            operations=operations, constraints=constraints, name=name,
            grant_tokens=grant_tokens)
        key = resolve_key(caller, key_id, allow_alias=False)
        op.add_key(key)
        decision = authorize_key(caller, "kms:CreateGrant", key, context=_create_condition_keys(
            wanted, grantee_principal, retiring_principal, constraints))
        key = locked(key)  # serialises the quota count and the name's idempotency
        states.require_state(key, states.USE)
        _require_operations_for_key(key, wanted)
        _require_existing_principal(grantee_principal)
        _require_existing_principal(retiring_principal)
        if decision.grant_id is not None:
            _require_within_parent_grant(caller, key, decision.grant_id, wanted, constraints)
        grant = None
        if name is not None:
            grant = _identical_grant(key, name=name, grantee=grantee_principal,
                                     retiring=retiring_principal, operations=wanted,
                                     constraints=constraints)
        if grant is None and key.grants.count() >= MAX_GRANTS_PER_KEY:
            raise LimitExceededError(
                f"The key {key.arn} already has {MAX_GRANTS_PER_KEY} grants, the quota.")
        _dry_run(dry_run)
        if grant is None:
            grant = Grant.objects.create(
                key=key, name=name, grantee_principal=grantee_principal,
                retiring_principal=retiring_principal, operations=wanted,
                constraints=constraints,
                issuing_account=f"arn:aws:iam::{caller.account_id}:root")
        op.response_elements = {"grantId": grant.grant_id}
        return grant, grant_token_for(grant.grant_id)


# --- listing ----------------------------------------------------------------------------------

def grant_list(*, caller: Caller, key_id: str, grant_id: str | None = None,
               grantee_principal: str | None = None, limit: int = 50,
               marker: str | None = None, grantee_service_principal: str | None = None):
    """ListGrants: (grants, next_marker) of one key, oldest first; works in every key state."""
    params = {"keyId": key_id, "grantId": grant_id, "granteePrincipal": grantee_principal,
              "granteeServicePrincipal": grantee_service_principal, "limit": limit,
              "marker": marker}
    with operation(caller, "ListGrants", read_only=True,
                   request_parameters=_present(params)) as op:
        key = open_key(op, caller, key_id, "kms:ListGrants", allow_alias=False,
                       context={"kms:GrantIsForAWSResource": False})
        validation.require_range("limit", limit, 1, 100)
        grants = key.grants.select_related("key")
        if grant_id is not None:
            _require_grant_id(grant_id)
            grants = grants.filter(grant_id=grant_id)
        if grantee_principal is not None:
            grants = grants.filter(grantee_principal=grantee_principal)
        if grantee_service_principal is not None:
            grants = grants.none()  # no grant here has a service principal
        return paginate(grants, listing=f"grants:{key.arn}", order_field="id", limit=limit,
                        marker=marker)


def _account_of(principal_arn: str) -> str:
    """The account of a principal ARN that _validate_principal accepted."""
    match = IAM_PRINCIPAL_ARN.fullmatch(principal_arn)
    return match["account"] or match["sts_account"]


def grant_list_retirable(*, caller: Caller, retiring_principal: str | None = None,
                         limit: int = 50, marker: str | None = None,
                         retiring_service_principal: str | None = None):
    """ListRetirableGrants: (grants, next_marker) whose retiring principal is the one given,
    on keys of any account in the caller's region.

    IAM-only permission, in the caller's own account: the retiring principal must belong to it
    (AWS: "you must specify a principal in your AWS account"), so no account can list another
    account's retirable grants.
    """
    params = {"retiringPrincipal": retiring_principal,
              "retiringServicePrincipal": retiring_service_principal, "limit": limit,
              "marker": marker}
    with operation(caller, "ListRetirableGrants", read_only=True,
                   request_parameters=_present(params)):
        if retiring_principal is None and retiring_service_principal is None:
            raise ValidationError("Specify a RetiringPrincipal.")
        account_id = caller.account_id
        if retiring_principal is not None:
            _validate_principal("retiringPrincipal", retiring_principal)
            account_id = _account_of(retiring_principal)
        authorize(caller, "kms:ListRetirableGrants", resource_account_id=account_id)
        validation.require_range("limit", limit, 1, 100)
        grants = Grant.objects.filter(retiring_principal=retiring_principal,
                                      key__region=caller.region).select_related("key")
        if retiring_principal is None:
            grants = grants.none()  # a service principal: no grant here has one
        return paginate(grants, listing=f"retirable:{caller.region}:{retiring_principal}",
                        order_field="id", limit=limit, marker=marker)


# --- retiring and revoking --------------------------------------------------------------------

def _grant_on(key: Key, grant_id: str) -> Grant:
    grant = (Grant.objects.select_for_update().select_related("key")
             .filter(key=key, grant_id=grant_id).first())
    if grant is None:
        raise NotFoundError(f"Grant ID {grant_id} not found for key {key.arn}.")
    return grant


def _grant_to_retire(op, caller: Caller, grant_token, key_id, grant_id) -> Grant:
    """The grant a RetireGrant names: by token, or by KeyId and GrantId."""
    if grant_token is not None:
        token_grant_id = grant_id_of_token(grant_token)
        if grant_id is not None and grant_id != token_grant_id:
            raise ValidationError("The GrantId does not match the grant of the GrantToken.")
        op.request_parameters["grantId"] = token_grant_id
        grant = (Grant.objects.select_for_update().select_related("key")
                 .filter(grant_id=token_grant_id, key__region=caller.region).first())
        if grant is None:
            raise NotFoundError("The grant of this grant token does not exist; it may have "
                                "been retired or revoked.")
        op.add_key(grant.key)
        op.request_parameters.setdefault("keyId", grant.key.arn)
        if key_id is not None and resolve_key(caller, key_id, allow_alias=False).pk \
                != grant.key_id:
            raise NotFoundError(f"Grant ID {token_grant_id} not found for key {key_id}.")
        return grant
    if key_id is None or grant_id is None:
        raise ValidationError("Specify either a GrantToken, or both a KeyId and a GrantId.")
    _require_grant_id(grant_id)
    key = resolve_key(caller, key_id, allow_alias=False)
    op.add_key(key)
    return _grant_on(key, grant_id)


def _names_caller(principal_arn: str | None, caller: Caller, key_arn: str) -> bool:
    """Whether a grant's grantee or retiring principal designates the caller: its ARN, its
    role's ARN for a session, or its account root when its identity policies allow
    kms:RetireGrant (an account delegates to IAM, as in a key policy)."""
    principal = caller.principal
    if not principal_arn:
        return False
    if principal_arn in (principal.arn, principal.role_arn):
        return True
    return (principal_arn == f"arn:aws:iam::{principal.account_id}:root"
            and decide(caller, "kms:RetireGrant", resource_arn=key_arn,
                       resource_account_id=principal.account_id).allowed)


def _require_may_retire(caller: Caller, grant: Grant) -> None:
    """RetireGrant is not governed by the key policy (kms-spec.md 6): the retiring principal,
    the grantee of a grant that includes RetireGrant, or a principal of the issuing account
    whose identity policies allow kms:RetireGrant may retire it; nobody else."""
    key_arn = grant.key.arn
    if caller.principal.type in _AUTHENTICATED and (
            _names_caller(grant.retiring_principal, caller, key_arn)
            or ("RetireGrant" in grant.operations
                and _names_caller(grant.grantee_principal, caller, key_arn))):
        return
    issuing_account = _account_of(grant.issuing_account)
    decision = decide(caller, "kms:RetireGrant", resource_arn=key_arn,
                      resource_account_id=issuing_account)
    if not decision.allowed:
        raise AccessDeniedError(decision.message(caller.principal.arn or "anonymous", key_arn))


def grant_retire(*, caller: Caller, grant_token: str | None = None, key_id: str | None = None,
                 grant_id: str | None = None, dry_run: bool = False) -> Grant:
    """RetireGrant: delete a grant the caller may retire; works in every key state.

    The audit event names the key and the grant id, never the token."""
    params = _present({"keyId": key_id, "grantId": grant_id})
    with operation(caller, "RetireGrant", read_only=False, request_parameters=params) as op:
        grant = _grant_to_retire(op, caller, grant_token, key_id, grant_id)
        _require_may_retire(caller, grant)
        _dry_run(dry_run)
        grant.delete()
        return grant


def grant_revoke(*, caller: Caller, key_id: str, grant_id: str, dry_run: bool = False) -> Grant:
    """RevokeGrant: delete a grant at once (needs kms:RevokeGrant on the key); every key
    state."""
    with operation(caller, "RevokeGrant", read_only=False,
                   request_parameters={"keyId": key_id, "grantId": grant_id}) as op:
        _require_grant_id(grant_id)
        key = open_key(op, caller, key_id, "kms:RevokeGrant", allow_alias=False,
                       context={"kms:GrantIsForAWSResource": False})
        grant = _grant_on(key, grant_id)
        _dry_run(dry_run)
        grant.delete()
        return grant
