"""Real boto3 against live_server: KMS grants end to end (kms-spec.md 6).

The account's admin creates grants for `bob`, a user without any policy, who then decrypts
through them; grants are listed page by page, retired by token and revoked. Every response is
checked against botocore's output shape (helpers.checked), errors included.
"""

import re

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from audit.models import AuditEvent
from tests.conftest import ACCOUNT_ID, REGION, make_user

from .conftest import create_access_key
from .helpers import checked, make_client, responses_must_fit

pytestmark = pytest.mark.django_db(transaction=True)

HEX64 = re.compile(r"^[0-9a-f]{64}$")
TENANT_A = {"tenant": "a"}


@pytest.fixture(autouse=True)
def _every_response_fits_its_shape(request):
    yield from responses_must_fit(request)


@pytest.fixture
def kms(kms):
    return checked(kms)


@pytest.fixture
def bob(account):
    return make_user(account, "bob")


@pytest.fixture
def carol(account):
    return make_user(account, "carol")


@pytest.fixture
def bob_kms(live_server, bob):
    return make_client(live_server, create_access_key(bob))


@pytest.fixture
def carol_kms(live_server, carol):
    return make_client(live_server, create_access_key(carol))


@pytest.fixture
def key_arn(kms):
    return kms.create_key(Description="granted")["KeyMetadata"]["Arn"]


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def refused(call, code: str) -> str:
    """Run `call`, expect `code`; the audit trail recorded the refusal under its request id."""
    with pytest.raises(ClientError) as excinfo:
        call()
    assert error_code(excinfo) == code, excinfo.value.response
    request_id = excinfo.value.response["ResponseMetadata"]["RequestId"]
    assert AuditEvent.objects.get(request_id=request_id).error_code == code
    return excinfo.value.response["Error"].get("Message", "")


def test_a_grantee_decrypts_through_a_grant_until_it_is_revoked(kms, bob_kms, bob, key_arn):
    ciphertext = kms.encrypt(KeyId=key_arn, Plaintext=b"payroll",
                             EncryptionContext={**TENANT_A, "run": "7"})["CiphertextBlob"]
    refused(lambda: bob_kms.decrypt(CiphertextBlob=ciphertext,
                                    EncryptionContext={**TENANT_A, "run": "7"}),
            "AccessDeniedException")

    created = kms.create_grant(KeyId=key_arn, GranteePrincipal=bob.arn,
                               Operations=["Decrypt"], Name="payroll-reader",
                               Constraints={"EncryptionContextSubset": TENANT_A})
    assert HEX64.match(created["GrantId"])
    assert created["GrantToken"]
    event = AuditEvent.objects.get(request_id=created["ResponseMetadata"]["RequestId"])
    assert event.response_elements == {"grantId": created["GrantId"]}
    assert created["GrantToken"] not in str(event.as_record())

    opened = bob_kms.decrypt(CiphertextBlob=ciphertext, GrantTokens=[created["GrantToken"]],
                             EncryptionContext={**TENANT_A, "run": "7"})
    assert opened["Plaintext"] == b"payroll" and opened["KeyId"] == key_arn
    other = kms.encrypt(KeyId=key_arn, Plaintext=b"x",
                        EncryptionContext={"tenant": "b"})["CiphertextBlob"]
    refused(lambda: bob_kms.decrypt(CiphertextBlob=other, EncryptionContext={"tenant": "b"}),
            "AccessDeniedException")
    refused(lambda: bob_kms.encrypt(KeyId=key_arn, Plaintext=b"x", EncryptionContext=TENANT_A),
            "AccessDeniedException")
    refused(lambda: bob_kms.decrypt(CiphertextBlob=ciphertext, GrantTokens=["forged"],
                                    EncryptionContext={**TENANT_A, "run": "7"}),
            "InvalidGrantTokenException")

    again = kms.create_grant(KeyId=key_arn, GranteePrincipal=bob.arn,
                             Operations=["Decrypt"], Name="payroll-reader",
                             Constraints={"EncryptionContextSubset": TENANT_A})
    assert again["GrantId"] == created["GrantId"]  # a named identical retry

    assert kms.revoke_grant(KeyId=key_arn, GrantId=created["GrantId"])
    refused(lambda: bob_kms.decrypt(CiphertextBlob=ciphertext,
                                    EncryptionContext={**TENANT_A, "run": "7"}),
            "AccessDeniedException")
    refused(lambda: kms.revoke_grant(KeyId=key_arn, GrantId=created["GrantId"]),
            "NotFoundException")


