"""Real AWS clients against the live server: the aws CLI and the AWS Encryption SDK.

design.md promises that boto3, the aws CLI and the AWS Encryption SDK work against the server
unchanged, pointed at it only by `AWS_ENDPOINT_URL_KMS`. These tests drive the real programs, no
mocks: the CLI as a subprocess with an environment of its own (so nothing of the developer's
~/.aws, profile or proxy leaks in), the Encryption SDK in-process with the environment set by
monkeypatch. That the requests really reached this server is shown by its audit trail.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import aws_encryption_sdk
import boto3
import botocore.session
import pytest
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError

from audit.models import AuditEvent
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, REGION

from .conftest import _close_connections

pytestmark = pytest.mark.django_db(transaction=True)

# The `aws` entry point installed beside the interpreter running the tests (the test extra).
AWS = Path(sys.executable).with_name("aws")
CLI_TIMEOUT = 60
# Binary, with NULs and every byte value, under Encrypt's 4096-byte plaintext limit.
SECRET = b"\x00kmsconsole\xffpayload\n" + bytes(range(256)) * 15
CONTEXT = {"purpose": "client-tests", "department": "finance"}


# --- the aws CLI ----------------------------------------------------------------------------

def cli_env(tmp_path: Path, live_server, credentials: tuple[str, str]) -> dict[str, str]:
    """A clean environment for the CLI: only the server's endpoint and these credentials."""
    config, shared_credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.touch()
    shared_credentials.touch()
    access_key_id, secret = credentials
    return {
        # The venv's bin first, so `aws` in a pipeline is the CLI under test.
        "PATH": os.pathsep.join([str(AWS.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": access_key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_KMS": live_server.url,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(shared_credentials),
        "AWS_PAGER": "",
    }


def aws(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(AWS), *args], env=env, capture_output=True, text=True,
                            timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, f"aws {' '.join(args)} failed:\n{result.stderr}"
    return result


def shell(env: dict, script: str) -> None:
    """Run a pipeline as a user would type it; pipefail so a failing `aws` is not hidden."""
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], env=env,
                            capture_output=True, text=True, timeout=CLI_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{script}\nfailed:\n{result.stderr}"


def test_aws_cli_creates_a_key_and_alias_and_round_trips_a_file(
        tmp_path, live_server, admin_credentials):
    env = cli_env(tmp_path, live_server, admin_credentials)

    created = json.loads(aws(env, "kms", "create-key", "--description", "made by the aws CLI",
                             "--output", "json").stdout)["KeyMetadata"]
    key_id = created["KeyId"]
    assert created["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    assert created["Description"] == "made by the aws CLI"
    assert created["KeyState"] == "Enabled"
    aws(env, "kms", "create-alias", "--alias-name", "alias/cli-files",
        "--target-key-id", key_id)

    plain, enc, out = (tmp_path / "file.bin", tmp_path / "file.enc", tmp_path / "file.out")
    plain.write_bytes(SECRET)
    shell(env, f"""
        aws kms encrypt --key-id alias/cli-files --plaintext fileb://{shlex.quote(str(plain))} \\
            --output text --query CiphertextBlob | base64 -d > {shlex.quote(str(enc))}
        aws kms decrypt --ciphertext-blob fileb://{shlex.quote(str(enc))} \\
            --output text --query Plaintext | base64 -d > {shlex.quote(str(out))}
    """)
    assert out.read_bytes() == SECRET
    assert SECRET not in enc.read_bytes()

    listed = json.loads(aws(env, "kms", "list-keys", "--output", "json").stdout)["Keys"]
    assert {"KeyId": key_id, "KeyArn": created["Arn"]} in listed

    # The calls were this server's, made by the CLI: its audit trail has them, with its agent.
    events = AuditEvent.objects.filter(key_id=key_id, error_code="")
    assert {"CreateKey", "CreateAlias", "Encrypt", "Decrypt"} <= set(
        events.values_list("event_name", flat=True))
    assert all("aws-cli/" in agent for agent in events.values_list("user_agent", flat=True))


def test_aws_cli_with_a_wrong_secret_fails_with_invalid_signature(
        tmp_path, live_server, admin_credentials):
    access_key_id, secret = admin_credentials
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    env = cli_env(tmp_path, live_server, (access_key_id, wrong))

    result = aws(env, "kms", "list-keys", check=False)

    assert result.returncode != 0
    assert "InvalidSignatureException" in result.stderr
    assert result.stdout == ""
    assert wrong not in result.stderr and secret not in result.stderr


# --- the AWS Encryption SDK -----------------------------------------------------------------

@pytest.fixture
def sdk_environment(monkeypatch, tmp_path, live_server):
    """Point every boto3 client made without arguments at the server, as a user would.

    Returns a function that switches the environment's credentials and returns a fresh
    botocore session. boto3's default session caches the credentials it first resolved, so it
    is replaced on every switch (the keyring's default client supplier makes its clients from it).
    """
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower() in {"http_proxy", "https_proxy", "all_proxy",
                                                      "no_proxy"}:
            monkeypatch.delenv(name)
    for name, filename in (("AWS_CONFIG_FILE", "aws-config"),
                           ("AWS_SHARED_CREDENTIALS_FILE", "aws-credentials")):
        (tmp_path / filename).touch()
        monkeypatch.setenv(name, str(tmp_path / filename))
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", live_server.url)

    def use(credentials: tuple[str, str]) -> botocore.session.Session:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials[0])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials[1])
        session = botocore.session.Session()
        # Test hygiene only, nothing about where requests go: the SDK's keep-alive
        # connections would pin live_server threads and their database connections until
        # the end of the run, and Postgres then refuses to drop the test database.
        session.register("before-send.kms.*", _close_connections)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3.session.Session(
            botocore_session=session))
        return session

    return use


