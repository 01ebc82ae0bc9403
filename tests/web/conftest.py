"""Fixtures every console test module uses: the account's administrator signed in, and a user
with no policy at all signed in (what every view must refuse)."""

import pytest

from tests.conftest import make_user


@pytest.fixture
def signed_in(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def nobody_client(client, account):
    client.force_login(make_user(account, "nobody"))
    return client
