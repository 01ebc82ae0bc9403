"""Evaluating a request against a key policy, identity policies and grants (kms-spec.md 5.3).

AWS order, as KMS applies it:

1. An explicit Deny that matches, in the key policy or in any identity policy, denies.
2. Otherwise the request is allowed if
   a. the key policy allows the principal directly (its ARN; for a role session the role ARN
      or the session ARN; "*"), or
   b. the key policy allows the principal's account (arn:aws:iam::<account>:root) and one of
      the principal's identity policies allows the action on the key, or
   c. a grant on the key names the principal, lists the operation, and its constraints match.
   For a principal of another account than the key's, the principal's identity policies must
   allow in every case, and the key policy must allow the principal or its account, or a grant
   must match: an account cannot use another account's key on the key policy's word alone.
3. Otherwise it is implicitly denied.

An AWS service principal (PrincipalInfo type "AWSService") has no identity policies and no
account to delegate through: only a key policy statement naming its service (or "*") or a grant
to it allows it.

Actions without a key (CreateKey, ListKeys, GenerateRandom, ...: `key_policy=None`) are decided
by identity policies alone. The account root user ("Root") needs no identity policy in its own
account, as in AWS, but is bound by key policies like anyone else (KMS key policies are
mandatory even for the root user).

Every Decision explains itself: the statements (or grant) that decided, AWS's denial wording,
and, for a denial, the conditions that stopped Allow statements that otherwise matched.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .document import ALLOW, DENY, Policy, Statement

__all__ = [
    "Decision",
    "GrantInfo",
    "NamedPolicy",
    "PrincipalInfo",
    "Request",
    "StatementRef",
    "evaluate",
]

PRINCIPAL_TYPES = ("IAMUser", "AssumedRole", "Root", "AWSService")
KEY_POLICY_NAME = "key policy"

EXPLICIT_DENY_RESOURCE = "explicit deny in a resource-based policy"
EXPLICIT_DENY_IDENTITY = "explicit deny in an identity-based policy"
NO_RESOURCE_POLICY = "no resource-based policy allows the {action} action"
NO_IDENTITY_POLICY = "no identity-based policy allows the {action} action"

# aws:PrincipalType as AWS reports it for each kind of caller.
_AWS_PRINCIPAL_TYPES = {"IAMUser": "User", "AssumedRole": "AssumedRole", "Root": "Account",
                        "AWSService": "AWSService"}

# Grant operations that take an encryption context: only they are restricted by a grant's
# constraints (GrantConstraints: "not applied to operations that do not support an encryption
# context, such as ... DescribeKey or RetireGrant").
_CONTEXT_OPERATIONS = frozenset({
    "encrypt", "decrypt", "reencryptfrom", "reencryptto", "generatedatakey",
    "generatedatakeywithoutplaintext", "generatedatakeypair",
    "generatedatakeypairwithoutplaintext",
})

# The only actions AWS KMS performs on a key of another account ("Cross-account use: Yes" in
# the API reference; kms-spec.md 2.11). Threat: a key policy granting kms:* to another account
# (a common shortcut) letting that account delete the key, rewrite its policy or import material.
CROSS_ACCOUNT_ACTIONS = frozenset({
    "kms:encrypt", "kms:decrypt", "kms:reencryptfrom", "kms:reencryptto",
    "kms:generatedatakey", "kms:generatedatakeywithoutplaintext", "kms:generatedatakeypair",
    "kms:generatedatakeypairwithoutplaintext", "kms:sign", "kms:verify", "kms:generatemac",
    "kms:verifymac", "kms:derivesharedsecret", "kms:describekey", "kms:getpublickey",
    "kms:getkeyrotationstatus", "kms:creategrant", "kms:listgrants", "kms:retiregrant",
    "kms:revokegrant",
})
NOT_CROSS_ACCOUNT = "the {action} action cannot be performed on a key in another account"

_DIRECT = "direct"    # the statement names the principal itself (or everyone)
_ACCOUNT = "account"  # the statement names the principal's account root: IAM decides


# --- inputs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrincipalInfo:
    """Who is calling, as policy evaluation sees it.

    `type` is "IAMUser", "AssumedRole", "Root" or "AWSService". For an AssumedRole session,
    `arn` is the session ARN (arn:aws:sts::<acct>:assumed-role/<name>/<session>) and `role_arn`
    the role's (arn:aws:iam::<acct>:role/<path><name>); a policy naming either matches the
    session. `service` is the service principal of an AWSService caller (kms.amazonaws.com).
    """

    arn: str
    account_id: str
    type: str
    user_id: str = ""
    username: str | None = None
    role_arn: str | None = None
    service: str | None = None
    # Derived once: the names that identify the caller directly, and its account root.
    identities: frozenset[str] = field(init=False, repr=False, compare=False)
    account_root: str = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.type not in PRINCIPAL_TYPES:
            raise ValueError(f"type must be one of {', '.join(PRINCIPAL_TYPES)}, not {self.type!r}")
        names = set()
        if self.type != "AWSService":
            names.add(self.arn)
            if self.role_arn:
                names.add(self.role_arn)
            if self.user_id:
                # A policy may show a unique id (AIDA..., AROA...) for a re-created principal.
                names.add(self.user_id.split(":", 1)[0])
        object.__setattr__(self, "identities", frozenset(names))
        object.__setattr__(self, "account_root", f"arn:aws:iam::{self.account_id}:root")

    @property
    def chain(self) -> tuple[str, ...]:
        """The caller and what it belongs to (session, role, account), for NotPrincipal."""
        if self.type == "AWSService":
            return (self.service or "",)
        if self.type == "Root":
            return (self.account_root,)
        if self.type == "AssumedRole" and self.role_arn:
            return (self.arn, self.role_arn, self.account_root)
        return (self.arn, self.account_root)

    @property
    def grantee_names(self) -> frozenset[str]:
        """What a grant's GranteePrincipal may say to mean this caller directly."""
        if self.type == "AWSService":
            return frozenset({self.service}) if self.service else frozenset()
        return frozenset(n for n in (self.arn, self.role_arn) if n)


