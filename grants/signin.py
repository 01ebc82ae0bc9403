"""Console sign-in: the password step, the MFA code step, the lockout, and their ConsoleLogin
events.

AWS records every console sign-in in CloudTrail as `ConsoleLogin` from `signin.amazonaws.com`
(eventType AwsConsoleSignIn), with responseElements {"ConsoleLogin": "Success" | "Failure"} and,
for a failure, errorMessage "Failed authentication". The password is never recorded. When the
user name matches no user, the record hides it as AWS does ("HIDDEN_DUE_TO_SECURITY_REASONS"):
people type their password into the wrong field, and a user name field must not leak it.

MFA. For a user with an enabled MFA device the right password is only the first step: it starts
no session and writes no event; the view keeps the pending sign-in (briefly) and asks for a code,
and the code step ends in the one ConsoleLogin event of the sign-in, with additionalEventData
MFAUsed "Yes" (as AWS records it). A right password does not reset the failure count either.
Threat: someone who knows the password guessing codes without limit by re-entering it between
guesses.

Lockout. After settings.SIGNIN_LOCKOUT_ATTEMPTS wrong passwords or wrong MFA codes in a row for
one user, that user's sign-in is refused for settings.SIGNIN_LOCKOUT_SECONDS, even with the right
password; a success resets the count, and so does the lock itself (when it ends the user has a
full set of attempts again, and attempts during the lock neither count nor extend it, so nobody
can keep a user locked out for longer than by failing again afterwards). The count lives on the
User row, which every attempt locks (select_for_update) before it checks anything: parallel
guesses are taken one after another and cannot exceed the limit between a read and a write.

How the lockout reads in the trail. Each attempt is still exactly one ConsoleLogin event, so a
reader who counts or filters ConsoleLogin failures (the usual CloudTrail alarm on repeated
sign-in failures) sees every attempt and needs no new event name that AWS never emits. The
attempt that triggers the lock and every attempt refused while it lasts keep errorCode "Failed
authentication" (still matched by such filters), and say why in errorMessage ("... locked until
<time> after 10 failed attempts in a row" for the one that locked it, "... is locked until
<time>" for the refused ones) and in additionalEventData {"LockedUntil": "<time>"}: the lock is
found by searching for LockedUntil, and its trigger by its message.

Whether the page reveals the lock: AWS's sign-in page says nothing specific. This console does
say "too many failed attempts, try again later", because here the person locked out is most
often the administrator of a self-hosted service who otherwise cannot tell a lock from a wrong
password and would keep trying (and keep the lock going). The cost is that the message tells an
attacker that the user name exists, after ten audited failures; the audit trail and the lock
itself bound that.

Password expiry (grants.passwords). A right password (and MFA code) whose password expired
under the account's MaxPasswordAge, or of a user whose administrator asked for a new password
at next sign-in, signs in with ConsoleLogin "Success" as AWS records it, and the result says a
password change must come first (the view keeps the rest of the console closed until then).
Under HardExpiry an expired password signs nothing in: the attempt is a failure whose
errorMessage says why, and it does not count towards the lockout (the password was right).

Services here never read the request; the view starts the session (django.contrib.auth.login).
"""

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from audit.recording import operation
from keys.crypto.errors import RootKeyError
from kmsconsole.errors import ROOT_KEY_MISMATCH_LOG, InternalError, KmsError

from .mfa import device_code_accepted, user_has_mfa
from .models import MFADevice, User
from .passwords import PasswordState, console_password_state
from .principals import CLOUDTRAIL_TIME_FORMAT, SOURCE_CONSOLE, Caller, Principal
from .selectors import signin_candidate

log = logging.getLogger(__name__)

SIGNIN_EVENT_SOURCE = "signin.amazonaws.com"
HIDDEN_USER_NAME = "HIDDEN_DUE_TO_SECURITY_REASONS"
FAILED_AUTHENTICATION = "Failed authentication"
PASSWORD_EXPIRED_DETAIL = ("The password has expired and must be reset by an administrator "
                           "(the account's password policy has HardExpiry).")


