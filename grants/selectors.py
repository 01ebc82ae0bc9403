"""Reading IAM identities and their identity policies.

`identity_policies_for` is what authorization evaluates besides key policies and grants. It lives
here, apart from grants.services, because grants.authorization may import it while
grants.services imports grants.authorization (importing it from there would be a cycle).
Nothing is cached: a policy change applies to the very next request.
"""

import re

from django.db.models import Prefetch, Q

from kmsconsole.errors import NoSuchEntityError

from .builtin_policies import BUILTIN_POLICIES, builtin_policy_document
from .models import Account, ManagedPolicyVersion, Role, User

# The largest identity policy this service stores: a role's inline policies may together reach
# 10,240 characters (IAM's quota), more than grants.policy's default for kind "identity" (6,144,
# the managed-policy quota). Parse identity_policies_for's documents with this max_size.
MAX_IDENTITY_POLICY_SIZE = 10240


def identity_policies_for(principal) -> list[tuple[str, str]]:
    """The identity policies in force for `principal`, as (name, document text) pairs.

    An IAM user's own policies; for an assumed-role session, the policies of its role. Inline
    policies first (named "<owner ARN> inline policy <name>"), then attached managed policies at
    their default version (named by their ARN); each group by name, so explanations are stable.
    Any other principal (the scheduler, an unauthenticated request) has none.
    """
    owner = _policy_owner(principal)
    if owner is None:
        return []
    policies = [(f"{owner.arn} inline policy {inline.name}", inline.document)
                for inline in owner.inline_policies.order_by("name")]
    attached = owner.attached_policies.order_by("name", "arn").prefetch_related(
        Prefetch("versions", queryset=ManagedPolicyVersion.objects.filter(is_default=True),
                 to_attr="default_versions"))
    for policy in attached:
        if policy.is_builtin:
            # Built-in documents come from code; a name no longer defined there grants nothing.
            if policy.name in BUILTIN_POLICIES:
                policies.append((policy.arn, builtin_policy_document(policy.name)))
        elif policy.default_versions:
            policies.append((policy.arn, policy.default_versions[0].document))
    return policies


def _policy_owner(principal) -> User | Role | None:
    if principal.type == "IAMUser":
        # Threat: a deactivated user's policies still applying to a request in flight.
        return User.objects.filter(arn=principal.arn, is_active=True).first()
    if principal.type == "AssumedRole" and principal.role_arn:
        return Role.objects.filter(arn=principal.role_arn).first()
    return None


def role_get(*, account_id: str, name: str) -> Role:
    """The role `name` of the account, or NoSuchEntity (IAM's GetRole wording)."""
    role = Role.objects.filter(account_id=account_id, name=name).first()
    if role is None:
        raise NoSuchEntityError(f"The role with name {name} cannot be found.")
    return role


def user_get(*, account_id: str, name: str) -> User:
    """The user `name` of the account, or NoSuchEntity (IAM's GetUser wording)."""
    user = User.objects.filter(account_id=account_id, name=name).first()
    if user is None:
        raise NoSuchEntityError(f"The user with name {name} cannot be found.")
    return user


IAM_PRINCIPAL_ARN = re.compile(
    r"arn:aws:(?:iam::(?P<account>\d{12}):(?P<kind>root|user|role)(?P<rest>/.*)?"
    r"|sts::(?P<sts_account>\d{12}):assumed-role/(?P<role>[^/]+)/.+)")


def principal_exists(arn: str) -> bool:
    """Whether a principal a policy names exists here: an account (its root), an IAM user or
    role, or a session of an existing role. KMS refuses key policies naming anything else
    (kms-spec.md 5.4, "invalid principals"); "*" is everyone and always exists."""
    if arn == "*":
        return True
    match = IAM_PRINCIPAL_ARN.fullmatch(arn)
    if match is None:
        return False
    if match["sts_account"]:
        return Role.objects.filter(account_id=match["sts_account"], name=match["role"]).exists()
    if match["kind"] == "root":
        return match["rest"] is None and Account.objects.filter(pk=match["account"]).exists()
    model = User if match["kind"] == "user" else Role
    return model.objects.filter(arn=arn).exists()


def signin_candidate(*, account: str, user_name: str) -> tuple[str, User | None]:
    """(account id, user) that a sign-in attempt names, for its audit event: the account by
    id or alias ("" when none matches) and its user of that name (None when there is none)."""
    found = Account.objects.filter(Q(id=account) | Q(alias=account)).first()
    if found is None:
        return "", None
    return found.id, User.objects.filter(account=found, name=user_name).first()


def principals_of_account(account_id: str) -> list[User | Role]:
    """The account's active IAM users and its roles, by name (case-insensitive), users before
    roles of the same name: the people and workloads the Create key wizard offers as key
    administrators and key users (kms-spec.md 8.2, steps 3 and 4). Another account's principals
    are never listed: they join a key policy through "Other AWS accounts" only."""
    users = list(User.objects.filter(account_id=account_id, is_active=True))
    roles = list(Role.objects.filter(account_id=account_id))
    return sorted(users + roles, key=lambda p: (p.name.lower(), isinstance(p, Role)))
