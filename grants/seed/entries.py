"""The declared world of a seed file, as `reading` builds it and `matching` annotates it.

Each entry keeps its path in the file (for problems) and, once matched, the existing object it
names (None: it is to be created) and what about it differs (what `applying` will change).
"""

from dataclasses import dataclass, field

from grants.builtin_policies import builtin_policy_arn
from grants.models import AccessKey, Account, ManagedPolicy, Role, User
from keys.models import Key

from .parsing import PolicyDocument


@dataclass
class AccessKeyEntry:
    path: str
    id: str
    secret: str
    existing: AccessKey | None = None


@dataclass
class ManagedPolicyEntry:
    """A customer managed policy of the account (`accounts[].policies[]`)."""

    path: str
    name: str
    description: str | None
    document: PolicyDocument
    existing: ManagedPolicy | None = None
    document_changes: bool = True
    # IAM keeps at most 5 versions: the oldest non-default one goes to make room for the new.
    version_to_delete: str | None = None


@dataclass
class PolicyRef:
    """A managed policy named in a user's or role's `policies`: built-in or declared."""

    path: str
    name: str
    declared: ManagedPolicyEntry | None = None   # None: a built-in policy

    def arn(self, account_id: str) -> str:
        if self.declared is None:
            return builtin_policy_arn(self.name)
        if self.declared.existing is not None:
            return self.declared.existing.arn
        return f"arn:aws:iam::{account_id}:policy/{self.name}"


@dataclass
class InlinePolicyEntry:
    path: str
    name: str
    document: PolicyDocument
    exists: bool = False    # the user or role has an inline policy of this name
    changes: bool = True


@dataclass
class PrincipalEntry:
    """What users and roles share: the managed policies attached and the inline policies."""

    path: str
    name: str
    policies: list[PolicyRef]
    inline_policies: list[InlinePolicyEntry]
    to_attach: list[PolicyRef] = field(default_factory=list)


@dataclass
class UserEntry(PrincipalEntry):
    password: str | None = None
    access_keys: list[AccessKeyEntry] = field(default_factory=list)
    existing: User | None = None
    password_changes: bool = False


@dataclass
class RoleEntry(PrincipalEntry):
    trust_policy: PolicyDocument | None = None
    description: str | None = None
    max_session_duration: int | None = None
    existing: Role | None = None
    trust_changes: bool = True


@dataclass
class KeyEntry:
    path: str
    alias: str | None
    description: str
    spec: str
    usage: str
    region: str
    tags: dict[str, str]
    policy: PolicyDocument | None = None
    rotation_days: int | None = None
    existing: Key | None = None
    tags_to_set: list[tuple[str, str]] = field(default_factory=list)
    policy_changes: bool = False
    rotation_changes: bool = False


@dataclass
class AccountEntry:
    path: str
    id: str
    alias: str | None
    users: list[UserEntry]
    keys: list[KeyEntry]
    policies: list[ManagedPolicyEntry] = field(default_factory=list)
    roles: list[RoleEntry] = field(default_factory=list)
    existing: Account | None = None
