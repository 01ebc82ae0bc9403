"""Role services the console's Roles pages need besides those in grants.services: reading roles
(ListRoles, GetRole, ListAttachedRolePolicies, ListRolePolicies, GetRolePolicy), UpdateRole
(description, maximum session duration), and deleting a role the way the IAM console does.

One door, like every service: each reads or changes through authorize -> act -> audit, recorded
as IAM's own CloudTrail event (eventSource iam.amazonaws.com). Reads are authorized too, so the
console shows a role only to whoever could read it through the API.
"""

import datetime
import json
from dataclasses import dataclass

from django.db.models import Max

from audit.recording import operation
from grants.authorization import authorize
from grants.principals import Caller
from kmsconsole.errors import NoSuchEntityError, ValidationError

from . import services
from .models import (
    MAX_MAX_SESSION_DURATION,
    MIN_MAX_SESSION_DURATION,
    InlinePolicy,
    ManagedPolicy,
    Role,
)
from .policy.document import parse_policy
from .policy.errors import PolicyError
from .services import IAM

MAX_DESCRIPTION_LENGTH = 1000


@dataclass(frozen=True)
class RoleSummary:
    """A role as the Roles pages show it: who may assume it and when it was last assumed."""

    role: Role
    trusted_entities: tuple[str, ...]
    last_activity: datetime.datetime | None


def role_list(*, caller: Caller, name_filter: str = "") -> list[RoleSummary]:
    """ListRoles: the caller's account's roles by name (case-insensitive), those whose name
    contains `name_filter` (the console's filter box; case-insensitive, as AWS's)."""
    with operation(caller, "ListRoles", read_only=True, event_source=IAM,
                   request_parameters=None):
        authorize(caller, "iam:ListRoles", resource_account_id=caller.account_id)
        roles = Role.objects.filter(account_id=caller.account_id)
        if name_filter:
            roles = roles.filter(name__icontains=name_filter)
        roles = roles.annotate(last_assumed=Max("sessions__created_at"))
        return [_summary(role, role.last_assumed)
                for role in sorted(roles, key=lambda role: role.name.lower())]


def role_get_detail(*, caller: Caller, name: str) -> RoleSummary:
    """GetRole: the role `name` of the caller's account, or NoSuchEntity.

    Authorized before the lookup's result is revealed: a caller who may not read roles learns
    nothing about which names exist (the refusal is the same either way)."""
    with operation(caller, "GetRole", read_only=True, event_source=IAM,
                   request_parameters={"roleName": name}):
        role = Role.objects.filter(account_id=caller.account_id, name=name).first()
        arn = role.arn if role else f"arn:aws:iam::{caller.account_id}:role/{name}"
        authorize(caller, "iam:GetRole", resource_arn=arn, resource_account_id=caller.account_id)
        if role is None:
            raise NoSuchEntityError(f"The role with name {name} cannot be found.")
        last_assumed = role.sessions.aggregate(last=Max("created_at"))["last"]
        return _summary(role, last_assumed)


