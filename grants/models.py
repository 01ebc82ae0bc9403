"""Accounts, IAM users and roles, their policies and credentials, and KMS grants.

An Account is the 12-digit AWS account that owns keys, aliases and principals. A User is an IAM
user of one account; it is also Django's user model so that a console session belongs to an IAM
principal. User names are unique per account (as in IAM); the globally unique ARN serves as
Django's USERNAME_FIELD and sign-in goes through grants.backends.IAMUserBackend.

Roles are assumed through STS (AssumeRole), which issues SessionCredentials. Identity policies
are managed (versioned, attachable to users and roles; built-in ones belong to no account) or
inline (embedded in one user or role). Grants are KMS grants on one key.
"""

import hashlib
import hmac
import secrets

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from keys.vault import root_key

ACCOUNT_ID_VALIDATOR = RegexValidator(r"^\d{12}$", "An account id is 12 digits.")
IAM_NAME_VALIDATOR = RegexValidator(
    r"^[\w+=,.@-]{1,64}$", "Use 1-64 letters, digits and + = , . @ _ -"
)
# IAM's path pattern: "/" alone, or "/" + printable ASCII + "/" (512 characters at most).
IAM_PATH_VALIDATOR = RegexValidator(
    r"^(/|/[\x21-\x7e]{1,510}/)$", "A path is / or begins and ends with / (printable ASCII)."
)
POLICY_NAME_VALIDATOR = RegexValidator(
    r"^[\w+=,.@-]{1,128}$", "Use 1-128 letters, digits and + = , . @ _ -"
)
SESSION_NAME_VALIDATOR = RegexValidator(
    r"^[\w+=,.@-]{2,64}$", "Use 2-64 letters, digits and + = , . @ _ -"
)
_UNIQUE_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_unique_id(prefix: str, length: int = 17) -> str:
    """An IAM-style unique id: AIDA... for users (21 characters), AKIA... for access keys (20)."""
    return prefix + "".join(secrets.choice(_UNIQUE_ID_ALPHABET) for _ in range(length))


def new_user_unique_id() -> str:
    return new_unique_id("AIDA")


def new_role_unique_id() -> str:
    return new_unique_id("AROA")


def new_policy_unique_id() -> str:
    return new_unique_id("ANPA")


def new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


