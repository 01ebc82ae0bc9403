"""The README's "Point your tests at kmsconsole with known credentials", end to end: after
`kms_seed examples/seed.yaml`, its boto3 snippet works over the wire with the admin's and with
the app user's fixed credentials, and the app user may use the keys but not manage them."""

import io

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.management import call_command

from tests.conftest import REGION

from .conftest import _close_connections, kms_client

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN = ("AKIAEXAMPLEADMIN0001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
APP = ("AKIAEXAMPLEAPP000001", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY")


@pytest.fixture
def seeded(live_server):
    call_command("kms_seed", "examples/seed.yaml", stdout=io.StringIO())
    return live_server


@pytest.mark.parametrize("credentials", [ADMIN, APP], ids=["admin", "app"])
def test_the_readme_snippet_works_with_both_seeded_credentials(seeded, credentials):
    kms = kms_client(seeded, credentials)
    assert kms.describe_key(KeyId="alias/payments")["KeyMetadata"]["Description"] == \
        "payments data"
    blob = kms.encrypt(KeyId="alias/payments", Plaintext=b"hello")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    signature = kms.sign(KeyId="alias/release-signing", Message=b"build 42",
                         SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    assert kms.verify(KeyId="alias/release-signing", Message=b"build 42", Signature=signature,
                      SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]


def test_the_seeded_app_user_cannot_schedule_a_keys_deletion(seeded):
    kms = kms_client(seeded, APP)
    key_id = kms.describe_key(KeyId="alias/payments")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as caught:
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert kms_client(seeded, ADMIN).describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == \
        "Enabled"


def test_the_admin_assumes_the_seeded_deployer_role(seeded):
    sts = boto3.client("sts", endpoint_url=seeded.url, region_name=REGION,
                       aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1])
    sts.meta.events.register("before-send.sts.*", _close_connections)
    credentials = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/deployer",
                                  RoleSessionName="deploy")["Credentials"]
    kms = boto3.client("kms", endpoint_url=seeded.url, region_name=REGION,
                       aws_access_key_id=credentials["AccessKeyId"],
                       aws_secret_access_key=credentials["SecretAccessKey"],
                       aws_session_token=credentials["SessionToken"])
    kms.meta.events.register("before-send.kms.*", _close_connections)
    key_id = kms.describe_key(KeyId="alias/payments")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)  # KMSKeyAdministrator manages keys ...
    kms.enable_key(KeyId=key_id)
    with pytest.raises(ClientError) as caught:  # ... but does not use them
        kms.encrypt(KeyId="alias/payments", Plaintext=b"x")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