class SignInFailedError(KmsError):
    """A refused sign-in; the message never says which of the three fields was wrong.

    `locked_until` is set when the user's sign-in is locked (by this attempt or before);
    `password_expired` when the password was right but expired under HardExpiry."""

    code = FAILED_AUTHENTICATION
    status = 401

    def __init__(self, message: str = FAILED_AUTHENTICATION, *,
                 locked_until: datetime.datetime | None = None,
                 password_expired: bool = False):
        super().__init__(message)
        self.locked_until = locked_until
        self.password_expired = password_expired


@dataclass(frozen=True)
class SignInAttempt:
    """What the view knows of the request an attempt came in (services never read it)."""

    region: str
    source_ip: str
    user_agent: str
    request_id: str
    secure_transport: bool
    login_to: str  # the console URL the user wanted (CloudTrail's LoginTo)

    def caller(self, principal: Principal) -> Caller:
        return Caller(principal=principal, region=self.region, source=SOURCE_CONSOLE,
                      source_ip=self.source_ip, user_agent=self.user_agent,
                      request_id=self.request_id, secure_transport=self.secure_transport)


@dataclass(frozen=True)
class SignInResult:
    """A right password: the user, whether an MFA code must follow before a session, and
    whether the session must change the password before anything else."""

    user: User
    mfa_required: bool = False
    password_change_required: bool = False


def console_sign_in(*, account: str, user_name: str, password: str,
                    attempt: SignInAttempt) -> SignInResult:
    """The password step. The user the three fields name if the password is right (and the
    user's sign-in is not locked), else SignInFailedError.

    Unless an MFA code must follow, one ConsoleLogin event is written (in the account the
    attempt named, when it names one), in the transaction that updates the failure count."""
    account, user_name = account.strip(), user_name.strip()
    with transaction.atomic():
        account_id, candidate = signin_candidate(account=account, user_name=user_name)
        row = _locked_row(candidate.pk if candidate else None)
        user, failure = None, None
        if row is not None and _lock_in_force(row):
            # Refused without looking at the password: while locked, it decides nothing.
            failure = _still_locked(row)
        else:
            user = authenticate(None, account=account, username=user_name, password=password)
            if user is not None and user_has_mfa(user):
                return SignInResult(user=user, mfa_required=True)
            failure = None if user is not None else _count_failure(row)
        change_required = False
        if user is not None:
            failure, change_required = _password_checks(user)
            principal = Principal.for_user(user)
        else:
            principal = _failed_principal(account_id, candidate)
        _record_attempt(attempt, principal, mfa_used=False, failure=failure)
    if failure is not None:
        raise failure
    return SignInResult(user=user, password_change_required=change_required)


def console_sign_in_mfa(*, user_id: int, code: str, attempt: SignInAttempt) -> SignInResult:
    """The MFA code step of a sign-in whose password step named user `user_id`: the user when
    `code` is a fresh code of the user's enabled MFA device, else SignInFailedError (a wrong
    code counts towards the lockout like a wrong password). One ConsoleLogin event either
    way, with MFAUsed "Yes"."""
    change_required = False
    with transaction.atomic():
        row = _locked_row(user_id)
        if row is None or not row.is_active:
            # Deleted or deactivated between the two steps.
            failure = SignInFailedError()
            principal = _failed_principal("", None)
        else:
            principal = Principal.for_user(row)
            failure = _check_code(row, code)
            if failure is None:
                failure, change_required = _password_checks(row)
        _record_attempt(attempt, principal, mfa_used=True, failure=failure)
    if failure is not None:
        raise failure
    return SignInResult(user=row, password_change_required=change_required)


def _password_checks(user: User) -> tuple[SignInFailedError | None, bool]:
    """After the right password (and code): (the refusal under HardExpiry, or None after
    counting the success; whether the password must be changed before the console opens)."""
    state = console_password_state(user)
    if state is PasswordState.HARD_EXPIRED:
        # Not counted as a failure: the password was right, and retrying cannot help.
        return SignInFailedError(f"{FAILED_AUTHENTICATION}. {PASSWORD_EXPIRED_DETAIL}",
                                 password_expired=True), False
    _count_success(user)
    return None, state is PasswordState.CHANGE_REQUIRED