class Account(models.Model):
    """An AWS account: the owner and partition of keys, aliases and principals."""

    id = models.CharField(primary_key=True, max_length=12, validators=[ACCOUNT_ID_VALIDATOR])
    alias = models.CharField(max_length=63, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.alias or self.id

    @property
    def root_arn(self) -> str:
        return f"arn:aws:iam::{self.id}:root"


class UserManager(BaseUserManager):
    def create_user(self, *, account: Account, name: str, password: str | None = None, path="/"):
        user = self.model(account=account, name=name, path=path)
        user.arn = f"arn:aws:iam::{account.id}:user{path}{name}"
        user.set_password(password) if password else user.set_unusable_password()
        user.save()
        return user


class User(AbstractBaseUser):
    """An IAM user: signs in to the console with a password and calls the API with access keys."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="users")
    name = models.CharField(max_length=64, validators=[IAM_NAME_VALIDATOR])
    path = models.CharField(max_length=512, default="/")
    arn = models.CharField(max_length=2048, unique=True)
    unique_id = models.CharField(max_length=32, unique=True, default=new_user_unique_id)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    USERNAME_FIELD = "arn"
    REQUIRED_FIELDS: list[str] = []

    # IAM quota: 10 managed policies per user (enforced by grants.services.policy_attach_user).
    attached_policies = models.ManyToManyField("ManagedPolicy", related_name="users",
                                               blank=True)
    # Bumped whenever this principal's identity policies change (grants.services); the
    # authorization cache of parsed identity policies is keyed by it.
    policy_version = models.PositiveIntegerField(default=0)

    # Console sign-in: the last success ("Console last sign-in" in the IAM console), the wrong
    # passwords in a row, and until when sign-in is locked after too many of them
    # (settings.SIGNIN_LOCKOUT_*); grants.signin keeps them.
    last_signin_at = models.DateTimeField(null=True, blank=True)
    failed_signin_count = models.PositiveIntegerField(default=0)
    signin_locked_until = models.DateTimeField(null=True, blank=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    # IAM's PasswordResetRequired ("Users must create a new password at next sign-in"): the
    # next console sign-in leads to Change password before any other page (grants.passwords).
    password_reset_required = models.BooleanField(default=False)

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="user_name_unique_per_account")
        ]

    def __str__(self) -> str:
        return self.name


ACCESS_KEY_ID_VALIDATOR = RegexValidator(r"^[A-Z0-9]{16,128}$", "Use 16-128 upper-case letters "
                                         "and digits, like AKIAIOSFODNN7EXAMPLE.")


def new_access_key_id() -> str:
    return new_unique_id("AKIA", length=16)


def new_secret_access_key() -> str:
    # 40 characters of base64 alphabet, like AWS secret access keys.
    return secrets.token_urlsafe(30)[:40].replace("-", "+").replace("_", "/")


class AccessKey(models.Model):
    """An IAM user's access key for the API (SigV4).

    The server must know the secret to recompute signatures, so it cannot store a hash: the
    secret is stored wrapped under the root key (AAD = access key id), never in the clear.
    """

    ACTIVE = "Active"
    INACTIVE = "Inactive"

    access_key_id = models.CharField(max_length=128, unique=True,
                                     validators=[ACCESS_KEY_ID_VALIDATOR])
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_keys")
    secret_wrapped = models.BinaryField()
    status = models.CharField(max_length=8, default=ACTIVE,
                              choices=[(ACTIVE, ACTIVE), (INACTIVE, INACTIVE)])
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.access_key_id

    def set_secret(self, secret: str) -> None:
        self.secret_wrapped = _wrap_secret(secret, self._aad())

    def secret(self) -> str:
        return _unwrap_secret(self.secret_wrapped, self._aad())

    def _aad(self) -> bytes:
        return f"access-key:{self.access_key_id}".encode()


def _wrap_secret(secret: str, aad: bytes) -> bytes:
    return root_key().wrap(secret.encode(), aad=aad)


def _unwrap_secret(wrapped, aad: bytes) -> str:
    return root_key().unwrap(bytes(wrapped), aad=aad).decode()


class MFADevice(models.Model):
    """A user's virtual MFA device (TOTP, RFC 6238). The shared secret is stored wrapped under
    the root key like access key secrets; `last_used_step` refuses a code used once already
    (a TOTP code stays valid for its 30-second step, and a replayed one must not sign in)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="mfa_device")
    serial_number = models.CharField(max_length=2048, unique=True)  # arn:aws:iam::<acct>:mfa/<n>
    secret_wrapped = models.BinaryField()
    # False until the user proved the device with two consecutive codes (IAM's
    # EnableMFADevice); an unconfirmed device does not guard sign-in.
    enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    enabled_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return self.serial_number

    def set_secret(self, secret: str) -> None:
        self.secret_wrapped = _wrap_secret(secret, self._aad())

    def secret(self) -> str:
        return _unwrap_secret(self.secret_wrapped, self._aad())

    def _aad(self) -> bytes:
        return f"mfa-device:{self.serial_number}".encode()


class PasswordPolicy(models.Model):
    """The account's password policy (IAM UpdateAccountPasswordPolicy). Without a row, IAM's
    default applies: at least 8 characters with three of the four character types, not the
    user name or email (grants.services.validate_console_password)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True,
                                   related_name="password_policy")
    minimum_password_length = models.PositiveSmallIntegerField(default=8)
    require_symbols = models.BooleanField(default=False)
    require_numbers = models.BooleanField(default=False)
    require_uppercase_characters = models.BooleanField(default=False)
    require_lowercase_characters = models.BooleanField(default=False)
    allow_users_to_change_password = models.BooleanField(default=False)
    max_password_age = models.PositiveSmallIntegerField(null=True, blank=True)  # days, 1-1095
    password_reuse_prevention = models.PositiveSmallIntegerField(null=True, blank=True)  # 1-24
    hard_expiry = models.BooleanField(default=False)


class PasswordHistory(models.Model):
    """Hashes of a user's earlier console passwords, for password_reuse_prevention."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)  # Django's password hash, never the password
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