def role_attached_policies(*, caller: Caller, role: Role) -> list[ManagedPolicy]:
    """ListAttachedRolePolicies: the managed policies attached to `role`, by name."""
    with operation(caller, "ListAttachedRolePolicies", read_only=True, event_source=IAM,
                   request_parameters={"roleName": role.name}):
        authorize(caller, "iam:ListAttachedRolePolicies", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        return list(role.attached_policies.order_by("name", "arn"))


def role_inline_policies(*, caller: Caller, role: Role) -> list[InlinePolicy]:
    """ListRolePolicies: the inline policies embedded in `role`, by name."""
    with operation(caller, "ListRolePolicies", read_only=True, event_source=IAM,
                   request_parameters={"roleName": role.name}):
        authorize(caller, "iam:ListRolePolicies", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        return list(role.inline_policies.order_by("name"))


def role_inline_policy_get(*, caller: Caller, role: Role, policy_name: str) -> InlinePolicy:
    """GetRolePolicy: one inline policy of `role` with its document, or NoSuchEntity."""
    with operation(caller, "GetRolePolicy", read_only=True, event_source=IAM,
                   request_parameters={"roleName": role.name, "policyName": policy_name}):
        authorize(caller, "iam:GetRolePolicy", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        policy = role.inline_policies.filter(name=policy_name).first()
        if policy is None:
            raise NoSuchEntityError(
                f"The role policy with name {policy_name} cannot be found.")
        return policy


def role_update(*, caller: Caller, role: Role, max_session_duration: int,
                description: str | None = None) -> Role:
    """UpdateRole: the role's maximum session duration (1 to 12 hours, in seconds) and, when
    given, its description. Sessions already issued keep their expiry, as in AWS."""
    parameters = {"roleName": role.name, "maxSessionDuration": max_session_duration}
    if description is not None:
        parameters["description"] = description
    with operation(caller, "UpdateRole", read_only=False, event_source=IAM,
                   request_parameters=parameters):
        authorize(caller, "iam:UpdateRole", resource_arn=role.arn,
                  resource_account_id=role.account_id)
        _check_max_session_duration(max_session_duration)
        if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
            raise ValidationError(
                "1 validation error detected: Value at 'description' failed to satisfy "
                f"constraint: Member must have length less than or equal to "
                f"{MAX_DESCRIPTION_LENGTH}")
        role.max_session_duration = max_session_duration
        fields = ["max_session_duration"]
        if description is not None:
            role.description = description
            fields.append("description")
        role.save(update_fields=fields)
        return role


def role_delete_with_policies(*, caller: Caller, role: Role) -> None:
    """Delete `role` as the IAM console does after its confirmation: detach every managed
    policy, delete every inline policy, then DeleteRole.

    Each step is the ordinary service call with its own event (DetachRolePolicy,
    DeleteRolePolicy, DeleteRole), exactly what AWS's console sends; a refused step stops the
    deletion there and raises, and what was done before it stays done (as in AWS).
    """
    for policy_arn in role.attached_policies.order_by("arn").values_list("arn", flat=True):
        services.policy_detach_role(caller=caller, role=role, policy_arn=policy_arn)
    for policy_name in role.inline_policies.order_by("name").values_list("name", flat=True):
        services.role_delete_inline_policy(caller=caller, role=role, policy_name=policy_name)
    services.role_delete(caller=caller, role=role)


def trusted_entities(trust_policy: str) -> tuple[str, ...]:
    """Who a trust policy lets assume the role, as the IAM console's "Trusted entities" column
    words it: "Account: 111122223333" (an account, or a user or role of it), "AWS Service: ec2",
    "Identity Provider: ..." or "Anyone". Pure; a document that no longer parses names nobody.
    """
    try:
        policy = parse_policy(trust_policy, kind="trust")
    except PolicyError:
        return ()
    found: list[str] = []
    for statement in policy.statements:
        if statement.effect != "Allow" or statement.principal is None:
            continue
        principal = statement.principal
        names = ["Anyone"] if principal.everyone else []
        names += [_account_entity(arn) for arn in sorted(principal.aws)]
        names += [f"AWS Service: {service.removesuffix('.amazonaws.com')}"
                  for service in sorted(principal.services)]
        names += [f"Identity Provider: {provider}" for provider in sorted(principal.federated)]
        found += [name for name in names if name not in found]
    return tuple(found)


def trust_policy_for_account(account_id: str) -> str:
    """The trust policy the IAM console writes for trusted entity type "AWS account": the
    account's root, so that the account's own IAM policies decide who may assume the role."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "sts:AssumeRole",
        }],
    }, indent=4)


def _account_entity(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) >= 5 and parts[4].isdigit():
        return f"Account: {parts[4]}"
    return arn  # a unique id (AROA..., AIDA...) left by a deleted principal: shown as is


def _summary(role: Role, last_assumed) -> RoleSummary:
    return RoleSummary(role=role, trusted_entities=trusted_entities(role.trust_policy),
                       last_activity=last_assumed)


def _check_max_session_duration(value) -> None:
    """IAM's model constraint on MaxSessionDuration, in its wording."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError("1 validation error detected: Value at 'maxSessionDuration' "
                              "failed to satisfy constraint: Member must be an integer")
    if value < MIN_MAX_SESSION_DURATION:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'maxSessionDuration' failed to "
            f"satisfy constraint: Member must have value greater than or equal to "
            f"{MIN_MAX_SESSION_DURATION}")
    if value > MAX_MAX_SESSION_DURATION:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'maxSessionDuration' failed to "
            f"satisfy constraint: Member must have value less than or equal to "
            f"{MAX_MAX_SESSION_DURATION}")
