"""The shared small world of the tests: accounts and principals, and callers for them.

- `account`: 111122223333, where the keys live; `admin`: its administrator (the built-in
  AdministratorAccess policy attached, as `make run` gives the first user).
- `outsider`: the administrator of another account (444455556666), who must be refused the
  account's keys: another account's keys need their key policy's consent, not just IAM's.
- `make_user` makes a user with no policy at all: it may do nothing until a policy allows it.
Callers are built per test, in the default region us-east-1.
"""

import pytest

from grants import services
from grants.builtin_policies import builtin_policy_arn
from grants.models import Account, User
from grants.principals import Caller, Principal

ACCOUNT_ID = "111122223333"
OTHER_ACCOUNT_ID = "444455556666"
REGION = "us-east-1"


def make_user(account: Account, name: str, password: str = "correct horse battery") -> User:
    return User.objects.create_user(account=account, name=name, password=password)


def make_administrator(account: Account, name: str) -> User:
    """A user with AdministratorAccess, attached through the service as an operator would."""
    user = make_user(account, name)
    services.policy_attach_user(caller=Caller.scheduler(account_id=account.id, region=REGION),
                                user=user, policy_arn=builtin_policy_arn("AdministratorAccess"))
    return user


def caller_for(user: User, *, region: str = REGION, source: str = "api") -> Caller:
    return Caller(principal=Principal.for_user(user), region=region, source=source,
                  source_ip="192.0.2.10", user_agent="pytest")


@pytest.fixture
def account(db) -> Account:
    return Account.objects.create(id=ACCOUNT_ID, alias="example")


@pytest.fixture
def other_account(db) -> Account:
    return Account.objects.create(id=OTHER_ACCOUNT_ID)


@pytest.fixture
def admin(account) -> User:
    return make_administrator(account, "admin")


@pytest.fixture
def outsider(other_account) -> User:
    return make_administrator(other_account, "outsider")


@pytest.fixture
def caller(admin) -> Caller:
    return caller_for(admin)


@pytest.fixture
def outsider_caller(outsider) -> Caller:
    return caller_for(outsider)
