"""The policy simulator: would this user or role be allowed this KMS action on this key, and why?

It is IAM's SimulatePrincipalPolicy: authorized as iam:SimulatePrincipalPolicy on the simulated
principal's ARN and recorded as one read-only IAM event. The simulated request itself is only
decided, never performed and never recorded (no Encrypt event appears for a simulated Encrypt):
it goes through grants.authorization.decide, the very function authorize() uses, so the
simulator's answer is the answer the real request would get, with the same key policy, identity
policies and grants, and the same explanation.

The simulated request is the chosen principal's: an IAM user as itself, a role as a session of
that role (an assumed-role principal named like the sessions grants.sts issues, so key policies
and grants that name the role or its sessions match). Its context is the console request's
(source IP, region, TLS), with aws:MultiFactorAuthPresent as the form says.
"""

import datetime
import re
from dataclasses import dataclass

from django.utils import timezone

from audit.recording import operation
from kmsconsole.errors import KmsError, NoSuchEntityError, ValidationError

from .authorization import Decision, authorize, decide
from .models import Role, User
from .policy.evaluate import KEY_POLICY_NAME
from .principals import CLOUDTRAIL_TIME_FORMAT, Caller, Principal
from .selectors import principals_of_account
from .services import IAM

# The actions IAM knows for KMS (the API's operations, with ReEncrypt split in two).
KMS_ACTIONS = tuple(f"kms:{name}" for name in (
    "CancelKeyDeletion", "ConnectCustomKeyStore", "CreateAlias", "CreateCustomKeyStore",
    "CreateGrant", "CreateKey", "Decrypt", "DeleteAlias", "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial", "DeriveSharedSecret", "DescribeCustomKeyStores", "DescribeKey",
    "DisableKey", "DisableKeyRotation", "DisconnectCustomKeyStore", "EnableKey",
    "EnableKeyRotation", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "GenerateRandom", "GetKeyPolicy", "GetKeyRotationStatus", "GetParametersForImport",
    "GetPublicKey", "ImportKeyMaterial", "ListAliases", "ListGrants", "ListKeyPolicies",
    "ListKeyRotations", "ListKeys", "ListResourceTags", "ListRetirableGrants", "PutKeyPolicy",
    "ReEncryptFrom", "ReEncryptTo", "ReplicateKey", "RetireGrant", "RevokeGrant",
    "RotateKeyOnDemand", "ScheduleKeyDeletion", "Sign", "TagResource", "UntagResource",
    "UpdateAlias", "UpdateCustomKeyStore", "UpdateKeyDescription", "UpdatePrimaryRegion",
    "Verify", "VerifyMac"))
# Operations that take an encryption context: their simulated request carries one ({} when
# none is given), which is what grant constraints and kms:EncryptionContext conditions see.
CONTEXT_ACTIONS = frozenset(f"kms:{name}" for name in (
    "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext"))
ACTION_PATTERN = re.compile(r"[A-Za-z0-9-]{1,64}:[A-Za-z0-9]{1,128}")
SESSION_NAME = "policy-simulator"
MAX_CONTEXT_PAIRS = 64


@dataclass(frozen=True)
class SimulatedPrincipal:
    """A user or role the simulator offers."""

    kind: str  # "User" or "Role"
    name: str
    arn: str


@dataclass(frozen=True)
class Explanation:
    """A decision in words: a headline and the lines that support it."""

    allowed: bool
    title: str
    lines: tuple[str, ...]
    failed_conditions: tuple[str, ...]


@dataclass(frozen=True)
class SimulationResult:
    principal_arn: str
    action: str
    key_arn: str | None
    decision: Decision
    explanation: Explanation


def simulator_principals(*, caller: Caller) -> tuple[list[SimulatedPrincipal], list[KmsError]]:
    """The users and roles of the caller's account the simulator can pick (IAM's ListUsers
    and ListRoles, each authorized and recorded as the IAM console's simulator does), and the
    refusals of whichever list the caller may not read."""
    found = principals_of_account(caller.account_id)
    listed, refused = [], []
    for event_name, model, kind in (("ListUsers", User, "User"), ("ListRoles", Role, "Role")):
        try:
            with operation(caller, event_name, read_only=True, event_source=IAM,
                           request_parameters=None):
                authorize(caller, f"iam:{event_name}", resource_account_id=caller.account_id)
                listed += [SimulatedPrincipal(kind, p.name, p.arn) for p in found
                           if isinstance(p, model)]
        except KmsError as error:
            refused.append(error)
    return sorted(listed, key=lambda p: (p.name.lower(), p.kind)), refused