def _check_code(row: User, code: str) -> SignInFailedError | InternalError | None:
    if _lock_in_force(row):
        return _still_locked(row)
    device = MFADevice.objects.select_for_update().filter(user=row, enabled=True).first()
    if device is None:
        # The device was removed between the two steps: start over (nothing to count).
        return SignInFailedError()
    try:
        accepted = device_code_accepted(device, code)
    except RootKeyError:
        # The device's secret was wrapped under another root key: a server fault, not the
        # user's failure (nothing counted towards the lockout).
        log.error(ROOT_KEY_MISMATCH_LOG, f"The secret of MFA device {device.serial_number}")
        return InternalError("An internal error occurred.")
    if accepted:
        return None
    return _count_failure(row)


def _record_attempt(attempt: SignInAttempt, principal: Principal, *, mfa_used: bool,
                    failure: KmsError | None) -> None:
    """Write the attempt's ConsoleLogin event, inside the caller's transaction.

    The failure is raised inside operation() so that it is recorded as a failed request, and
    swallowed here: the caller raises it only after its transaction, which also holds the
    failure count, has committed (raising it through that transaction would roll both back)."""
    try:
        with operation(attempt.caller(principal), "ConsoleLogin", read_only=False,
                       event_source=SIGNIN_EVENT_SOURCE) as op:
            op.event_type = "AwsConsoleSignIn"
            op.additional_event_data = {"LoginTo": attempt.login_to, "MobileVersion": "No",
                                        "MFAUsed": "Yes" if mfa_used else "No"}
            op.error_response_elements = {"ConsoleLogin": "Failure"}
            if failure is not None:
                if isinstance(failure, SignInFailedError) and failure.locked_until is not None:
                    op.additional_event_data["LockedUntil"] = _cloudtrail_time(
                        failure.locked_until)
                raise failure
            op.response_elements = {"ConsoleLogin": "Success"}
    except KmsError as error:
        if error is not failure:
            raise


# --- the failure count and the lock -------------------------------------------------------------

def _locked_row(user_id: int | None) -> User | None:
    """The user's row, locked until the attempt's transaction ends."""
    if user_id is None:
        return None
    return User.objects.select_for_update().filter(pk=user_id).first()


def _lock_in_force(row: User) -> bool:
    return row.signin_locked_until is not None and row.signin_locked_until > timezone.now()


def _still_locked(row: User) -> SignInFailedError:
    return SignInFailedError(
        f"{FAILED_AUTHENTICATION}. Sign-in is locked until "
        f"{_cloudtrail_time(row.signin_locked_until)}.", locked_until=row.signin_locked_until)


def _count_failure(row: User | None) -> SignInFailedError:
    """Count a wrong password or code for `row` (None: no such user, nothing to count), and
    lock the user's sign-in when it reaches the limit."""
    if row is None:
        return SignInFailedError()
    attempts = settings.SIGNIN_LOCKOUT_ATTEMPTS
    count = row.failed_signin_count + 1
    if count < attempts:
        User.objects.filter(pk=row.pk).update(failed_signin_count=count)
        return SignInFailedError()
    locked_until = timezone.now() + datetime.timedelta(seconds=settings.SIGNIN_LOCKOUT_SECONDS)
    User.objects.filter(pk=row.pk).update(failed_signin_count=0, signin_locked_until=locked_until)
    return SignInFailedError(
        f"{FAILED_AUTHENTICATION}. Sign-in locked until {_cloudtrail_time(locked_until)} after "
        f"{attempts} failed attempts in a row.", locked_until=locked_until)


def _count_success(user: User) -> None:
    User.objects.filter(pk=user.pk).update(failed_signin_count=0, signin_locked_until=None,
                                           last_signin_at=timezone.now())


def _cloudtrail_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime(CLOUDTRAIL_TIME_FORMAT)


def _failed_principal(account_id: str, user: User | None) -> Principal:
    """Who a failed attempt claimed to be, as far as it is safe to record."""
    if user is not None:
        return Principal(account_id=account_id, arn=user.arn, type="IAMUser",
                         principal_id=user.unique_id, user_name=user.name)
    return Principal(account_id=account_id, arn="", type="IAMUser", principal_id="",
                     user_name=HIDDEN_USER_NAME)
