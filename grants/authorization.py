"""`authorize()`: the single permission check every service calls before it acts.

It gathers what AWS evaluates for a request (kms-spec.md 5.3, design.md "Authorization"): the
key policy of the key acted on, the caller's identity policies (an IAM user's own, or the role's
for an assumed-role session) and the grants on the key, plus the request's condition keys, and
hands them to the pure evaluator in grants.policy. A denial raises AccessDeniedException with
AWS's wording; the Decision says which statements decided and which condition failed, for the
console and the policy simulator.

KMS itself (the scheduler rotating or deleting keys) acts for the account without evaluation,
as AWS's service principal does; a request whose authentication failed never gets here, and is
refused if it does.
"""

import logging
import threading
from collections import OrderedDict

from kmsconsole.errors import AccessDeniedError

from .policy.document import parse_policy_cached
from .policy.errors import PolicyError
from .policy.evaluate import Decision, GrantInfo, NamedPolicy, PrincipalInfo, Request, evaluate
from .principals import Caller, Principal
from .selectors import MAX_IDENTITY_POLICY_SIZE, identity_policies_for

log = logging.getLogger(__name__)

__all__ = ["Decision", "authorize", "decide"]

# Condition keys whose values cost a query: looked up only when a policy mentions them.
RESOURCE_TAG_PREFIX = "aws:resourcetag/"
RESOURCE_ALIASES = "kms:resourcealiases"

IDENTITY_CACHE_SIZE = 4096
_identity_cache: OrderedDict[tuple, tuple[list[str], list[NamedPolicy]]] = OrderedDict()
_cache_lock = threading.Lock()  # gunicorn threads and Celery's thread pool share it


def authorize(caller: Caller, action: str, *, key=None, resource_arn: str | None = None,
              resource_account_id: str | None = None, context: dict | None = None,
              encryption_context: dict | None = None) -> Decision:
    """Allow, or raise AccessDeniedError. `action` is the IAM action, e.g. "kms:Encrypt".

    `key` (a keys.Key) makes the key's policy and grants part of the decision; without it the
    caller's identity policies alone decide (CreateKey, ListKeys, IAM actions...), on
    `resource_arn` of `resource_account_id` if given. `context` adds the operation's condition
    keys (kms:SigningAlgorithm, aws:RequestTag/..., ...); `encryption_context` is the request's
    context for operations that take one ({} when sent without), None for the others.
    """
    decision = decide(caller, action, key=key, resource_arn=resource_arn,
                      resource_account_id=resource_account_id, context=context,
                      encryption_context=encryption_context)
    if not decision.allowed:
        target = key.arn if key is not None else resource_arn
        raise AccessDeniedError(decision.message(caller.principal.arn or "anonymous", target))
    return decision


def decide(caller: Caller, action: str, *, key=None, resource_arn: str | None = None,
           resource_account_id: str | None = None, context: dict | None = None,
           encryption_context: dict | None = None, include_grants: bool = True) -> Decision:
    """The Decision for `action`, without raising: what authorize() and the simulator use.

    include_grants=False decides on the policies alone (the key policy lockout check: a
    grant cannot give back the right to change a policy that locks the caller out)."""
    principal = caller.principal
    if principal.type == "AWSService":
        return Decision(True, "KMS acts for the account (scheduled work)")
    if principal.type not in ("IAMUser", "AssumedRole", "Root"):
        # A request whose authentication failed reaches a service only by a bug; refuse it.
        return Decision(False, "the request is not authenticated",
                        denial_kind=f"no identity-based policy allows the {action} action",
                        missing_permission=action)
    try:
        identity_texts, identity_policies = _identity_policies(principal)
        key_policy = parse_policy_cached(key.policy, kind="key") if key is not None else None
    except PolicyError as error:
        # Stored policies are validated when written; one that no longer parses must not
        # silently drop its Deny statements, so nothing is allowed until it is fixed.
        log.error("a stored policy does not parse (%s); denying %s", error.message, action)
        return Decision(False, f"a policy in force does not parse: {error.message}",
                        denial_kind=f"no identity-based policy allows the {action} action",
                        missing_permission=action)
    if key is not None:
        resource_arn, resource_account_id = key.arn, key.account_id
    elif resource_account_id is not None and resource_account_id != principal.account_id:
        # IAM users, roles and policies have no resource-based policy that could let another
        # account in: whatever the caller's own policies say, the answer is no.
        return Decision(False, "the resource belongs to another account, and IAM resources "
                        "have no resource-based policy",
                        denial_kind=f"no resource-based policy allows the {action} action",
                        missing_permission=action)
    request = Request(
        principal=principal_info(principal),
        action=action,
        resource_arn=resource_arn,
        resource_account_id=resource_account_id,
        context=_condition_keys(caller, key, context,
                                policy_texts=identity_texts
                                + ([key.policy] if key is not None else [])),
        encryption_context=encryption_context,
    )
    decision = evaluate(request, key_policy=key_policy, identity_policies=identity_policies)
    if (key is None or not include_grants or decision.allowed
            or (decision.denial_kind or "").startswith("explicit")):
        return decision
    # Grants only matter once the policies alone did not allow (and nothing denied outright):
    # the common request never reads them.
    grants = _grants_for(key, request.principal)
    if not grants:
        return decision
    return evaluate(request, key_policy=key_policy, identity_policies=identity_policies,
                    grants=grants)