def kms_keyring(key_arn: str):
    """A KMS keyring of the Material Providers Library, with its default client supplier.

    Imported here, not at module level, so a missing `aws-encryption-sdk[MPL]` fails this
    test alone and not the whole module.
    """
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsMultiKeyringInput

    providers = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    return providers.create_aws_kms_multi_keyring(
        input=CreateAwsKmsMultiKeyringInput(generator=key_arn))


def sdk_client():
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


def successful(event_name: str, key_id: str, account_id: str = ACCOUNT_ID):
    return AuditEvent.objects.filter(event_name=event_name, key_id=key_id, error_code="",
                                     recipient_account_id=account_id)


def test_encryption_sdk_keyring_round_trips_through_the_endpoint_variable(
        kms, sdk_environment, admin_credentials, outsider_credentials):
    key = kms.create_key(Description="Encryption SDK")["KeyMetadata"]
    sdk_environment(admin_credentials)
    client = sdk_client()

    ciphertext, header = client.encrypt(source=SECRET, keyring=kms_keyring(key["Arn"]),
                                        encryption_context=CONTEXT)
    assert SECRET not in ciphertext
    assert [edk.key_provider.key_info.decode() for edk in header.encrypted_data_keys] == [
        key["Arn"]]

    plaintext, decrypted_header = client.decrypt(source=ciphertext,
                                                 keyring=kms_keyring(key["Arn"]),
                                                 encryption_context=CONTEXT)
    assert plaintext == SECRET
    assert CONTEXT.items() <= decrypted_header.encryption_context.items()

    # The data key was made and unwrapped by this server, for the SDK.
    for event_name in ("GenerateDataKey", "Decrypt"):
        events = successful(event_name, key["KeyId"])
        assert events.count() == 1, event_name
        assert "AwsCryptographicMPL" in events.get().user_agent

    # Another account's credentials get the ciphertext nowhere: the key policy denies them.
    sdk_environment(outsider_credentials)
    with pytest.raises(AWSEncryptionSDKClientError) as refused_error:
        client.decrypt(source=ciphertext, keyring=kms_keyring(key["Arn"]))
    # The SDK nests the service's error in its own (only repr() shows the nested ones).
    assert "(AccessDeniedException) when calling the Decrypt operation" in repr(
        refused_error.value)
    assert successful("Decrypt", key["KeyId"]).count() == 1
    refused = AuditEvent.objects.filter(event_name="Decrypt",
                                        recipient_account_id=OTHER_ACCOUNT_ID).get()
    assert refused.error_code == "AccessDeniedException"


def test_encryption_sdk_master_key_provider_round_trips_through_the_endpoint_variable(
        kms, sdk_environment, admin_credentials):
    # The older API many programs still use: a strict KMS master key provider.
    key = kms.create_key(Description="Encryption SDK master key")["KeyMetadata"]
    session = sdk_environment(admin_credentials)
    client = sdk_client()

    def provider():
        return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key["Arn"]],
                                                               botocore_session=session)

    ciphertext, _ = client.encrypt(source=SECRET, key_provider=provider(),
                                   encryption_context=CONTEXT)
    plaintext, header = client.decrypt(source=ciphertext, key_provider=provider())

    assert plaintext == SECRET
    assert CONTEXT.items() <= header.encryption_context.items()
    assert successful("GenerateDataKey", key["KeyId"]).count() == 1
    assert successful("Decrypt", key["KeyId"]).count() == 1
