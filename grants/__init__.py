"""Who may do what: accounts, IAM users, principals and `authorize()`."""

from .authorization import Decision, authorize

__all__ = ["Decision", "authorize"]
