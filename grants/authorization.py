"""`authorize()`: the single permission check every service calls before it acts.

For now the rule is the account boundary: a principal may act on the keys of its own account,
and KMS itself (the scheduler) on the keys of the account it works for. Anything else is denied
with an AccessDeniedException shaped like AWS's. The authorization issue replaces the inside of
this function with full key-policy, IAM-policy and grant evaluation; its signature stays.
"""

from dataclasses import dataclass

from kmsconsole.errors import AccessDeniedError

from .principals import Caller


@dataclass(frozen=True)
class Decision:
    """The outcome of one authorization and the reason for it, for messages and the console."""

    allowed: bool
    reason: str


def decide(caller: Caller, action: str, *, resource_account_id: str | None) -> Decision:
    principal = caller.principal
    if principal.type == "Unknown":
        # A request whose authentication failed reaches a service only by a bug; refuse it.
        return Decision(False, "the request is not authenticated")
    if resource_account_id is None:
        # Account-level actions (CreateKey, ListKeys, GenerateRandom...) act in the caller's own
        # account by construction.
        return Decision(True, "the action acts only within the caller's account")
    if principal.account_id == resource_account_id:
        return Decision(True, "the principal belongs to the key's account")
    return Decision(False, "no resource-based policy allows the action for another account")


def authorize(caller: Caller, action: str, *, resource_arn: str | None = None,
              resource_account_id: str | None = None) -> Decision:
    """Allow or raise AccessDeniedError. `action` is the IAM action, e.g. "kms:Encrypt"."""
    decision = decide(caller, action, resource_account_id=resource_account_id)
    if not decision.allowed:
        # Threat: a principal of one account using another account's key by ARN.
        target = resource_arn or "*"
        raise AccessDeniedError(
            f"User: {caller.principal.arn} is not authorized to perform: {action} on resource: "
            f"{target} because {decision.reason}"
        )
    return decision