# --- roles ----------------------------------------------------------------------------------

MIN_MAX_SESSION_DURATION = 3600    # IAM: a role's MaxSessionDuration is 1 to 12 hours
MAX_MAX_SESSION_DURATION = 43200


class Role(models.Model):
    """An IAM role: an identity without long-term credentials, assumed through STS AssumeRole.

    Who may assume it is said by its trust policy (a resource-based policy whose only action is
    sts:AssumeRole), kept as the JSON text the caller gave so it reads back unchanged. What the
    role may do is said by its attached and inline identity policies.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=64, validators=[IAM_NAME_VALIDATOR])
    path = models.CharField(max_length=512, default="/", validators=[IAM_PATH_VALIDATOR])
    arn = models.CharField(max_length=2048, unique=True)
    unique_id = models.CharField(max_length=32, unique=True, default=new_role_unique_id)
    description = models.CharField(max_length=1000, blank=True, default="")
    trust_policy = models.TextField()
    max_session_duration = models.PositiveIntegerField(
        default=MIN_MAX_SESSION_DURATION,
        validators=[MinValueValidator(MIN_MAX_SESSION_DURATION),
                    MaxValueValidator(MAX_MAX_SESSION_DURATION)])
    created_at = models.DateTimeField(auto_now_add=True)
    # IAM quota: 10 managed policies per role (enforced by grants.services.policy_attach_role).
    attached_policies = models.ManyToManyField("ManagedPolicy", related_name="roles",
                                               blank=True)
    # Bumped whenever this principal's identity policies change (grants.services); the
    # authorization cache of parsed identity policies is keyed by it.
    policy_version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="role_name_unique_per_account")
        ]

    def __str__(self) -> str:
        return self.name


# --- identity policies ----------------------------------------------------------------------

class ManagedPolicy(models.Model):
    """A managed identity policy: a named, versioned document attachable to users and roles.

    Customer managed policies belong to an account. Built-in (AWS managed) policies have no
    account: one row each, shared by every account, with the ARN arn:aws:iam::aws:policy/<Name>.
    Their documents are defined in code (grants.builtin_policies) and always read from there, so
    an upgrade that changes one takes effect at once; their rows exist only so that attachments
    are ordinary foreign keys (attach-by-ARN then works the same for both kinds). The rows are
    created on first use rather than by a data migration, because a data migration's rows vanish
    whenever the tables are flushed (TransactionTestCase, `manage.py flush`).
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="managed_policies")
    name = models.CharField(max_length=128, validators=[POLICY_NAME_VALIDATOR])
    path = models.CharField(max_length=512, default="/", validators=[IAM_PATH_VALIDATOR])
    arn = models.CharField(max_length=2048, unique=True)
    policy_id = models.CharField(max_length=32, unique=True, default=new_policy_unique_id)
    description = models.CharField(max_length=1000, blank=True, default="")
    default_version_id = models.CharField(max_length=16, default="v1")
    # Version ids are never reused (IAM counts on after a version is deleted): the last number
    # handed out, not the number of versions kept.
    last_version_number = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"],
                                    name="managed_policy_name_unique_per_account")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return self.account_id is None


class ManagedPolicyVersion(models.Model):
    """One version of a customer managed policy's document; exactly one is the default, the
    one in force. IAM keeps at most 5 versions per policy."""

    policy = models.ForeignKey(ManagedPolicy, on_delete=models.CASCADE, related_name="versions")
    version_id = models.CharField(max_length=16)
    document = models.TextField()
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "version_id"],
                                    name="policy_version_unique"),
            # Threat: two concurrent SetDefaultPolicyVersion calls leaving two versions in force.
            models.UniqueConstraint(fields=["policy"], condition=models.Q(is_default=True),
                                    name="one_default_version_per_policy"),
        ]
        ordering = ["policy", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.policy.name} {self.version_id}"


