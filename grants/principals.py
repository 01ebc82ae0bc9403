"""Who is calling: the Principal (an IAM identity) and the Caller (principal + request context).

Every service takes a Caller. The console builds one from the signed-in user, the API from the
verified SigV4 access key, the scheduler from the account it works for. Services never read the
HTTP request; what they need of it (region, source IP, user agent, request id) travels here.
"""

import datetime
import uuid
from dataclasses import dataclass, field

SOURCE_API = "api"
SOURCE_CONSOLE = "console"
SOURCE_SCHEDULER = "scheduler"
CLOUDTRAIL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Principal:
    """An authenticated IAM identity, shaped for policy evaluation and CloudTrail's userIdentity."""

    account_id: str
    arn: str
    type: str  # IAMUser | AssumedRole | Root | AWSService (CloudTrail userIdentity.type)
    principal_id: str
    user_name: str | None = None
    access_key_id: str | None = None
    # An assumed-role session only: the role behind it and when the session was issued
    # (CloudTrail's sessionContext; identity policies are the role's).
    role_arn: str | None = None
    session_issued_at: str | None = None
    # The policy_version of the user (or of the session's role) when this request was
    # authenticated; None when unknown, and identity policies are then read afresh.
    policy_version: int | None = None
    # A console session signed in with an MFA code (kmsconsole.console.console_caller): what a
    # role session's sessionContext reports as mfaAuthenticated.
    mfa_authenticated: bool = False

    @classmethod
    def for_user(cls, user, *, access_key_id: str | None = None) -> "Principal":
        return cls(
            account_id=user.account_id,
            arn=user.arn,
            type="IAMUser",
            principal_id=user.unique_id,
            user_name=user.name,
            access_key_id=access_key_id,
            policy_version=user.policy_version,
        )

    @classmethod
    def for_session(cls, session) -> "Principal":
        """The identity of temporary credentials from AssumeRole (a SessionCredential)."""
        role = session.role
        return cls(
            account_id=role.account_id,
            arn=session.arn,
            type="AssumedRole",
            principal_id=f"{role.unique_id}:{session.session_name}",
            access_key_id=session.access_key_id,
            role_arn=role.arn,
            policy_version=role.policy_version,
            session_issued_at=session.created_at.astimezone(datetime.UTC).strftime(
                CLOUDTRAIL_TIME_FORMAT),
        )

    @property
    def role_name(self) -> str | None:
        """The role of an assumed-role session (the last part of its role ARN)."""
        return self.role_arn.rsplit("/", 1)[-1] if self.role_arn else None

    @classmethod
    def service(cls, account_id: str) -> "Principal":
        """KMS itself acting for an account (scheduled rotation, deletion): 'AWS Internal'."""
        return cls(
            account_id=account_id,
            arn=f"arn:aws:iam::{account_id}:root",
            type="AWSService",
            principal_id="AWS Internal",
        )

    @classmethod
    def unauthenticated(cls, *, account_id: str = "", access_key_id: str | None = None):
        """Whoever sent a request that failed authentication (recorded, never authorized)."""
        return cls(account_id=account_id, arn="", type="Unknown", principal_id="",
                   access_key_id=access_key_id)

    def user_identity(self) -> dict:
        """CloudTrail's userIdentity block (kms-spec.md section 7.1 and 7.3)."""
        if self.type == "AWSService":
            return {"accountId": self.account_id, "invokedBy": "AWS Internal"}
        identity = {"type": self.type}
        if self.principal_id:
            identity["principalId"] = self.principal_id
        if self.arn:
            identity["arn"] = self.arn
        if self.account_id:
            identity["accountId"] = self.account_id
        if self.access_key_id:
            identity["accessKeyId"] = self.access_key_id
        if self.user_name:
            identity["userName"] = self.user_name
        if self.type == "AssumedRole" and self.role_arn:
            identity["sessionContext"] = self._session_context()
        return identity

    def _session_context(self) -> dict:
        """Who issued the session (the role) and when: CloudTrail's AssumedRole sessionContext."""
        return {
            "sessionIssuer": {
                "type": "Role",
                "principalId": self.principal_id.split(":", 1)[0],
                "arn": self.role_arn,
                "accountId": self.account_id,
                "userName": self.role_name,
            },
            "attributes": {
                "creationDate": self.session_issued_at,
                "mfaAuthenticated": "true" if self.mfa_authenticated else "false",
            },
        }


@dataclass(frozen=True)
class Caller:
    """A principal plus the context of one request: the argument every service takes."""

    principal: Principal
    region: str
    source: str = SOURCE_API
    source_ip: str = "127.0.0.1"
    user_agent: str = ""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Condition keys aws:SecureTransport and aws:MultiFactorAuthPresent: whether the request
    # came over TLS, and from a console session signed in with MFA.
    secure_transport: bool = False
    mfa_authenticated: bool = False

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    @classmethod
    def scheduler(cls, *, account_id: str, region: str) -> "Caller":
        return cls(
            principal=Principal.service(account_id),
            region=region,
            source=SOURCE_SCHEDULER,
            source_ip="AWS Internal",
            user_agent="AWS Internal",
        )
