"""API test world: access keys for the shared principals and boto3 clients on live_server."""

import boto3
import pytest
from botocore.config import Config

from grants.models import AccessKey, new_access_key_id, new_secret_access_key
from tests.conftest import REGION


def create_access_key(user, *, access_key_id=None, secret=None) -> tuple[str, str]:
    access_key_id = access_key_id or new_access_key_id()
    secret = secret or new_secret_access_key()
    key = AccessKey(access_key_id=access_key_id, user=user)
    key.set_secret(secret)
    key.save()
    return access_key_id, secret


def _close_connections(request, **kwargs):
    # boto3 keep-alive against live_server leaves a thread behind at exit; close each time.
    request.headers["Connection"] = "close"


def kms_client(live_server, credentials, *, region=REGION, retries=0):
    access_key_id, secret = credentials
    client = boto3.client(
        "kms", endpoint_url=live_server.url, region_name=region,
        aws_access_key_id=access_key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": retries + 1, "mode": "standard"}),
    )
    client.meta.events.register("before-send.kms.*", _close_connections)
    return client


@pytest.fixture
def admin_credentials(admin):
    return create_access_key(admin)


@pytest.fixture
def outsider_credentials(outsider):
    return create_access_key(outsider)


@pytest.fixture
def kms(live_server, admin_credentials):
    """A boto3 KMS client of the account's administrator."""
    return kms_client(live_server, admin_credentials)


@pytest.fixture
def outsider_kms(live_server, outsider_credentials):
    return kms_client(live_server, outsider_credentials)
