"""Console password expiry and IAM's ChangePassword: when a signed-in user must change the
password before anything else, and the one door through which users change their own.

Expiry follows the account's password policy as IAM does: a password set more than
MaxPasswordAge days ago has expired. At console sign-in (grants.signin) an expired password,
or a user whose administrator asked for a new password at next sign-in (PasswordResetRequired),
leads to the Change password page before any other console page (grants.middleware). With
HardExpiry an expired password cannot be changed in the console at all: the sign-in is refused
and only an administrator's reset (UpdateLoginProfile) lets the user in again.

ChangePassword changes the caller's own password (it has no user name parameter). IAM allows it
when the account's password policy has AllowUsersToChangePassword (an account-wide permission on
the user's own ARN, which an explicit Deny in the user's policies still overrides) or when the
user's identity policies allow iam:ChangePassword on it. The old password must be given: a
session left open in a browser is not enough to take over the password.
"""

import datetime
import enum

from django.utils import timezone

from audit.recording import operation
from kmsconsole.errors import AccessDeniedError, KmsError, ValidationError

from .account_settings import IAM, password_remember
from .authorization import decide
from .models import PasswordPolicy, User
from .principals import Caller
from .services import validate_console_password

CHANGE_PASSWORD = "iam:ChangePassword"


class PasswordState(enum.Enum):
    """What a right console password still needs before the console opens."""

    OK = "ok"
    CHANGE_REQUIRED = "change_required"   # expired, or the administrator asked for a reset
    HARD_EXPIRED = "hard_expired"         # expired under HardExpiry: an administrator resets it


class InvalidUserTypeError(KmsError):
    """IAM's InvalidUserType: ChangePassword by someone who is no IAM user with a password, or
    with an old password that is not the current one."""

    code = "InvalidUserType"
    status = 400


class PasswordPolicyViolationError(KmsError):
    """IAM's PasswordPolicyViolation: the new password breaks the account's password policy."""

    code = "PasswordPolicyViolation"
    status = 400


def password_expires_at(user: User, policy: PasswordPolicy | None) -> datetime.datetime | None:
    """When the user's console password expires under `policy`, or None if it never does.

    A password set by the model's manager (seed files of old, the test world) has no
    password_changed_at; it was set when the user was created."""
    if policy is None or not policy.max_password_age or not user.has_usable_password():
        return None
    set_at = user.password_changed_at or user.created_at
    return set_at + datetime.timedelta(days=policy.max_password_age)


def console_password_state(user: User) -> PasswordState:
    """Whether `user`, who just gave the right password, may go on, must change it first, or
    may not sign in at all (HardExpiry)."""
    policy = PasswordPolicy.objects.filter(account_id=user.account_id).first()
    expires_at = password_expires_at(user, policy)
    expired = expires_at is not None and expires_at <= timezone.now()
    if expired and policy.hard_expiry:
        return PasswordState.HARD_EXPIRED
    if expired or user.password_reset_required:
        return PasswordState.CHANGE_REQUIRED
    return PasswordState.OK


def password_change_allowed(caller: Caller, user: User):
    """The Decision on iam:ChangePassword for `user` by `caller`, AllowUsersToChangePassword
    included: (allowed, decision)."""
    decision = decide(caller, CHANGE_PASSWORD, resource_arn=user.arn,
                      resource_account_id=user.account_id)
    if decision.allowed:
        return True, decision
    explicit = (decision.denial_kind or "").startswith("explicit")
    account_allows = PasswordPolicy.objects.filter(
        account_id=user.account_id, allow_users_to_change_password=True).exists()
    own_password = caller.principal.type == "IAMUser" and caller.principal.arn == user.arn
    return (account_allows and own_password and not explicit), decision


def password_change(*, caller: Caller, old_password: str, new_password: str) -> User:
    """ChangePassword: replace the caller's console password with `new_password`.

    The new password must meet the account's password policy (history included) and differ
    from the old one; it clears PasswordResetRequired and restarts the expiry clock. Neither
    password is recorded. The view keeps the session (Django ends sessions whose password
    hash changed)."""
    with operation(caller, "ChangePassword", read_only=False, event_source=IAM,
                   request_parameters=None):
        user = _own_user(caller)
        allowed, decision = password_change_allowed(caller, user)
        if not allowed:
            raise AccessDeniedError(decision.message(caller.principal.arn, user.arn))
        # Locked: two changes at once must not both pass the history check.
        user = User.objects.select_for_update().get(pk=user.pk)
        if not isinstance(old_password, str) or not user.check_password(old_password):
            raise InvalidUserTypeError("The old password is incorrect.")
        if new_password == old_password:
            raise PasswordPolicyViolationError(
                "The new password must be different from the old password.")
        _check_policy(new_password, user)
        password_remember(user)  # the old hash, for the policy's reuse prevention
        user.set_password(new_password)
        user.password_changed_at = timezone.now()
        user.password_reset_required = False
        user.save(update_fields=["password", "password_changed_at", "password_reset_required"])
        return user


def _own_user(caller: Caller) -> User:
    """The IAM user the caller is; ChangePassword has no other target."""
    principal = caller.principal
    user = (User.objects.filter(arn=principal.arn, is_active=True).first()
            if principal.type == "IAMUser" else None)
    if user is None or not user.has_usable_password():
        raise InvalidUserTypeError("Only IAM users with a console password can change it.")
    return user


def _check_policy(password: str, user: User) -> None:
    try:
        validate_console_password(password, user=user)
    except ValidationError as error:
        raise PasswordPolicyViolationError(error.message) from None