@dataclass(frozen=True)
class Request:
    """One request to authorize.

    `context` holds the request's condition keys (names case-insensitive; values str, bool,
    int, float, datetime, or a list/tuple of them for a multi-valued key). Keys derived from the
    principal (aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:userid,
    aws:username, kms:CallerAccount) and from `encryption_context`
    (kms:EncryptionContext:<key>, kms:EncryptionContextKeys) are added unless `context` gives
    them; aws:CurrentTime and aws:EpochTime default to now.

    `encryption_context` is None when the operation takes no encryption context (management
    operations, asymmetric and HMAC keys) and a mapping, possibly empty, for an operation that
    takes one. The difference matters for grants: their constraints apply only to the second
    kind, so a symmetric Encrypt sent without a context must pass {} here, never None.
    """

    principal: PrincipalInfo
    action: str                                   # e.g. "kms:Encrypt" (any case)
    resource_arn: str | None = None               # None for actions without a resource
    resource_account_id: str | None = None
    context: Mapping[str, object] = field(default_factory=dict)
    encryption_context: Mapping[str, str] | None = None
    action_lower: str = field(init=False, repr=False, compare=False)
    _values: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "action_lower", self.action.lower())
        object.__setattr__(self, "_values", self._condition_values())

    def _condition_values(self) -> dict:
        """The condition keys of the request, lower-cased, built once per request."""
        principal = self.principal
        values: dict[str, object] = {
            # For a role session AWS gives the role's ARN, not the session's.
            "aws:principalarn": (principal.role_arn if principal.type == "AssumedRole"
                                 and principal.role_arn else principal.arn or None),
            "aws:principalaccount": principal.account_id,
            "kms:calleraccount": principal.account_id,
            "aws:principaltype": _AWS_PRINCIPAL_TYPES[principal.type],
            "aws:userid": principal.user_id or (principal.account_id
                                                if principal.type == "Root" else None),
        }
        if principal.username:
            values["aws:username"] = principal.username
        if principal.service:
            values["aws:principalservicename"] = principal.service
        if self.encryption_context:
            for name, value in self.encryption_context.items():
                key = "kms:encryptioncontext:" + name.lower()
                # Context keys differing only in case collide here (the condition key ignores
                # case): both values are kept, as a multi-valued key, so that a Deny on one of
                # them cannot be dodged by adding the other spelling.
                previous = values.get(key)
                if previous is None:
                    values[key] = value
                elif isinstance(previous, tuple):
                    values[key] = previous + (value,)
                else:
                    values[key] = (previous, value)
            values["kms:encryptioncontextkeys"] = tuple(self.encryption_context)
        for name, value in self.context.items():
            values[name.lower()] = tuple(value) if isinstance(value, list | tuple | set
                                                                 | frozenset) else value
        return values

    def condition_value(self, key_lower: str):
        """The value of a condition key (lower-cased name), or None when the request lacks it."""
        value = self._values.get(key_lower)
        if value is None and key_lower in ("aws:currenttime", "aws:epochtime"):
            now = datetime.datetime.now(datetime.UTC)
            self._values.setdefault("aws:currenttime", now)
            self._values.setdefault("aws:epochtime", int(now.timestamp()))
            value = self._values[key_lower]
        return value

    @property
    def resource(self) -> str:
        return self.resource_arn or "*"