def test_list_grants_pages_and_returns_grant_list_entries(kms, bob, carol, key_arn):
    made = []
    for index in range(5):
        made.append(kms.create_grant(
            KeyId=key_arn, GranteePrincipal=bob.arn, RetiringPrincipal=carol.arn,
            Operations=["Encrypt", "Decrypt"], Name=f"grant-{index}",
            Constraints={"EncryptionContextEquals": TENANT_A})["GrantId"])
    first = kms.list_grants(KeyId=key_arn, Limit=2)
    assert first["Truncated"] is True and len(first["Grants"]) == 2
    entry = first["Grants"][0]
    assert entry["KeyId"] == key_arn and entry["GrantId"] == made[0]
    assert entry["Name"] == "grant-0"
    assert entry["GranteePrincipal"] == bob.arn and entry["RetiringPrincipal"] == carol.arn
    assert entry["IssuingAccount"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert entry["Operations"] == ["Encrypt", "Decrypt"]
    assert entry["Constraints"] == {"EncryptionContextEquals": TENANT_A}
    assert entry["CreationDate"].tzinfo is not None

    paged = [g["GrantId"] for page in kms.get_paginator("list_grants").paginate(
        KeyId=key_arn, PaginationConfig={"PageSize": 2}) for g in page["Grants"]]
    assert paged == made
    only = kms.list_grants(KeyId=key_arn, GrantId=made[3])
    assert [g["GrantId"] for g in only["Grants"]] == [made[3]] and only["Truncated"] is False
    assert "NextMarker" not in only
    refused(lambda: kms.list_grants(KeyId=key_arn, GrantId="nope"), "InvalidGrantIdException")
    refused(lambda: kms.list_grants(KeyId=key_arn, Marker="forged"), "InvalidMarkerException")


def test_list_retirable_grants_and_retire_by_token(kms, carol_kms, bob, carol, key_arn):
    created = kms.create_grant(KeyId=key_arn, GranteePrincipal=bob.arn,
                               RetiringPrincipal=carol.arn, Operations=["Decrypt"])
    kms.create_grant(KeyId=key_arn, GranteePrincipal=bob.arn, Operations=["Decrypt"])
    listed = kms.list_retirable_grants(RetiringPrincipal=carol.arn)
    assert [g["GrantId"] for g in listed["Grants"]] == [created["GrantId"]]
    assert listed["Truncated"] is False
    # ListRetirableGrants is an IAM permission carol does not have; retiring needs none.
    refused(lambda: carol_kms.list_retirable_grants(RetiringPrincipal=carol.arn),
            "AccessDeniedException")

    response = carol_kms.retire_grant(GrantToken=created["GrantToken"])
    event = AuditEvent.objects.get(request_id=response["ResponseMetadata"]["RequestId"])
    assert event.request_parameters == {"keyId": key_arn, "grantId": created["GrantId"]}
    assert created["GrantToken"] not in str(event.as_record())
    remaining = kms.list_grants(KeyId=key_arn)["Grants"]
    assert created["GrantId"] not in [g["GrantId"] for g in remaining] and len(remaining) == 1
    refused(lambda: carol_kms.retire_grant(GrantToken=created["GrantToken"]),
            "NotFoundException")


def test_grant_requests_refused_with_aws_errors(kms, bob_kms, bob, key_arn):
    refused(lambda: kms.create_grant(KeyId=key_arn, GranteePrincipal=bob.arn,
                                     Operations=["Sign"]), "ValidationException")
    refused(lambda: kms.create_grant(KeyId=key_arn, GranteePrincipal="nobody",
                                     Operations=["Decrypt"]), "ValidationException")
    refused(lambda: kms.create_grant(KeyId=key_arn,
                                     GranteePrincipal=f"arn:aws:iam::{ACCOUNT_ID}:user/ghost",
                                     Operations=["Decrypt"]), "InvalidArnException")
    refused(lambda: kms.create_grant(KeyId=key_arn, GranteePrincipal=bob.arn,
                                     Operations=["Decrypt"], DryRun=True),
            "DryRunOperationException")
    refused(lambda: bob_kms.create_grant(KeyId=key_arn, GranteePrincipal=bob.arn,
                                         Operations=["Decrypt"]), "AccessDeniedException")
    refused(lambda: kms.retire_grant(KeyId=key_arn), "ValidationException")
    refused(lambda: kms.retire_grant(GrantToken="garbage"), "InvalidGrantTokenException")
    refused(lambda: kms.revoke_grant(KeyId=key_arn, GrantId="x"), "InvalidGrantIdException")
    kms.disable_key(KeyId=key_arn)
    refused(lambda: kms.create_grant(KeyId=key_arn, GranteePrincipal=bob.arn,
                                     Operations=["Decrypt"]), "DisabledException")
    assert kms.list_grants(KeyId=key_arn)["Grants"] == []


def test_an_unsigned_grant_request_is_refused(live_server, key_arn, bob):
    anonymous = boto3.client("kms", endpoint_url=live_server.url, region_name=REGION,
                             config=Config(signature_version=UNSIGNED,
                                           retries={"max_attempts": 1, "mode": "standard"}))
    anonymous.meta.events.register(
        "before-send.kms.*", lambda request, **kwargs: request.headers.__setitem__(
            "Connection", "close"))
    checked(anonymous)
    for call in (lambda: anonymous.create_grant(KeyId=key_arn, GranteePrincipal=bob.arn,
                                                Operations=["Decrypt"]),
                 lambda: anonymous.list_grants(KeyId=key_arn)):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "MissingAuthenticationTokenException"
