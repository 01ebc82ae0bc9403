"""IAM services: accounts and users. One door, like every service (authorize -> act -> audit)."""

import re
import secrets

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from audit.recording import operation
from grants.authorization import authorize
from grants.principals import Caller
from kmsconsole.errors import AlreadyExistsError, LimitExceededError, ValidationError

from .models import (
    ACCESS_KEY_ID_VALIDATOR,
    AccessKey,
    Account,
    User,
    new_access_key_id,
    new_secret_access_key,
)

IAM = "iam.amazonaws.com"


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def account_create(*, account_id: str, alias: str | None = None) -> Account:
    """Create an account. Accounts are created by operators (bootstrap, seed), so the event is
    recorded as a service event of the new account itself."""
    caller = Caller.scheduler(account_id=account_id, region=settings.KMS_DEFAULT_REGION)
    with operation(caller, "CreateAccount", read_only=False, event_source=IAM,
                   request_parameters={"accountId": account_id, "alias": alias}):
        if Account.objects.filter(pk=account_id).exists():
            raise AlreadyExistsError(f"Account {account_id} already exists.")
        account = Account(id=account_id, alias=alias)
        _full_clean(account)
        account.save()
        return account


def user_create(*, caller: Caller, name: str, password: str | None = None) -> User:
    """CreateUser (+ console password): a new IAM user in the caller's account."""
    with operation(caller, "CreateUser", read_only=False, event_source=IAM,
                   request_parameters={"userName": name}) as op:
        authorize(caller, "iam:CreateUser")
        if User.objects.filter(account_id=caller.account_id, name=name).exists():
            raise AlreadyExistsError(f"User with name {name} already exists.")
        user = User(account_id=caller.account_id, name=name,
                    arn=f"arn:aws:iam::{caller.account_id}:user/{name}")
        _full_clean(user, exclude=["password"])
        user.set_password(password) if password else user.set_unusable_password()
        user.save()
        op.response_elements = {"user": {"userName": name, "arn": user.arn,
                                         "userId": user.unique_id}}
        return user


# --- access keys and passwords (seed files, and later the console's user pages) --------------

MAX_ACCESS_KEYS_PER_USER = 2  # IAM's quota AccessKeysPerUser
# A secret chosen by the operator is a credential like any other: printable ASCII without spaces,
# and long enough not to be guessed (AWS's own secrets are 40 characters).
SECRET_ACCESS_KEY_PATTERN = re.compile(r"[\x21-\x7e]{16,128}")
SECRET_ACCESS_KEY_RULE = ("A secret access key is 16-128 printable ASCII characters "
                          "without spaces.")


def access_key_create(*, caller: Caller, user: User, access_key_id: str | None = None,
                      secret: str | None = None) -> tuple[AccessKey, str]:
    """CreateAccessKey: a new access key for `user`, returned with its secret.

    Both id and secret are generated unless given: fixed ones serve seed files and users' test
    pipelines, which must know their credentials in advance. The secret is returned once, stored
    only wrapped under the root key, and never written to the audit event or to error messages.
    """
    with operation(caller, "CreateAccessKey", read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name}) as op:
        authorize(caller, "iam:CreateAccessKey", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        access_key_id = access_key_id or new_access_key_id()
        validate_access_key_id(access_key_id)
        if secret is None:
            secret = new_secret_access_key()
        validate_secret_access_key(secret)
        if user.access_keys.count() >= MAX_ACCESS_KEYS_PER_USER:
            raise LimitExceededError(
                f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}")
        access_key = AccessKey(access_key_id=access_key_id, user=user)
        access_key.set_secret(secret)
        try:
            with transaction.atomic():
                access_key.save()
        except IntegrityError:
            raise AlreadyExistsError(f"Access key {access_key_id} already exists.") from None
        op.response_elements = {"accessKey": {
            "userName": user.name, "accessKeyId": access_key_id, "status": access_key.status,
            "createDate": access_key.created_at.isoformat()}}
        return access_key, secret


def _full_clean(instance, *, exclude=None) -> None:
    """Model validation in the service's error vocabulary (a Django ValidationError escaping a
    service would be reported as an internal error)."""
    try:
        instance.full_clean(exclude=exclude)
    except DjangoValidationError as error:
        raise ValidationError(" ".join(
            f"{field}: {message}" for field, messages in error.message_dict.items()
            for message in messages)) from None


def validate_access_key_id(access_key_id: str) -> None:
    try:
        ACCESS_KEY_ID_VALIDATOR(access_key_id)
    except DjangoValidationError as error:
        raise ValidationError(" ".join(error.messages)) from None


def validate_secret_access_key(secret: str) -> None:
    # The message never echoes the secret (secrets never reach logs or error messages).
    if not isinstance(secret, str) or not SECRET_ACCESS_KEY_PATTERN.fullmatch(secret):
        raise ValidationError(SECRET_ACCESS_KEY_RULE)


def user_set_password(*, caller: Caller, user: User, password: str) -> User:
    """CreateLoginProfile / UpdateLoginProfile: give `user` a console password or change it.

    The password must pass the configured password validators; the event names the user only.
    """
    event_name = "UpdateLoginProfile" if user.has_usable_password() else "CreateLoginProfile"
    with operation(caller, event_name, read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name}):
        authorize(caller, f"iam:{event_name}", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        validate_console_password(password, user=user)
        user.set_password(password)
        user.save(update_fields=["password"])
        return user


def validate_console_password(password: str, *, user: User | None = None) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as error:
        raise ValidationError(" ".join(error.messages)) from None
