"""Parsing and validating policy documents: key policies, identity policies, trust policies.

`parse_policy(text, kind=...)` turns a JSON policy into an immutable `Policy` whose statements
hold the normalised form (lists, lower-cased actions, account ids as root ARNs) and their
compiled matchers. Callers parse once and evaluate many times; `parse_policy_cached` keeps the
last parsed documents by text, which is safe because a Policy never changes.

The three kinds differ as IAM and KMS do (kms-spec.md 5.2 and 5.4):

- key: every statement names a Principal or NotPrincipal; Sids may hold spaces; a statement
  without Action or Resource is accepted but has no effect (KMS accepts it, the console flags
  it); 32 KB quota, counted in bytes.
- identity: no Principal or NotPrincipal; Action and Resource required; Sids alphanumeric and
  unique (IAM's rules); 6,144 characters quota (managed policy), not counting white space.
- trust (a role's assume-role policy): Principal or NotPrincipal required, Action required, no
  Resource (the role is the resource); 2,048 characters (ACLSizePerRole).

Version "2012-10-17" enables policy variables; "2008-10-17" and an absent Version (which IAM
reads as 2008-10-17) leave `${...}` as literal text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from .conditions import Condition, compile_conditions
from .errors import PolicyError, PolicyTooLargeError
from .patterns import PatternSet, Template, parse_template

__all__ = [
    "DEFAULT_MAX_SIZE",
    "KINDS",
    "Policy",
    "PolicyError",
    "PolicyTooLargeError",
    "Principals",
    "Statement",
    "parse_policy",
    "parse_policy_cached",
]

KINDS = ("key", "identity", "trust")
CURRENT_VERSION = "2012-10-17"
LEGACY_VERSION = "2008-10-17"
VERSIONS = (CURRENT_VERSION, LEGACY_VERSION)
ALLOW = "Allow"
DENY = "Deny"

# Quotas: KMS counts a key policy in bytes; IAM counts characters without white space.
DEFAULT_MAX_SIZE = {"key": 32768, "identity": 6144, "trust": 2048}
_SIZE_MESSAGES = {
    "key": "The key policy exceeds the quota of {limit} bytes.",
    "identity": "Cannot exceed quota for PolicySize: {limit}",
    "trust": "Cannot exceed quota for ACLSizePerRole: {limit}",
}

_DOCUMENT_MEMBERS = ("Version", "Id", "Statement")
_STATEMENT_MEMBERS = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                      "Resource", "NotResource", "Condition")

_IAM_SID = re.compile(r"[0-9A-Za-z]*")
_ACTION = re.compile(r"[A-Za-z0-9_-]+:[A-Za-z0-9_*?-]+")
_ACCOUNT_ID = re.compile(r"\d{12}")
# Principal ARNs: no wildcards (AWS refuses partial wildcards in principals).
_PRINCIPAL_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::\d{12}:(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)"
    r"|arn:aws[a-z-]*:sts::\d{12}:(assumed-role/[\w+=,.@-]+/[\w+=,.@-]+"
    r"|federated-user/[\w+=,.@-]+)")
# Unique ids: what IAM shows in a policy whose user or role was deleted and re-created.
_UNIQUE_ID = re.compile(r"A(IDA|ROA)[A-Z0-9]{12,}")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*")
INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."


@dataclass(frozen=True)
class Principals:
    """A Principal or NotPrincipal element, normalised.

    `everyone` for "*" and {"AWS": "*"} (equivalent in AWS). `aws` holds ARNs, account ids
    already turned into arn:aws:iam::<id>:root, and unique ids. Federated principals are kept
    for display but match nobody here (this service has no identity federation).
    """

    everyone: bool = False
    aws: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()

    def names_any(self, identities: frozenset[str], service: str | None) -> bool:
        """Whether the element names one of the caller's identities (or everyone)."""
        return (self.everyone or not self.aws.isdisjoint(identities)
                or (service is not None and service in self.services))

    def names(self, identity: str) -> bool:
        return identity in self.aws or identity in self.services