class InlinePolicy(models.Model):
    """An identity policy embedded in exactly one user or role; it lives and dies with it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="inline_policies")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="inline_policies")
    name = models.CharField(max_length=128, validators=[POLICY_NAME_VALIDATOR])
    document = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False, role__isnull=True)
                           | models.Q(user__isnull=True, role__isnull=False)),
                name="inline_policy_has_exactly_one_owner"),
            models.UniqueConstraint(fields=["user", "name"], condition=models.Q(user__isnull=False),
                                    name="inline_policy_name_unique_per_user"),
            models.UniqueConstraint(fields=["role", "name"], condition=models.Q(role__isnull=False),
                                    name="inline_policy_name_unique_per_role"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def owner(self):
        return self.user if self.user_id is not None else self.role


# --- temporary credentials ------------------------------------------------------------------

def new_session_access_key_id() -> str:
    return new_unique_id("ASIA", length=16)


def new_session_token() -> str:
    # Real STS tokens are several hundred characters; what matters is that they cannot be
    # guessed: 96 random bytes, URL-safe (no character needs escaping in a header).
    return secrets.token_urlsafe(96)


def session_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionCredential(models.Model):
    """Temporary credentials issued by AssumeRole: an ASIA access key, its secret and a token.

    The secret is stored wrapped under the root key like an AccessKey's (the server needs it to
    recompute signatures). The session token is only ever compared, so only its SHA-256 is kept:
    a database dump alone cannot be replayed as X-Amz-Security-Token. Deleting the role deletes
    its sessions.
    """

    access_key_id = models.CharField(max_length=128, unique=True,
                                     validators=[ACCESS_KEY_ID_VALIDATOR])
    secret_wrapped = models.BinaryField()
    session_token_sha256 = models.CharField(max_length=64)
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="sessions")
    session_name = models.CharField(max_length=64, validators=[SESSION_NAME_VALIDATOR])
    assumed_by_arn = models.CharField(max_length=2048)
    assumed_role_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.access_key_id

    @property
    def arn(self) -> str:
        return (f"arn:aws:sts::{self.role.account_id}:assumed-role/{self.role.name}/"
                f"{self.session_name}")

    def set_secret(self, secret: str) -> None:
        self.secret_wrapped = _wrap_secret(secret, self._aad())

    def secret(self) -> str:
        return _unwrap_secret(self.secret_wrapped, self._aad())

    def set_session_token(self, token: str) -> None:
        self.session_token_sha256 = session_token_digest(token)

    def session_token_matches(self, token: str) -> bool:
        return hmac.compare_digest(self.session_token_sha256, session_token_digest(token))

    def _aad(self) -> bytes:
        return f"session-credential:{self.access_key_id}".encode()


# --- KMS grants -----------------------------------------------------------------------------

def new_grant_id() -> str:
    return secrets.token_hex(32)  # AWS grant ids are 64 lower-case hex characters


class Grant(models.Model):
    """A KMS grant: lets `grantee_principal` use one key for `operations`, optionally only with
    a matching encryption context (`constraints`), until it is retired or revoked.

    Hangs off its key with CASCADE: deleting a key (kms_reset, the deletion sweep) takes its
    grants with it.
    """

    key = models.ForeignKey("keys.Key", on_delete=models.CASCADE, related_name="grants")
    grant_id = models.CharField(max_length=64, unique=True, default=new_grant_id)
    name = models.CharField(max_length=256, null=True, blank=True)
    grantee_principal = models.CharField(max_length=256)
    retiring_principal = models.CharField(max_length=256, null=True, blank=True)
    operations = models.JSONField(default=list)
    # {"EncryptionContextEquals": {...}} or {"EncryptionContextSubset": {...}}; null = none.
    constraints = models.JSONField(null=True, blank=True)
    issuing_account = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["key", "grantee_principal"]),
            models.Index(fields=["retiring_principal"]),  # ListRetirableGrants
        ]

    def __str__(self) -> str:
        return self.grant_id
