"""STS services: AssumeRole and GetCallerIdentity. One door, like every service.

AssumeRole is authorized by the role's trust policy, evaluated by grants.policy like a key
policy: a trust policy naming the caller (its user ARN, its role or session ARN) allows it
directly; one naming the account root (arn:aws:iam::<acct>:root) delegates to the caller's
identity policies, which must then allow sts:AssumeRole on the role ARN. It issues temporary
credentials (a SessionCredential): the secret and the session token are returned once and never
written to the audit trail. GetCallerIdentity needs no permission (AWS: not even an explicit Deny
refuses it).
"""

import datetime
import re
from dataclasses import dataclass

from django.utils import timezone

from audit.recording import operation
from grants.policy.document import PolicyError, parse_policy_cached
from grants.policy.evaluate import NamedPolicy, PrincipalInfo, Request, evaluate
from kmsconsole.errors import AccessDeniedError, ValidationError

from .models import (
    Role,
    SessionCredential,
    new_secret_access_key,
    new_session_access_key_id,
    new_session_token,
)
from .principals import Caller, Principal
from .selectors import MAX_IDENTITY_POLICY_SIZE, identity_policies_for

STS = "sts.amazonaws.com"
ASSUME_ROLE = "sts:AssumeRole"
DEFAULT_DURATION = 3600
MIN_DURATION = 900
MAX_DURATION = 43200
ROLE_CHAINING_MAX_DURATION = 3600  # AWS: a session assuming a role gets at most one hour
SESSION_NAME_PATTERN = re.compile(r"[\w+=,.@-]*")
EXTERNAL_ID_PATTERN = re.compile(r"[\w+=,.@:/-]*")
# The principals that can hold credentials to assume a role with (not the scheduler, not an
# unauthenticated request).
ASSUMING_TYPES = ("IAMUser", "AssumedRole")


@dataclass(frozen=True)
class IssuedCredentials:
    """What AssumeRole returns: the session, and its secret and token (shown once only)."""

    session: SessionCredential
    secret_access_key: str
    session_token: str


@dataclass(frozen=True)
class CallerIdentity:
    """GetCallerIdentity's answer: aws:userid, the account and the caller's ARN."""

    user_id: str
    account: str
    arn: str