@dataclass(frozen=True)
class GrantInfo:
    """An active grant on the key being used (kms-spec.md 6)."""

    grant_id: str
    grantee_principal: str                        # an ARN, or a service principal
    operations: frozenset[str]                    # e.g. {"Encrypt", "Decrypt"}
    encryption_context_equals: Mapping[str, str] | None = None
    encryption_context_subset: Mapping[str, str] | None = None
    name: str | None = None
    _operations_lower: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_operations_lower",
                           frozenset(o.lower() for o in self.operations))

    def allows_operation(self, operation_lower: str) -> bool:
        return operation_lower in self._operations_lower

    def constraints_met(self, encryption_context: Mapping[str, str] | None) -> bool:
        """Whether the request's encryption context satisfies the grant's constraints.

        In a grant constraint the context keys are not case-sensitive and the values are
        (GrantConstraints in the KMS API reference).
        """
        if encryption_context is None:
            return True  # the operation takes no encryption context: constraints do not apply
        request = {k.lower(): v for k, v in encryption_context.items()}
        if self.encryption_context_equals is not None:
            wanted = {k.lower(): v for k, v in self.encryption_context_equals.items()}
            if request != wanted:
                return False
        if self.encryption_context_subset is not None:
            for key, value in self.encryption_context_subset.items():
                if request.get(key.lower()) != value:
                    return False
        return True


@dataclass(frozen=True)
class NamedPolicy:
    """An identity policy with the name explanations show ("inline policy kms-use of user
    alice", a managed policy ARN): the caller decides the wording."""

    name: str
    policy: Policy


