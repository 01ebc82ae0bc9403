"""The database failing under a request (bench/faults.py restarts PostgreSQL under load): the API
answers with an AWS JSON fault that SDKs parse and retry, never Django's HTML 500 page.

The outage is simulated with an execute wrapper on this thread's connection that raises the
driver error Django raises when PostgreSQL is restarting or unreachable (OperationalError), so
the real code paths (authentication, the service, the audit of the failure) all meet it.
"""

import base64
import json

import pytest
from botocore.exceptions import ClientError
from django.db import DatabaseError, OperationalError, connection, connections

from audit.models import AuditEvent
from keys import services
from tests.conftest import caller_for

from .conftest import create_access_key, kms_client
from .helpers import signed_post

CONTENT_TYPE = "application/x-amz-json-1.1"


@pytest.fixture
def credentials(admin):
    return create_access_key(admin)


@pytest.fixture
def key(admin):
    return services.key_create(caller=caller_for(admin))


def failing_statements(error: Exception, *, matching: str = ""):
    """An execute wrapper raising `error` for every statement containing `matching`."""
    def wrapper(execute, sql, params, many, context):
        if matching in sql:
            raise error
        return execute(sql, params, many, context)
    return wrapper


def fault(response, status: int, error_type: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == CONTENT_TYPE
    assert response["x-amzn-RequestId"]
    body = json.loads(response.content)
    assert body["__type"] == error_type
    assert "Traceback" not in body.get("message", "")
    return body


def encrypt_body(key) -> dict:
    return {"KeyId": str(key.id), "Plaintext": base64.b64encode(b"secret").decode()}


def recorded_error(response) -> str:
    event = AuditEvent.objects.get(request_id=response["x-amzn-RequestId"])
    return event.error_code


def test_database_down_during_authentication_is_a_dependency_timeout(client, credentials, key):
    outage = failing_statements(OperationalError("connection refused (simulated outage)"))
    with connection.execute_wrapper(outage):
        response = signed_post(client, "Encrypt", encrypt_body(key), credentials)
    fault(response, 503, "DependencyTimeoutException")
    # Nothing could be written while the database was down.
    assert not AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"]).exists()


def test_database_lost_inside_the_service_is_a_dependency_timeout(client, credentials, key):
    # Authentication succeeds; the connection is lost when the service reads the key.
    outage = failing_statements(OperationalError("terminating connection due to administrator "
                                                 "command (simulated)"), matching="keys_key")
    with connection.execute_wrapper(outage):
        response = signed_post(client, "Encrypt", encrypt_body(key), credentials)
    fault(response, 503, "DependencyTimeoutException")
    # The database answered again in time to audit the failure: the trail says what the
    # caller was told.
    assert recorded_error(response) == "DependencyTimeoutException"


def test_database_down_while_auditing_a_refused_request_is_a_dependency_timeout(client, key):
    # An unknown access key is refused, and the audit of that refusal needs the database.
    outage = failing_statements(OperationalError("connection refused (simulated outage)"))
    with connection.execute_wrapper(outage):
        response = signed_post(client, "Encrypt", encrypt_body(key),
                               ("AKIAUNKNOWNUNKNOWN00", "not-a-secret"))
    fault(response, 503, "DependencyTimeoutException")


def test_other_database_error_is_an_internal_exception(client, credentials, key):
    broken = failing_statements(DatabaseError("relation does not exist (simulated bug)"),
                                matching="keys_key")
    with connection.execute_wrapper(broken):
        response = signed_post(client, "Encrypt", encrypt_body(key), credentials)
    body = fault(response, 500, "KMSInternalException")
    assert body["message"] == "An internal error occurred."
    assert recorded_error(response) == "KMSInternalException"


def test_after_the_outage_the_same_request_succeeds_and_is_audited(client, credentials, key):
    outage = failing_statements(OperationalError("connection refused (simulated outage)"))
    with connection.execute_wrapper(outage):
        fault(signed_post(client, "Encrypt", encrypt_body(key), credentials), 503,
              "DependencyTimeoutException")
    response = signed_post(client, "Encrypt", encrypt_body(key), credentials)
    assert response.status_code == 200
    [event] = AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"])
    assert event.event_name == "Encrypt" and event.error_code == ""


@pytest.mark.django_db(transaction=True)
def test_boto3_sees_a_retryable_dependency_timeout(live_server, credentials, key, monkeypatch):
    """What an SDK gets: a ClientError with the AWS code and HTTP 503 (botocore's standard
    retry mode retries it), not an unparsable page. live_server answers from another thread
    with its own connection, so every new cursor of this process fails, as with PostgreSQL
    down."""
    def refuse(self, name=None):
        raise OperationalError("connection refused (simulated outage)")

    kms = kms_client(live_server, credentials)
    monkeypatch.setattr(type(connections["default"]), "create_cursor", refuse)
    with pytest.raises(ClientError) as raised:
        kms.encrypt(KeyId=str(key.id), Plaintext=b"secret")
    monkeypatch.undo()
    error = raised.value.response
    assert error["Error"]["Code"] == "DependencyTimeoutException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert error["ResponseMetadata"]["RequestId"]
    # Once the database answers again, so does the API.
    assert kms.encrypt(KeyId=str(key.id), Plaintext=b"secret")["KeyId"] == key.arn


@pytest.mark.django_db(transaction=True)
def test_sts_answers_a_database_outage_with_service_unavailable(live_server, credentials,
                                                                monkeypatch):
    """The STS endpoint (same POST /, Query protocol) meets the same outage: an STS error
    document with the Query protocol's transient ServiceUnavailable, not an HTML page."""
    import boto3
    from botocore.config import Config

    def refuse(self, name=None):
        raise OperationalError("connection refused (simulated outage)")

    sts = boto3.client("sts", endpoint_url=live_server.url, region_name="us-east-1",
                       aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1],
                       config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    monkeypatch.setattr(type(connections["default"]), "create_cursor", refuse)
    with pytest.raises(ClientError) as raised:
        sts.get_caller_identity()
    monkeypatch.undo()
    error = raised.value.response
    assert error["Error"]["Code"] == "ServiceUnavailable"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert sts.get_caller_identity()["Account"] == "111122223333"
