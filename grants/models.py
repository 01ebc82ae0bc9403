"""Accounts and IAM users.

An Account is the 12-digit AWS account that owns keys, aliases and principals. A User is an IAM
user of one account; it is also Django's user model so that a console session belongs to an IAM
principal. User names are unique per account (as in IAM); the globally unique ARN serves as
Django's USERNAME_FIELD and sign-in goes through grants.backends.IAMUserBackend.
"""

import secrets

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.validators import RegexValidator
from django.db import models

from keys.vault import root_key

ACCOUNT_ID_VALIDATOR = RegexValidator(r"^\d{12}$", "An account id is 12 digits.")
IAM_NAME_VALIDATOR = RegexValidator(
    r"^[\w+=,.@-]{1,64}$", "Use 1-64 letters, digits and + = , . @ _ -"
)
_UNIQUE_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_unique_id(prefix: str, length: int = 17) -> str:
    """An IAM-style unique id: AIDA... for users (21 characters), AKIA... for access keys (20)."""
    return prefix + "".join(secrets.choice(_UNIQUE_ID_ALPHABET) for _ in range(length))


def new_user_unique_id() -> str:
    return new_unique_id("AIDA")


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
        self.secret_wrapped = root_key().wrap(secret.encode(), aad=self._aad())

    def secret(self) -> str:
        return root_key().unwrap(bytes(self.secret_wrapped), aad=self._aad()).decode()

    def _aad(self) -> bytes:
        return f"access-key:{self.access_key_id}".encode()
