"""Exceptions raised by grants.policy when a policy document cannot be accepted.

Every message says what is wrong and where, as a path into the document
("Statement[2].Condition.StringEquals: ..."), followed where one exists by AWS's own reason
("Policy contains a statement with one or more invalid principals."). The services turn
PolicyError into MalformedPolicyDocumentException and PolicyTooLargeError into
LimitExceededException, showing the message as it is.
"""

from __future__ import annotations

__all__ = ["PolicyError", "PolicyTooLargeError"]


class PolicyError(ValueError):
    """A malformed policy document; `message` says what is wrong and where."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PolicyTooLargeError(PolicyError):
    """A policy document over its size quota."""
