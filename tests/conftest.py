"""The shared small world of the tests: accounts and principals, and callers for them.

- `account`: 111122223333, where the keys live; `admin`: its administrator.
- `outsider`: a user of another account (444455556666), who must be refused the account's keys.
Callers are built per test, in the default region us-east-1.
"""

import pytest

from grants.models import Account, User
from grants.principals import Caller, Principal

ACCOUNT_ID = "111122223333"
OTHER_ACCOUNT_ID = "444455556666"
REGION = "us-east-1"


def make_user(account: Account, name: str, password: str = "correct horse battery") -> User:
    return User.objects.create_user(account=account, name=name, password=password)


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
    return make_user(account, "admin")


@pytest.fixture
def outsider(other_account) -> User:
    return make_user(other_account, "outsider")


@pytest.fixture
def caller(admin) -> Caller:
    return caller_for(admin)


@pytest.fixture
def outsider_caller(outsider) -> Caller:
    return caller_for(outsider)