@dataclass(frozen=True)
class Statement:
    """One statement, normalised, with its matchers compiled."""

    index: int
    sid: str | None
    effect: str                                   # "Allow" or "Deny"
    principal: Principals | None = None
    not_principal: Principals | None = None
    actions: tuple[str, ...] | None = None        # lower-cased patterns
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] = ()
    # False for a key policy statement without Action or Resource: KMS accepts it, but it
    # allows and denies nothing.
    effective: bool = True
    _action_patterns: PatternSet | None = field(default=None, repr=False, compare=False)
    _resource_patterns: PatternSet | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        """Where the statement is, for explanations: Statement[2] "Allow use of the key"."""
        return f'Statement[{self.index}] "{self.sid}"' if self.sid else f"Statement[{self.index}]"

    def matches_action(self, action_lower: str) -> bool:
        if self._action_patterns is None:
            return False
        matched = self._action_patterns.matches(action_lower)
        return matched if self.actions is not None else not matched

    def matches_resource(self, resource: str, lookup) -> bool:
        """`resource` is the request's resource ARN, or "*" for actions without one."""
        if self._resource_patterns is None:
            return True  # a trust policy: the statement is about the role it is attached to
        matched = self._resource_patterns.matches(resource, lookup)
        return matched if self.resources is not None else not matched

    def first_failed_condition(self, lookup) -> Condition | None:
        for condition in self.conditions:
            if not condition.holds(lookup):
                return condition
        return None


@dataclass(frozen=True)
class Policy:
    """A parsed policy document. Immutable, so one parse can serve every request."""

    kind: str                          # "key", "identity" or "trust"
    version: str | None                # None when the document has no Version (read as 2008)
    id: str | None
    statements: tuple[Statement, ...]
    size: int                          # as counted for the quota (bytes or characters)
    # action (lower-cased) -> the effective statements whose Action/NotAction matches it.
    # Filled as actions are asked for; there are a few dozen KMS actions, so it stays small.
    _by_action: dict = field(default_factory=dict, repr=False, compare=False)

    def statements_for(self, action_lower: str) -> tuple[Statement, ...]:
        """The statements that can apply to `action_lower`, in document order.

        Which statements match an action depends on nothing else in the request, so this is
        computed once per action and policy: evaluation then skips, say, the administrators'
        statement for every Encrypt without looking at it.
        """
        found = self._by_action.get(action_lower)
        if found is None:
            found = tuple(s for s in self.statements
                          if s.effective and s.matches_action(action_lower))
            if len(self._by_action) < 512:  # bounded even if callers invent actions
                self._by_action[action_lower] = found
        return found

    @property
    def allows_variables(self) -> bool:
        return self.version == CURRENT_VERSION

    def named_principals(self) -> frozenset[str]:
        """Every AWS principal ARN the policy names (Principal and NotPrincipal).

        KMS refuses a key policy naming a principal that does not exist (kms-spec.md 5.4); the
        service checks these against its identity store.
        """
        names = set()
        for statement in self.statements:
            for element in (statement.principal, statement.not_principal):
                if element is not None:
                    names.update(element.aws)
        return frozenset(names)

    def inert_statements(self) -> tuple[Statement, ...]:
        """Key policy statements that have no effect (no Action or no Resource)."""
        return tuple(s for s in self.statements if not s.effective)


# --- parsing --------------------------------------------------------------------------------

class _DuplicateMember(Exception):
    pass


def _no_duplicates(pairs):
    # json.loads keeps the last of two equal names silently; a reviewer reading the document
    # would see one Effect while the other applies, so a repeated name is an error.
    members = {}
    for name, value in pairs:
        if name in members:
            raise _DuplicateMember(name)
        members[name] = value
    return members


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _policy_size(text: str, kind: str) -> int:
    if kind == "key":
        return len(text.encode("utf-8"))
    return sum(1 for char in text if not char.isspace())


def _load_json(text: str):
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _DuplicateMember as duplicate:
        raise PolicyError(
            f"Policy document: the member {str(duplicate)!r} appears twice in one object"
        ) from None
    except json.JSONDecodeError as error:
        raise PolicyError(f"Policy document: invalid JSON: {error.msg} at line {error.lineno} "
                          f"column {error.colno}") from None
    except ValueError as error:
        raise PolicyError(f"Policy document: invalid JSON: {error}") from None


