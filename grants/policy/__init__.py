"""Policies for kmsconsole: pure Python, standard library only, no Django (a unit test checks).

Modules:
    errors      PolicyError and PolicyTooLargeError
    patterns    wildcards, ARNs and policy variables (the matching primitives)
    conditions  condition operators, compiled at parse time and tested per request
    document    parse_policy: JSON text -> an immutable, normalised Policy
    evaluate    evaluate: a Request against a key policy, identity policies and grants
    defaults    the API's and the console's default key policies, printed as AWS prints them

Parse once, evaluate many times: a Policy never changes, so it can be cached and shared
(`parse_policy_cached`). The public names of those modules are re-exported here.
"""

from .conditions import Condition
from .defaults import (
    KEY_TYPES,
    api_default_policy,
    console_default_policy,
    jackson_dumps,
    key_admin_actions,
    key_user_actions,
)
from .document import (
    DEFAULT_MAX_SIZE,
    KINDS,
    Policy,
    Principals,
    Statement,
    parse_policy,
    parse_policy_cached,
)
from .errors import PolicyError, PolicyTooLargeError
from .evaluate import (
    EXPLICIT_DENY_IDENTITY,
    EXPLICIT_DENY_RESOURCE,
    KEY_POLICY_NAME,
    Decision,
    GrantInfo,
    NamedPolicy,
    PrincipalInfo,
    Request,
    StatementRef,
    evaluate,
)

__all__ = [
    "DEFAULT_MAX_SIZE",
    "EXPLICIT_DENY_IDENTITY",
    "EXPLICIT_DENY_RESOURCE",
    "KEY_POLICY_NAME",
    "KEY_TYPES",
    "KINDS",
    "Condition",
    "Decision",
    "GrantInfo",
    "NamedPolicy",
    "Policy",
    "PolicyError",
    "PolicyTooLargeError",
    "PrincipalInfo",
    "Principals",
    "Request",
    "Statement",
    "StatementRef",
    "api_default_policy",
    "console_default_policy",
    "evaluate",
    "jackson_dumps",
    "key_admin_actions",
    "key_user_actions",
    "parse_policy",
    "parse_policy_cached",
]