def policy_simulate(*, caller: Caller, principal_arn: str, action: str, key_id: str = "",
                    encryption_context: dict[str, str] | None = None,
                    mfa_authenticated: bool = False) -> SimulationResult:
    """SimulatePrincipalPolicy: the decision `action` on the key `key_id` (an id, ARN or alias;
    empty for actions without a key, such as kms:CreateKey) would get for `principal_arn`."""
    context = encryption_context or {}
    parameters = {"policySourceArn": principal_arn, "actionNames": [action],
                  "resourceArns": [key_id] if key_id else ["*"],
                  "contextEntries": [{"contextKeyName": f"kms:EncryptionContext:{name}",
                                      "contextKeyValues": [value], "contextKeyType": "string"}
                                     for name, value in context.items()]}
    with operation(caller, "SimulatePrincipalPolicy", read_only=True, event_source=IAM,
                   request_parameters=parameters):
        authorize(caller, "iam:SimulatePrincipalPolicy", resource_arn=principal_arn,
                  resource_account_id=caller.account_id)
        simulated = _simulated_caller(caller, principal_arn, mfa_authenticated)
        _check_action(action)
        _check_context(context)
        key = _key(simulated, key_id) if key_id else None
        kms_context = {"kms:RequestAlias": key_id} if key_id.startswith("alias/") else None
        decision = decide(simulated, action, key=key, context=kms_context,
                          encryption_context=context if action in CONTEXT_ACTIONS else None)
        return SimulationResult(principal_arn=principal_arn, action=action,
                                key_arn=key.arn if key is not None else None,
                                decision=decision, explanation=explain(decision, action))


def _simulated_caller(caller: Caller, principal_arn: str, mfa: bool) -> Caller:
    """The Caller the chosen principal would be, in the console request's context."""
    user = User.objects.filter(account_id=caller.account_id, arn=principal_arn,
                               is_active=True).first()
    role = None if user else Role.objects.filter(account_id=caller.account_id,
                                                 arn=principal_arn).first()
    if user is not None:
        principal = Principal.for_user(user)
    elif role is not None:
        principal = role_session_principal(role)
    else:
        raise NoSuchEntityError(f"No user or role {principal_arn} in account "
                                f"{caller.account_id}.")
    return Caller(principal=principal, region=caller.region, source=caller.source,
                  source_ip=caller.source_ip, user_agent=caller.user_agent,
                  request_id=caller.request_id, secure_transport=caller.secure_transport,
                  mfa_authenticated=mfa)


def role_session_principal(role: Role) -> Principal:
    """A session of `role` as grants.principals.Principal.for_session describes one issued by
    AssumeRole, without issuing credentials."""
    return Principal(
        account_id=role.account_id,
        arn=f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{SESSION_NAME}",
        type="AssumedRole", principal_id=f"{role.unique_id}:{SESSION_NAME}",
        role_arn=role.arn, policy_version=role.policy_version,
        session_issued_at=timezone.now().astimezone(datetime.UTC).strftime(
            CLOUDTRAIL_TIME_FORMAT))


def _key(simulated: Caller, key_id: str):
    # Imported here: keys depends on grants (authorization), not the other way round.
    from keys.selectors import key_resolve

    return key_resolve(account_id=simulated.account_id, region=simulated.region,
                       key_id=key_id)


def _check_action(action) -> None:
    if not isinstance(action, str) or not ACTION_PATTERN.fullmatch(action):
        raise ValidationError("An action is a service prefix and an action name, like "
                              "kms:Encrypt.")


def _check_context(context: dict) -> None:
    if len(context) > MAX_CONTEXT_PAIRS:
        raise ValidationError(f"The encryption context has more than {MAX_CONTEXT_PAIRS} pairs.")


# --- explanations -------------------------------------------------------------------------------

def _statement(ref) -> str:
    if ref.kind == "grant":
        named = f' "{ref.sid}"' if ref.sid else ""
        return f"grant {ref.grant_id}{named}"
    where = "the key policy" if ref.policy == KEY_POLICY_NAME else ref.policy
    if ref.sid:
        return f'statement "{ref.sid}" (Statement[{ref.index}]) of {where}'
    return f"Statement[{ref.index}] of {where}"


def explain(decision: Decision, action: str) -> Explanation:
    """The decision for the console: which statements (or grant) decided, and for a denial
    what was missing and which condition stopped an Allow statement."""
    if decision.allowed:
        lines = [f"Allowed by {_statement(ref)}." for ref in decision.deciding]
        return Explanation(True, "Allowed", tuple(lines or [decision.reason]),
                           decision.failed_conditions)
    kind = decision.denial_kind or ""
    if kind.startswith("explicit deny"):
        lines = [f"Explicitly denied by {_statement(ref)}." for ref in decision.deciding]
        return Explanation(False, "Explicitly denied", tuple(lines), decision.failed_conditions)
    lines = [f"Denied: no statement allows {action}: {kind}." if kind
             else f"Denied: {decision.reason}"]
    return Explanation(False, "Implicitly denied", tuple(lines), decision.failed_conditions)