def iso8601(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def role_assume(*, caller: Caller, role_arn: str | None, session_name: str | None,
                duration_seconds: int | None = None,
                external_id: str | None = None) -> IssuedCredentials:
    """AssumeRole: temporary credentials for `role_arn`, if its trust policy lets the caller.

    The session lasts `duration_seconds` (900 up to the role's MaxSessionDuration; one hour at
    most when the caller is itself a role session). CloudTrail marks AssumeRole read-only, and
    so does this event.
    """
    parameters = {"roleArn": role_arn, "roleSessionName": session_name,
                  "durationSeconds": duration_seconds, "externalId": external_id}
    with operation(caller, "AssumeRole", read_only=True, event_source=STS,
                   request_parameters={name: _short(value) for name, value in parameters.items()
                                       if value is not None}) as op:
        _validate_assume_role(role_arn, session_name, duration_seconds, external_id)
        role = _assumable_role(caller, role_arn, external_id)
        duration = _session_duration(caller.principal, role, duration_seconds)
        secret, token = new_secret_access_key(), new_session_token()
        session = SessionCredential(
            access_key_id=new_session_access_key_id(), role=role, session_name=session_name,
            assumed_by_arn=caller.principal.arn,
            assumed_role_id=f"{role.unique_id}:{session_name}",
            expires_at=timezone.now() + datetime.timedelta(seconds=duration))
        session.set_secret(secret)
        session.set_session_token(token)
        session.save()
        op.resources.append({"accountId": role.account_id, "type": "AWS::IAM::Role",
                             "ARN": role.arn})
        # The access key id identifies the session in later events; secret and token never
        # reach the trail.
        op.response_elements = {
            "credentials": {"accessKeyId": session.access_key_id,
                            "expiration": iso8601(session.expires_at)},
            "assumedRoleUser": {"assumedRoleId": session.assumed_role_id,
                                "arn": session.arn}}
        return IssuedCredentials(session=session, secret_access_key=secret,
                                 session_token=token)


def caller_identity(*, caller: Caller) -> CallerIdentity:
    """GetCallerIdentity: who the credentials of this request belong to.

    No authorize() on purpose: AWS answers it for any valid credentials, whatever the policies
    say, so a denied principal can still find out who it is.
    """
    with operation(caller, "GetCallerIdentity", read_only=True, event_source=STS,
                   request_parameters=None):
        principal = caller.principal
        if principal.type not in ASSUMING_TYPES:
            # A request whose authentication failed reaches a service only by a bug; refuse it.
            raise AccessDeniedError(
                "The request is not authenticated: it has no identity to return.")
        return CallerIdentity(user_id=principal.principal_id, account=principal.account_id,
                              arn=principal.arn)


def _assumable_role(caller: Caller, role_arn: str, external_id: str | None) -> Role:
    principal = caller.principal
    denied = AccessDeniedError(f"User: {principal.arn} is not authorized to perform: "
                               f"{ASSUME_ROLE} on resource: {role_arn}")
    if principal.type not in ASSUMING_TYPES:
        raise denied
    role = Role.objects.filter(arn=role_arn).first()
    # Threat: probing which roles exist. A missing role is refused exactly like a role whose
    # trust policy does not allow the caller (AWS answers both with the same AccessDenied).
    if role is None or not _trust_allows(caller, role, external_id):
        raise denied
    return role


def _session_duration(principal: Principal, role: Role, requested: int | None) -> int:
    # Checked only once the caller may assume the role: the role's settings are not shown to
    # whoever may not.
    duration = DEFAULT_DURATION if requested is None else requested
    if duration > role.max_session_duration:
        raise ValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    if principal.type == "AssumedRole" and duration > ROLE_CHAINING_MAX_DURATION:
        raise ValidationError("The requested DurationSeconds exceeds the 1 hour session limit "
                              "for roles assumed by role chaining.")
    return duration


def _trust_allows(caller: Caller, role: Role, external_id: str | None) -> bool:
    """Whether the role's trust policy (with the caller's identity policies where it delegates
    to the account) allows the caller sts:AssumeRole on the role."""
    try:
        # Cached by text: a Policy never changes, and the documents themselves are read afresh.
        trust_policy = parse_policy_cached(role.trust_policy, kind="trust")
        identity_policies = [
            NamedPolicy(name, parse_policy_cached(document, kind="identity",
                                                  max_size=MAX_IDENTITY_POLICY_SIZE))
            for name, document in identity_policies_for(caller.principal)]
    except PolicyError:
        # A stored document the parser no longer accepts: refuse rather than evaluate without
        # it (a dropped Deny would allow more than its authors meant).
        return False
    request = Request(
        action=ASSUME_ROLE, resource_arn=role.arn, resource_account_id=role.account_id,
        principal=_principal_info(caller.principal),
        context=_context(caller, external_id))
    return evaluate(request, key_policy=trust_policy,
                    identity_policies=identity_policies).allowed


def _principal_info(principal: Principal) -> PrincipalInfo:
    return PrincipalInfo(arn=principal.arn, account_id=principal.account_id,
                         type=principal.type, user_id=principal.principal_id,
                         username=principal.user_name, role_arn=principal.role_arn)


def _context(caller: Caller, external_id: str | None) -> dict:
    context = {
        "aws:SourceIp": caller.source_ip,
        "aws:UserAgent": caller.user_agent,
        "aws:RequestedRegion": caller.region,
        # True for a console session signed in with an MFA code (Switch role from it), so a
        # trust policy can demand MFA as IAM's documentation shows; false otherwise, as
        # grants.authorization gives it for every other request.
        "aws:MultiFactorAuthPresent": caller.mfa_authenticated,
    }
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    return context


def _validate_assume_role(role_arn, session_name, duration, external_id) -> None:
    """AssumeRole's model constraints, reported the way AWS reports them (kms-spec.md 1.4)."""
    problems = []
    problems += _string_problems("roleArn", role_arn, 20, 2048, None)
    problems += _string_problems("roleSessionName", session_name, 2, 64, SESSION_NAME_PATTERN)
    if external_id is not None:
        problems += _string_problems("externalId", external_id, 2, 1224, EXTERNAL_ID_PATTERN)
    if duration is not None:
        if not isinstance(duration, int) or isinstance(duration, bool):
            problems.append(f"Value '{_short(duration, 32)}' at 'durationSeconds' failed to "
                            "satisfy constraint: Member must be an integer")
        elif duration < MIN_DURATION:
            problems.append(f"Value '{duration}' at 'durationSeconds' failed to satisfy "
                            f"constraint: Member must have value greater than or equal to "
                            f"{MIN_DURATION}")
        elif duration > MAX_DURATION:
            problems.append(f"Value '{duration}' at 'durationSeconds' failed to satisfy "
                            f"constraint: Member must have value less than or equal to "
                            f"{MAX_DURATION}")
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
        raise ValidationError(f"{count} detected: " + "; ".join(problems))


def _string_problems(member: str, value, low: int, high: int, pattern) -> list[str]:
    if value is None:
        return [(f"Value null at '{member}' failed to satisfy constraint: Member must not be "
                 "null")]
    if not isinstance(value, str):
        return [f"Value at '{member}' failed to satisfy constraint: Member must be a string"]
    shown = f"Value '{_short(value, 256)}' at '{member}' failed to satisfy constraint: "
    if len(value) < low:
        return [shown + f"Member must have length greater than or equal to {low}"]
    if len(value) > high:
        return [shown + f"Member must have length less than or equal to {high}"]
    if pattern is not None and not pattern.fullmatch(value):
        return [shown + f"Member must satisfy regular expression pattern: {pattern.pattern}"]
    return []


def _short(value, limit: int = 2048):
    """Client input as it may be echoed in messages and audit events: bounded."""
    return value[:limit] if isinstance(value, str) else value
