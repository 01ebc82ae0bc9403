"""IAM services: accounts and users. One door, like every service (authorize -> act -> audit)."""

import secrets

from django.conf import settings

from audit.recording import operation
from grants.authorization import authorize
from grants.principals import Caller
from kmsconsole.errors import AlreadyExistsError

from .models import Account, User

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
        account.full_clean()
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
        user.full_clean(exclude=["password"])
        user.set_password(password) if password else user.set_unusable_password()
        user.save()
        op.response_elements = {"user": {"userName": name, "arn": user.arn,
                                         "userId": user.unique_id}}
        return user