# --- outputs --------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatementRef:
    """A statement (or a grant) that decided, for explanations and the console."""

    policy: str            # "key policy", an identity policy's name, or "grant"
    index: int             # the statement's position (0 for a grant)
    sid: str | None        # the statement's Sid, or the grant's name
    effect: str            # "Allow" or "Deny"
    kind: str = "statement"  # "statement" or "grant"
    grant_id: str | None = None

    def describe(self) -> str:
        if self.kind == "grant":
            named = f' "{self.sid}"' if self.sid else ""
            return f"grant {self.grant_id}{named}"
        named = f' "{self.sid}"' if self.sid else ""
        return f"{self.policy} Statement[{self.index}]{named}"


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation and why."""

    allowed: bool
    reason: str                                   # a sentence for the console
    deciding: tuple[StatementRef, ...] = ()
    denial_kind: str | None = None                # AWS's wording, None when allowed
    missing_permission: str | None = None         # the action, for a denial
    failed_conditions: tuple[str, ...] = ()
    grant_id: str | None = None

    def message(self, principal_arn: str, resource_arn: str | None = None) -> str:
        """AWS's AccessDeniedException message for this denial.

        "User: <arn> is not authorized to perform: kms:Encrypt on resource: <arn> because no
        resource-based policy allows the kms:Encrypt action" (or "with an explicit deny in a
        ..."). Without a resource (CreateKey...) the "on resource" part is left out, as AWS does.
        """
        if self.allowed:
            raise ValueError("an allowed decision has no AccessDenied message")
        on_resource = f" on resource: {resource_arn}" if resource_arn else ""
        explicit = self.denial_kind.startswith("explicit deny")
        why = f"with an {self.denial_kind}" if explicit else f"because {self.denial_kind}"
        return (f"User: {principal_arn} is not authorized to perform: {self.missing_permission}"
                f"{on_resource} {why}")


# --- evaluation -----------------------------------------------------------------------------

@dataclass
class _Findings:
    """What scanning the policies found for one request."""

    key_denies: list = field(default_factory=list)      # [(name, Statement)]
    identity_denies: list = field(default_factory=list)
    key_direct: list = field(default_factory=list)
    key_account: list = field(default_factory=list)
    identity_allows: list = field(default_factory=list)
    failed: list = field(default_factory=list)          # [(name, Statement, Condition)]


def _reach(statement: Statement, principal: PrincipalInfo) -> str | None:
    """Whom a resource-based statement reaches: the principal directly, its account, or not.

    NotPrincipal follows AWS's warning that it may be checked against the account, the role
    and the session in turn: a Deny with NotPrincipal spares the caller only when every link of
    its chain is listed; an Allow with NotPrincipal reaches it only when no link is listed. Both
    resolve the ambiguity towards denial.
    """
    if statement.principal is not None:
        named = statement.principal
        if named.names_any(principal.identities, principal.service):
            return _DIRECT
        if principal.type in ("IAMUser", "AssumedRole") and principal.account_root in named.aws:
            return _ACCOUNT
        return None
    excluded = statement.not_principal
    if excluded is None or excluded.everyone:
        return None
    listed = [excluded.names(link) for link in principal.chain]
    if statement.effect == DENY:
        return None if all(listed) else _DIRECT
    return None if any(listed) else _DIRECT


def _scan_key_policy(policy: Policy, name: str, request: Request, found: _Findings) -> None:
    action, resource, lookup = request.action_lower, request.resource, request.condition_value
    principal = request.principal
    for statement in policy.statements_for(action):
        if not statement.matches_resource(resource, lookup):
            continue
        reach = _reach(statement, principal)
        if reach is None:
            continue
        failed = statement.first_failed_condition(lookup)
        if failed is not None:
            if statement.effect == ALLOW:
                found.failed.append((name, statement, failed))
        elif statement.effect == DENY:
            # A Deny naming the account root reaches every principal of that account.
            found.key_denies.append((name, statement))
        elif reach == _DIRECT:
            found.key_direct.append((name, statement))
        else:
            found.key_account.append((name, statement))


def _scan_identity_policies(policies: Sequence[NamedPolicy], request: Request,
                            found: _Findings) -> None:
    action, resource, lookup = request.action_lower, request.resource, request.condition_value
    for named in policies:
        for statement in named.policy.statements_for(action):
            if not statement.matches_resource(resource, lookup):
                continue
            failed = statement.first_failed_condition(lookup)
            if failed is not None:
                if statement.effect == ALLOW:
                    found.failed.append((named.name, statement, failed))
            elif statement.effect == DENY:
                found.identity_denies.append((named.name, statement))
            else:
                found.identity_allows.append((named.name, statement))


def _matching_grant(grants: Sequence[GrantInfo], request: Request,
                    *, account_delegated: bool) -> GrantInfo | None:
    """The first grant that allows the request, or None.

    A grant names its grantee directly; one whose grantee is the caller's account root counts
    only when `account_delegated` (the caller's identity policies allow the action), as for a
    key policy statement naming the account.
    """
    if not grants or not request.action_lower.startswith("kms:"):
        return None
    operation = request.action_lower[len("kms:"):]
    principal = request.principal
    names = principal.grantee_names
    for grant in grants:
        named = grant.grantee_principal in names or (
            account_delegated and grant.grantee_principal == principal.account_root
            and principal.type in ("IAMUser", "AssumedRole"))
        if not named or not grant.allows_operation(operation):
            continue
        if operation in _CONTEXT_OPERATIONS and not grant.constraints_met(
                request.encryption_context):
            continue
        return grant
    return None


def _ref(name: str, statement: Statement) -> StatementRef:
    return StatementRef(policy=name, index=statement.index, sid=statement.sid,
                        effect=statement.effect)


def _grant_ref(grant: GrantInfo) -> StatementRef:
    return StatementRef(policy="grant", index=0, sid=grant.name, effect=ALLOW, kind="grant",
                        grant_id=grant.grant_id)


def _failed_conditions(found: _Findings, request: Request) -> tuple[str, ...]:
    lookup = request.condition_value
    return tuple(f"{_ref(name, statement).describe()}: {condition.explain_failure(lookup)}"
                 for name, statement, condition in found.failed)


def _denied(request: Request, found: _Findings, kind: str, deciding=()) -> Decision:
    action = request.action
    failed = _failed_conditions(found, request)
    if deciding:
        reason = (f"Denied: {kind}: " + "; ".join(ref.describe() for ref in deciding)
                  + f" denies {action}.")
    else:
        reason = f"Denied: {kind}."
        if failed:
            reason += " An Allow statement matched except for a condition: " + failed[0] + "."
    return Decision(allowed=False, reason=reason, deciding=tuple(deciding), denial_kind=kind,
                    missing_permission=action, failed_conditions=failed)


def _allowed(reason: str, deciding, grant: GrantInfo | None = None) -> Decision:
    return Decision(allowed=True, reason=reason, deciding=tuple(deciding),
                    grant_id=grant.grant_id if grant else None)


def _describe(refs) -> str:
    return ", ".join(ref.describe() for ref in refs)


def _decide_without_key(request: Request, found: _Findings) -> Decision:
    """IAM-only actions (no key): identity policies alone decide."""
    action = request.action
    principal = request.principal
    if found.identity_allows:
        refs = [_ref(n, s) for n, s in found.identity_allows]
        return _allowed(f"Allowed: {_describe(refs)} allows {action}.", refs)
    own_account = request.resource_account_id in (None, principal.account_id)
    if principal.type == "Root" and own_account:
        return _allowed(f"Allowed: the root user of account {principal.account_id} needs no "
                        f"identity policy for {action} in its own account.", ())
    return _denied(request, found, NO_IDENTITY_POLICY.format(action=action))


def _decide_with_key(request: Request, found: _Findings, grants: Sequence[GrantInfo]
                     ) -> Decision:
    action = request.action
    principal = request.principal
    direct = [_ref(n, s) for n, s in found.key_direct]
    account = [_ref(n, s) for n, s in found.key_account]
    identity = [_ref(n, s) for n, s in found.identity_allows]
    # The root user holds every IAM permission of its own account without a policy.
    identity_allows = bool(identity) or principal.type == "Root"
    same_account = request.resource_account_id in (None, principal.account_id)
    service = principal.type == "AWSService"
    if not (service or same_account) and action.lower() not in CROSS_ACCOUNT_ACTIONS:
        # Whatever the key policy, IAM policies or grants say (kms-spec.md 2.11).
        return _denied(request, found, NOT_CROSS_ACCOUNT.format(action=action))

    if service or same_account:
        if direct:
            return _allowed(f"Allowed: {_describe(direct)} allows "
                            f"{principal.arn or principal.service} to perform {action}.", direct)
        if account and identity_allows and not service:
            return _allowed(f"Allowed: {_describe(account)} lets IAM policies of account "
                            f"{principal.account_id} decide, and "
                            f"{_describe(identity) or 'the account root user'} allows {action}.",
                            account + identity)
    elif identity_allows and (direct or account):
        return _allowed(f"Allowed: {_describe(direct + account)} allows account "
                        f"{principal.account_id} (another account than the key's), and "
                        f"{_describe(identity) or 'the account root user'} allows {action}.",
                        direct + account + identity)
    grant = _matching_grant(grants, request, account_delegated=identity_allows and not service)
    # Across accounts a grant also needs the caller's own IAM allow (kms-spec.md 5.3.4 as this
    # project reads it). AWS's documentation does not settle whether a grantee in another
    # account needs one; requiring it is the stricter reading.
    if grant is not None and (same_account or service or identity_allows):
        return _allowed(f"Allowed: grant {grant.grant_id} gives "
                        f"{grant.grantee_principal} {action}.",
                        [_grant_ref(grant)] + (identity if not same_account else []), grant)

    if (direct or account) and not service:
        # The key policy would have let this principal (or its account) in: IAM is missing.
        return _denied(request, found, NO_IDENTITY_POLICY.format(action=action))
    if grant is not None:
        return _denied(request, found, NO_IDENTITY_POLICY.format(action=action))
    return _denied(request, found, NO_RESOURCE_POLICY.format(action=action))


def evaluate(request: Request, *, key_policy: Policy | None,
             identity_policies: Sequence[NamedPolicy] = (), grants: Sequence[GrantInfo] = (),
             key_policy_name: str = KEY_POLICY_NAME) -> Decision:
    """Decide `request` as AWS KMS would, and say why.

    `key_policy` None means an action without a key (IAM-only): identity policies alone decide
    and grants are ignored. `identity_policies` are the caller's (a session's are its role's).
    """
    found = _Findings()
    if key_policy is not None:
        _scan_key_policy(key_policy, key_policy_name, request, found)
    _scan_identity_policies(identity_policies, request, found)
    if found.key_denies or found.identity_denies:
        refs = ([_ref(n, s) for n, s in found.key_denies]
                + [_ref(n, s) for n, s in found.identity_denies])
        kind = EXPLICIT_DENY_RESOURCE if found.key_denies else EXPLICIT_DENY_IDENTITY
        return _denied(request, found, kind, refs)
    if key_policy is None:
        return _decide_without_key(request, found)
    return _decide_with_key(request, found, grants)