def _identity_policies(principal: Principal) -> tuple[list[str], list[NamedPolicy]]:
    """The caller's identity policies, as texts and parsed.

    Reading them costs four queries, so they are cached per process by the owner's unique id
    and policy_version, which every change bumps in the same transaction (grants.services) and
    which the request's authentication read with the user or role row; a stale entry can
    therefore never be used. A principal whose version is unknown reads them afresh.
    """
    if principal.policy_version is None:
        return _read_identity_policies(principal)
    owner_id = principal.principal_id.split(":", 1)[0]  # AIDA... of a user, AROA... of a role
    cache_key = (owner_id, principal.policy_version)
    with _cache_lock:
        cached = _identity_cache.get(cache_key)
        if cached is not None:
            _identity_cache.move_to_end(cache_key)
            return cached
    cached = _read_identity_policies(principal)
    with _cache_lock:
        _identity_cache[cache_key] = cached
        while len(_identity_cache) > IDENTITY_CACHE_SIZE:
            _identity_cache.popitem(last=False)
    return cached


def _read_identity_policies(principal: Principal) -> tuple[list[str], list[NamedPolicy]]:
    named = identity_policies_for(principal)
    parsed = [NamedPolicy(name, parse_policy_cached(text, kind="identity",
                                                    max_size=MAX_IDENTITY_POLICY_SIZE))
              for name, text in named]
    return [text for _, text in named], parsed


def principal_info(principal: Principal) -> PrincipalInfo:
    return PrincipalInfo(arn=principal.arn, account_id=principal.account_id,
                         type=principal.type, user_id=principal.principal_id,
                         username=principal.user_name, role_arn=principal.role_arn)


def _grants_for(key, principal: PrincipalInfo) -> list[GrantInfo]:
    grants = key.grants.filter(grantee_principal__in=sorted(principal.grantee_names))
    return [grant_info(grant) for grant in grants]


def grant_info(grant) -> GrantInfo:
    constraints = grant.constraints or {}
    return GrantInfo(grant_id=grant.grant_id, grantee_principal=grant.grantee_principal,
                     operations=frozenset(grant.operations), name=grant.name,
                     encryption_context_equals=constraints.get("EncryptionContextEquals"),
                     encryption_context_subset=constraints.get("EncryptionContextSubset"))


def _condition_keys(caller: Caller, key, extra: dict | None, *, policy_texts: list[str]) -> dict:
    """The request's condition keys (kms-spec.md 5.2) that this server can know."""
    values: dict[str, object] = {
        "aws:SourceIp": caller.source_ip,
        "aws:UserAgent": caller.user_agent,
        "aws:RequestedRegion": caller.region,
        "aws:SecureTransport": caller.secure_transport,
        "aws:MultiFactorAuthPresent": caller.mfa_authenticated,
        "aws:ViaAWSService": False,
    }
    if key is not None:
        values.update({
            "kms:KeySpec": key.key_spec, "kms:KeyUsage": key.key_usage,
            "kms:KeyOrigin": key.origin, "kms:MultiRegion": False,
            # Deprecated names that old policies still use.
            "kms:CustomerMasterKeySpec": key.key_spec, "kms:CustomerMasterKeyUsage": key.key_usage,
        })
        mentioned = _mentioned_keys(policy_texts)
        if key._state.adding:
            mentioned = set()  # a key being created (policy lockout check) has no tags yet
        if RESOURCE_TAG_PREFIX in mentioned:
            for tag in key.tags.all():
                values[f"aws:ResourceTag/{tag.tag_key}"] = tag.tag_value
        if RESOURCE_ALIASES in mentioned:
            values["kms:ResourceAliases"] = [alias.name for alias in key.aliases.all()]
    values.update(extra or {})
    return values


def _mentioned_keys(policy_texts: list[str]) -> set[str]:
    """Which of the costly condition keys any policy in force refers to (a plain text search:
    a false positive costs one query, never a wrong decision)."""
    texts = [text.lower() for text in policy_texts]
    return {name for name in (RESOURCE_TAG_PREFIX, RESOURCE_ALIASES)
            if any(name in text for text in texts)}
