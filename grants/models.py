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

ACCOUNT_ID_VALIDATOR = RegexValidator(r"^\d{12}$", "An account id is 12 digits.")
IAM_NAME_VALIDATOR = RegexValidator(
    r"^[\w+=,.@-]{1,64}$", "Use 1-64 letters, digits and + = , . @ _ -"
)
_UNIQUE_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_unique_id(prefix: str) -> str:
    """An IAM-style unique id (AIDA... for users), 21 characters like AWS's."""
    return prefix + "".join(secrets.choice(_UNIQUE_ID_ALPHABET) for _ in range(17))


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