def _string_list(value, where: str) -> tuple[str, ...]:
    """A string or a non-empty list of strings, as a tuple."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyError(f"{where}: must not be an empty list")
    for item in items:
        if not isinstance(item, str) or not item:
            raise PolicyError(f"{where}: must be a non-empty string or a list of them")
    return tuple(items)


def _parse_principals(raw, where: str) -> Principals:
    if raw == "*":
        return Principals(everyone=True)
    if not isinstance(raw, dict) or not raw:
        raise PolicyError(f"{where}: {INVALID_PRINCIPALS}")
    everyone = False
    aws, services, federated = set(), set(), set()
    for member, value in raw.items():
        member_where = f"{where}.{member}"
        try:
            values = _string_list(value, member_where)
        except PolicyError:
            raise PolicyError(f"{member_where}: {INVALID_PRINCIPALS}") from None
        if member == "AWS":
            for name in values:
                if name == "*":
                    everyone = True
                elif _ACCOUNT_ID.fullmatch(name):
                    aws.add(f"arn:aws:iam::{name}:root")
                elif _PRINCIPAL_ARN.fullmatch(name) or _UNIQUE_ID.fullmatch(name):
                    aws.add(name)
                else:
                    raise PolicyError(f"{member_where}: invalid principal {name!r}. "
                                      f"{INVALID_PRINCIPALS}")
        elif member == "Service":
            for name in values:
                if not _SERVICE.fullmatch(name):
                    raise PolicyError(f"{member_where}: invalid service principal {name!r}. "
                                      f"{INVALID_PRINCIPALS}")
                services.add(name)
        elif member == "Federated":
            federated.update(values)
        else:
            raise PolicyError(f"{member_where}: unknown principal type {member!r}. "
                              f"{INVALID_PRINCIPALS}")
    return Principals(everyone=everyone, aws=frozenset(aws), services=frozenset(services),
                      federated=frozenset(federated))


def _parse_actions(raw, where: str) -> tuple[str, ...]:
    actions = _string_list(raw, where)
    for action in actions:
        if action != "*" and not _ACTION.fullmatch(action):
            raise PolicyError(f"{where}: {action!r}: Actions/Conditions must be prefaced by a "
                              "vendor, e.g., iam, sdb, ec2, etc.")
    return tuple(action.lower() for action in actions)


def _parse_resources(raw, where: str, allow_variables: bool
                     ) -> tuple[tuple[str, ...], tuple[Template, ...]]:
    resources = _string_list(raw, where)
    templates = []
    for resource in resources:
        if resource != "*" and not resource.startswith("arn:"):
            raise PolicyError(f"{where}: Resource {resource} must be in ARN format or \"*\".")
        if allow_variables:
            try:
                template = parse_template(resource)
            except ValueError as error:
                raise PolicyError(f"{where}: {error}") from None
            if template is not None:
                templates.append(template)
    return resources, tuple(templates)


def _pick_one(raw: dict, name: str, not_name: str, where: str):
    """(value of `name`, value of `not_name`), refusing both at once."""
    if name in raw and not_name in raw:
        raise PolicyError(f"{where}: has both {name} and {not_name}; use exactly one")
    return raw.get(name), raw.get(not_name)


def _parse_sid(raw: dict, where: str, kind: str) -> str | None:
    if "Sid" not in raw:
        return None
    sid = raw["Sid"]
    if not isinstance(sid, str):
        raise PolicyError(f"{where}.Sid: must be a string")
    if kind != "key" and not _IAM_SID.fullmatch(sid):
        # Key policies allow spaces ("Enable IAM User Permissions"); IAM does not.
        raise PolicyError(f"{where}.Sid: Statement IDs (SID) must be alpha-numeric. Check that "
                          "your input satisfies the regular expression [0-9A-Za-z]*")
    return sid


def _parse_statement(raw, index: int, kind: str, allow_variables: bool) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: must be an object")
    for member in raw:
        if member not in _STATEMENT_MEMBERS:
            raise PolicyError(f"{where}: unknown member {member!r}")
    sid = _parse_sid(raw, where, kind)
    if "Effect" not in raw:
        raise PolicyError(f"{where}: missing required member Effect")
    effect = raw["Effect"]
    if effect not in (ALLOW, DENY):
        raise PolicyError(f'{where}.Effect: must be "Allow" or "Deny", not {json.dumps(effect)}')

    principal_raw, not_principal_raw = _pick_one(raw, "Principal", "NotPrincipal", where)
    principal = not_principal = None
    if kind == "identity":
        if principal_raw is not None or not_principal_raw is not None:
            raise PolicyError(f"{where}: Policy document should not specify a principal.")
    elif principal_raw is None and not_principal_raw is None:
        raise PolicyError(f"{where}: missing required member Principal. {INVALID_PRINCIPALS}")
    elif principal_raw is not None:
        principal = _parse_principals(principal_raw, f"{where}.Principal")
    else:
        not_principal = _parse_principals(not_principal_raw, f"{where}.NotPrincipal")

    effective = True
    action_raw, not_action_raw = _pick_one(raw, "Action", "NotAction", where)
    actions = not_actions = None
    if action_raw is not None:
        actions = _parse_actions(action_raw, f"{where}.Action")
    elif not_action_raw is not None:
        not_actions = _parse_actions(not_action_raw, f"{where}.NotAction")
    elif kind == "key":
        effective = False
    else:
        raise PolicyError(f"{where}: Policy statement must contain actions.")

    resource_raw, not_resource_raw = _pick_one(raw, "Resource", "NotResource", where)
    resources = not_resources = None
    templates: tuple[Template, ...] = ()
    if kind == "trust" and (resource_raw is not None or not_resource_raw is not None):
        raise PolicyError(f"{where}: Has prohibited field Resource.")
    if resource_raw is not None:
        resources, templates = _parse_resources(resource_raw, f"{where}.Resource",
                                                allow_variables)
    elif not_resource_raw is not None:
        not_resources, templates = _parse_resources(not_resource_raw, f"{where}.NotResource",
                                                    allow_variables)
    elif kind == "key":
        effective = False
    elif kind == "identity":
        raise PolicyError(f"{where}: Policy statement must contain resources.")

    conditions = ()
    if "Condition" in raw:
        conditions = compile_conditions(raw["Condition"], where=f"{where}.Condition",
                                        allow_variables=allow_variables,
                                        forbid_sets_on_single_valued=kind == "key")

    action_list = actions if actions is not None else not_actions
    resource_list = resources if resources is not None else not_resources
    return Statement(
        index=index, sid=sid, effect=effect, principal=principal, not_principal=not_principal,
        actions=actions, not_actions=not_actions, resources=resources,
        not_resources=not_resources, conditions=conditions, effective=effective,
        _action_patterns=(PatternSet(action_list, ignore_case=True)
                          if action_list is not None else None),
        _resource_patterns=(PatternSet(resource_list, templates=templates)
                            if resource_list is not None else None),
    )


def _parse_header(document: dict) -> tuple[str | None, str | None]:
    for member in document:
        if member not in _DOCUMENT_MEMBERS:
            raise PolicyError(f"Policy document: unknown member {member!r}")
    version = document.get("Version")
    if version is not None and version not in VERSIONS:
        raise PolicyError(f"Version: {json.dumps(version)} is not a policy language version; "
                          f'use "{CURRENT_VERSION}"')
    policy_id = document.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise PolicyError("Id: must be a string")
    return version, policy_id


def parse_policy(text: str, *, kind: str, max_size: int | None = None) -> Policy:
    """Parse and validate a policy document of `kind` ("key", "identity" or "trust").

    Raises PolicyTooLargeError over `max_size` (default: DEFAULT_MAX_SIZE[kind]) and PolicyError
    for anything malformed, with a message naming the place.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(text, str):
        raise PolicyError("Policy document: must be JSON text")
    limit = DEFAULT_MAX_SIZE[kind] if max_size is None else max_size
    size = _policy_size(text, kind)
    if size > limit:
        raise PolicyTooLargeError(_SIZE_MESSAGES[kind].format(limit=limit))
    document = _load_json(text)
    if not isinstance(document, dict):
        raise PolicyError("Policy document: must be a JSON object")
    version, policy_id = _parse_header(document)
    if "Statement" not in document:
        raise PolicyError("Policy document: missing required member Statement")
    raw_statements = document["Statement"]
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise PolicyError("Statement: must be a statement object or a non-empty list of them")
    allow_variables = version == CURRENT_VERSION
    statements = tuple(_parse_statement(raw, index, kind, allow_variables)
                       for index, raw in enumerate(raw_statements))
    if kind != "key":
        sids = [s.sid for s in statements if s.sid]
        if len(sids) != len(set(sids)):
            raise PolicyError("Statement: Statement IDs (SID) in a single policy must be unique.")
    return Policy(kind=kind, version=version, id=policy_id, statements=statements, size=size)


@lru_cache(maxsize=1024)
def parse_policy_cached(text: str, *, kind: str, max_size: int | None = None) -> Policy:
    """parse_policy, remembering the last 1,024 documents parsed (errors are not remembered)."""
    return parse_policy(text, kind=kind, max_size=max_size)
