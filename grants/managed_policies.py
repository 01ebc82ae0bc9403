"""Reading managed policies for the console's Policies pages (ListPolicies, GetPolicy,
GetPolicyVersion, ListPolicyVersions, ListEntitiesForPolicy), and deleting a customer managed
policy the way the IAM console does. Creating, versioning and attaching are in grants.services.

One door, like every service: authorize -> read or act -> audit, recorded as IAM's own
CloudTrail events. Built-in (AWS managed) policies are listed with the account's own: their
documents come from grants.builtin_policies, their single version is v1, and their attachment
count is the caller's account's only (one row serves every account, see ManagedPolicy).
"""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q

from audit.recording import operation
from grants.authorization import authorize
from grants.principals import Caller
from kmsconsole.errors import NoSuchEntityError, ValidationError

from . import services
from .builtin_policies import BUILTIN_POLICIES, builtin_policy_arn, builtin_policy_name
from .models import ManagedPolicy, Role, User
from .services import IAM, POLICY_ARN_PATTERN

AWS_MANAGED = "AWS managed"
CUSTOMER_MANAGED = "Customer managed"
BUILTIN_VERSION = "v1"


@dataclass(frozen=True)
class PolicySummary:
    """A managed policy as the Policies pages show it, built-in or customer managed."""

    name: str
    arn: str
    aws_managed: bool
    description: str
    attachment_count: int
    default_version_id: str
    created_at: datetime.datetime | None = None   # None for built-ins: they predate the account
    updated_at: datetime.datetime | None = None
    policy_id: str = ""

    @property
    def type_label(self) -> str:
        return AWS_MANAGED if self.aws_managed else CUSTOMER_MANAGED


@dataclass(frozen=True)
class PolicyVersion:
    """One version of a managed policy (a built-in's only version is v1)."""

    version_id: str
    document: str
    is_default: bool
    created_at: datetime.datetime | None = None


@dataclass(frozen=True)
class PolicyEntities:
    """The users and roles of the caller's account a managed policy is attached to."""

    users: list[User]
    roles: list[Role]


def policy_list(*, caller: Caller, name_filter: str = "", policy_type: str = ""
                ) -> list[PolicySummary]:
    """ListPolicies: the built-in policies and the account's customer managed policies, by name
    (case-insensitive); `name_filter` matches names case-insensitively, `policy_type` is
    AWS_MANAGED, CUSTOMER_MANAGED or "" for both (the console's filters)."""
    with operation(caller, "ListPolicies", read_only=True, event_source=IAM,
                   request_parameters=None):
        authorize(caller, "iam:ListPolicies", resource_account_id=caller.account_id)
        counts = _attachment_counts(caller.account_id)
        summaries = [_builtin_summary(name, counts) for name in BUILTIN_POLICIES]
        for policy in ManagedPolicy.objects.filter(account_id=caller.account_id):
            summaries.append(_customer_summary(policy, counts.get(policy.arn, 0)))
        wanted = [summary for summary in summaries
                  if name_filter.lower() in summary.name.lower()
                  and policy_type in ("", summary.type_label)]
        return sorted(wanted, key=lambda summary: (summary.name.lower(), summary.arn))


def policy_get(*, caller: Caller, policy_arn: str) -> PolicySummary:
    """GetPolicy: one managed policy the caller's account may use, or NoSuchEntity."""
    with operation(caller, "GetPolicy", read_only=True, event_source=IAM,
                   request_parameters={"policyArn": policy_arn}):
        builtin = _authorize_policy(caller, "iam:GetPolicy", policy_arn)
        counts = _attachment_counts(caller.account_id, arn=policy_arn)
        if builtin is not None:
            return _builtin_summary(builtin, counts)
        return _customer_summary(_customer_policy(caller, policy_arn),
                                 counts.get(policy_arn, 0))


def policy_versions_list(*, caller: Caller, policy_arn: str) -> list[PolicyVersion]:
    """ListPolicyVersions: the kept versions of a managed policy, newest first."""
    with operation(caller, "ListPolicyVersions", read_only=True, event_source=IAM,
                   request_parameters={"policyArn": policy_arn}):
        builtin = _authorize_policy(caller, "iam:ListPolicyVersions", policy_arn)
        if builtin is not None:
            return [_builtin_version(builtin)]
        policy = _customer_policy(caller, policy_arn)
        return [PolicyVersion(version.version_id, version.document, version.is_default,
                              version.created_at)
                for version in policy.versions.order_by("-created_at", "-id")]


def policy_version_get(*, caller: Caller, policy_arn: str, version_id: str) -> PolicyVersion:
    """GetPolicyVersion: one version's document, or NoSuchEntity."""
    with operation(caller, "GetPolicyVersion", read_only=True, event_source=IAM,
                   request_parameters={"policyArn": policy_arn, "versionId": version_id}):
        builtin = _authorize_policy(caller, "iam:GetPolicyVersion", policy_arn)
        if builtin is not None and version_id == BUILTIN_VERSION:
            return _builtin_version(builtin)
        version = None
        if builtin is None:
            policy = _customer_policy(caller, policy_arn)
            version = policy.versions.filter(version_id=version_id).first()
        if version is None:
            raise NoSuchEntityError(f"Policy {policy_arn} version {version_id[:32]} does not "
                                    "exist or is not attachable.")
        return PolicyVersion(version.version_id, version.document, version.is_default,
                             version.created_at)


