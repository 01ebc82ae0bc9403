"""Switch role in the console: the signed-in IAM user works as a role for a while, and back.

Switching assumes the role through grants.sts.role_assume, the very service STS AssumeRole
uses: the role's trust policy decides, and the AssumeRole event is recorded. The console keeps
only the issued session's access key id in the Django session (never its secret or token: the
console signs nothing, it acts as that session's principal through the one door). Until the
session expires or the user switches back, kmsconsole.console.console_caller returns a Caller
for the assumed-role session, so every console action is recorded with the AssumedRole
userIdentity and its sessionContext, as AWS records console actions of a switched role.

AWS's console sessions of a switched role last one hour (bounded by the role's maximum session
duration, which is at least one hour), the session name is the IAM user's name, and switching
back records nothing (there is no AWS API call behind it), so neither does this console.
"""

import datetime
from dataclasses import dataclass

from django.contrib import messages
from django.db.models import Q
from django.utils import timezone

from . import sts
from .models import Account, SessionCredential, User
from .principals import Caller, Principal

# The Django session key holding the switched role; templates/console/_topbar.html reads it.
SESSION_KEY = "iam_switched_role"
CONSOLE_ROLE_SESSION_SECONDS = 3600  # AWS: a console role session lasts one hour
EXPIRED_MESSAGE = ("Your role session has expired. You are signed in as your IAM user again; "
                   "switch role to continue as the role.")


@dataclass(frozen=True)
class SwitchedRole:
    """What the console remembers of a switched role (nothing secret)."""

    access_key_id: str
    role_name: str
    role_arn: str
    account: str        # as the user typed it (id or alias): what the top bar shows
    account_id: str
    display_name: str
    expires_at: datetime.datetime

    @property
    def label(self) -> str:
        """What the top bar shows: "<display name> / <role> @ <account>", or "<role> @
        <account>" alone when the display name is that already (AWS's default)."""
        where = f"{self.role_name} @ {self.account}"
        return where if self.display_name == where else f"{self.display_name} / {where}"

    def as_session_data(self) -> dict:
        return {"access_key_id": self.access_key_id, "role_name": self.role_name,
                "role_arn": self.role_arn, "account": self.account,
                "account_id": self.account_id, "display_name": self.display_name,
                "label": self.label, "expires_at": self.expires_at.isoformat()}


def role_switch(*, caller: Caller, account: str, role_name: str,
                display_name: str = "") -> SwitchedRole:
    """Assume `role_name` of `account` (an id or alias) for the console, as the IAM user.

    The caller must be the signed-in IAM user itself: the console always switches from the
    user, never from a role session (that would be role chaining). An account that resolves
    to none still goes to role_assume, so the refusal is AssumeRole's own AccessDenied and is
    recorded like any other (nobody learns which accounts or roles exist here)."""
    account = account.strip()
    account_id = _account_id(account)
    role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
    issued = sts.role_assume(caller=caller, role_arn=role_arn,
                             session_name=_session_name(caller.principal),
                             duration_seconds=CONSOLE_ROLE_SESSION_SECONDS)
    session = issued.session
    return SwitchedRole(
        access_key_id=session.access_key_id, role_name=session.role.name,
        role_arn=session.role.arn, account=account, account_id=session.role.account_id,
        display_name=display_name.strip() or f"{session.role.name} @ {account}",
        expires_at=session.expires_at)


def switched_role_principal(*, access_key_id: str, user: User) -> Principal | None:
    """The assumed-role principal of the console session `access_key_id`, or None once it has
    expired or is gone (the role was deleted).

    Threat: session data outliving its owner. The credential must have been issued to this
    very user; any other user's (or a forged) access key id gives None."""
    session = (SessionCredential.objects.select_related("role")
               .filter(access_key_id=access_key_id, assumed_by_arn=user.arn,
                       expires_at__gt=timezone.now())
               .first())
    return Principal.for_session(session) if session is not None else None


# --- the console session (the Django session; kmsconsole.console reads it per request) -------

def remember_switched_role(request, switched: SwitchedRole) -> None:
    request.session[SESSION_KEY] = switched.as_session_data()


def forget_switched_role(request) -> bool:
    """Switch back: the console acts as the IAM user again. True if a role was active."""
    return request.session.pop(SESSION_KEY, None) is not None


def console_role_principal(request) -> Principal | None:
    """The assumed-role principal while the signed-in user has switched role, else None.

    Once the session has expired (or its role was deleted) the console falls back to the IAM
    user and says so with a flash message, as AWS's console does."""
    switched = request.session.get(SESSION_KEY)
    if not switched:
        return None
    principal = switched_role_principal(access_key_id=switched.get("access_key_id", ""),
                                        user=request.user)
    if principal is None:
        forget_switched_role(request)
        messages.warning(request, EXPIRED_MESSAGE)
    return principal


def _account_id(account: str) -> str:
    """The 12-digit id of the account `account` names (id or alias); `account` itself when it
    names none."""
    found = Account.objects.filter(Q(id=account) | Q(alias=account)).first()
    return found.id if found is not None else account


def _session_name(principal: Principal) -> str:
    # AWS names the session after the IAM user; a session name needs two characters at least,
    # and an IAM user name may have one.
    name = principal.user_name or "console"
    return name if len(name) >= 2 else f"{name}-console"