def policy_entities_list(*, caller: Caller, policy_arn: str) -> PolicyEntities:
    """ListEntitiesForPolicy: the caller's account's users and roles the policy is attached
    to, by name (another account's attachments of a built-in policy are not its business)."""
    with operation(caller, "ListEntitiesForPolicy", read_only=True, event_source=IAM,
                   request_parameters={"policyArn": policy_arn}):
        builtin = _authorize_policy(caller, "iam:ListEntitiesForPolicy", policy_arn)
        if builtin is None:
            _customer_policy(caller, policy_arn)
        users = User.objects.filter(account_id=caller.account_id,
                                    attached_policies__arn=policy_arn).order_by("name")
        roles = Role.objects.filter(account_id=caller.account_id,
                                    attached_policies__arn=policy_arn).order_by("name")
        return PolicyEntities(users=list(users), roles=list(roles))


def policy_delete_with_versions(*, caller: Caller, policy_arn: str) -> None:
    """Delete a customer managed policy as the IAM console does after its confirmation:
    detach it from every user and role, delete its versions other than the default, then
    DeletePolicy.

    Each step is the ordinary service call with its own event (DetachUserPolicy,
    DetachRolePolicy, DeletePolicyVersion, DeletePolicy), what AWS's console sends; a refused
    step stops there and raises, and what was done before it stays done (as in AWS).
    """
    entities = policy_entities_list(caller=caller, policy_arn=policy_arn)
    for user in entities.users:
        services.policy_detach_user(caller=caller, user=user, policy_arn=policy_arn)
    for role in entities.roles:
        services.policy_detach_role(caller=caller, role=role, policy_arn=policy_arn)
    for version in policy_versions_list(caller=caller, policy_arn=policy_arn):
        if not version.is_default:
            services.managed_policy_delete_version(caller=caller, policy_arn=policy_arn,
                                                   version_id=version.version_id)
    services.managed_policy_delete(caller=caller, policy_arn=policy_arn)


def customer_policy_arn(*, account_id: str, name: str) -> str:
    """The ARN of the account's customer managed policy `name` (names are unique per account
    whatever their path), or the ARN it would have at path "/" when there is none, so that
    the service called with it refuses it with IAM's own NoSuchEntity or AccessDenied."""
    policy = ManagedPolicy.objects.filter(account_id=account_id, name=name).first()
    return policy.arn if policy else f"arn:aws:iam::{account_id}:policy/{name}"


# --- helpers ----------------------------------------------------------------------------------

def _authorize_policy(caller: Caller, action: str, policy_arn) -> str | None:
    """Authorize `action` on the policy; the built-in policy's name if it is one, else None.

    Built-in policies belong to no account, so only the caller's identity policies decide
    (resource account None); a customer managed policy of another account is refused by
    authorize() itself (IAM resources have no resource-based policy)."""
    match = POLICY_ARN_PATTERN.fullmatch(policy_arn) if isinstance(policy_arn, str) else None
    if match is None:
        raise ValidationError(f"ARN {str(policy_arn)[:2048]} is not valid.")
    owner = match.group(1)
    authorize(caller, action, resource_arn=policy_arn,
              resource_account_id=None if owner == "aws" else owner)
    if owner == "aws":
        builtin = builtin_policy_name(policy_arn)
        if builtin is None:
            raise NoSuchEntityError(f"Policy {policy_arn} was not found.")
        return builtin
    return None


def _customer_policy(caller: Caller, policy_arn: str) -> ManagedPolicy:
    policy = ManagedPolicy.objects.filter(arn=policy_arn, account_id=caller.account_id).first()
    if policy is None:
        raise NoSuchEntityError(f"Policy {policy_arn} was not found.")
    return policy


def _attachment_counts(account_id: str, *, arn: str | None = None) -> dict[str, int]:
    """Policy ARN -> how many of the account's users and roles it is attached to."""
    policies = ManagedPolicy.objects.filter(Q(account_id=account_id) | Q(account__isnull=True))
    if arn is not None:
        policies = policies.filter(arn=arn)
    counted = policies.annotate(
        user_count=Count("users", filter=Q(users__account_id=account_id), distinct=True),
        role_count=Count("roles", filter=Q(roles__account_id=account_id), distinct=True))
    return {policy.arn: policy.user_count + policy.role_count for policy in counted}


def _builtin_summary(name: str, counts: dict[str, int]) -> PolicySummary:
    arn = builtin_policy_arn(name)
    return PolicySummary(name=name, arn=arn, aws_managed=True,
                         description=BUILTIN_POLICIES[name][0],
                         attachment_count=counts.get(arn, 0),
                         default_version_id=BUILTIN_VERSION)


def _customer_summary(policy: ManagedPolicy, attachment_count: int) -> PolicySummary:
    return PolicySummary(name=policy.name, arn=policy.arn, aws_managed=False,
                         description=policy.description, attachment_count=attachment_count,
                         default_version_id=policy.default_version_id,
                         created_at=policy.created_at, updated_at=policy.updated_at,
                         policy_id=policy.policy_id)


def _builtin_version(name: str) -> PolicyVersion:
    return PolicyVersion(BUILTIN_VERSION, BUILTIN_POLICIES[name][1], True)
