"""Structured logs (issue 9): one JSON object per line, one request id per request end to end
(log lines, audit event, response headers), and no secrets in any line."""

import base64
import io
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from audit.models import AuditEvent
from keys import services
from kmsconsole.logs import JsonFormatter, RequestIdFilter, TextFormatter
from tests.api.conftest import create_access_key
from tests.api.helpers import signed_post
from tests.conftest import caller_for

ROOT = Path(__file__).resolve().parents[2]
PLAINTEXT = b"the launch code is 0000-plaintext-canary"


@pytest.fixture
def json_log():
    """Everything logged during the test (DEBUG and up), through the handler settings build
    when LOG_FORMAT=json: the request id filter and the JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def lines(stream: io.StringIO) -> list[dict]:
    """Every line parsed as JSON (a line that is not JSON fails the test here)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def access_lines(stream: io.StringIO) -> list[dict]:
    return [line for line in lines(stream) if line["logger"] == "kmsconsole.access"]


@pytest.fixture
def credentials(admin):
    return create_access_key(admin)


@pytest.fixture
def key(admin):
    return services.key_create(caller=caller_for(admin))


def encrypt(client, credentials, key_id: str, **kwargs):
    body = {"KeyId": key_id, "Plaintext": base64.b64encode(PLAINTEXT).decode()}
    return signed_post(client, "Encrypt", body, credentials, **kwargs)


# --- one request, one id --------------------------------------------------------------------

@pytest.mark.django_db
def test_an_api_request_logs_json_lines_with_the_id_of_its_response_and_audit_event(
        client, credentials, key, json_log):
    response = encrypt(client, credentials, str(key.id))
    assert response.status_code == 200
    request_id = response["x-amzn-RequestId"]
    assert uuid.UUID(request_id) and response["X-Request-Id"] == request_id
    [access] = access_lines(json_log)
    assert set(access) >= {"time", "level", "logger", "message", "request_id"}
    assert access["time"].endswith("Z") and access["level"] == "INFO"
    assert (access["request_id"], access["method"], access["path"], access["status"],
            access["view"], access["operation"], access["error_code"]) == (
        request_id, "POST", "/", 200, "root", "Encrypt", "")
    assert access["duration_ms"] >= 0
    assert AuditEvent.objects.get(event_name="Encrypt").request_id == request_id


@pytest.mark.django_db
def test_a_refused_api_request_logs_its_error_code(client, credentials, json_log):
    response = encrypt(client, credentials, str(uuid.uuid4()))
    assert response.status_code == 400
    [access] = access_lines(json_log)
    assert (access["status"], access["operation"], access["error_code"]) == (
        400, "Encrypt", "NotFoundException")
    assert access["request_id"] == response["x-amzn-RequestId"]
    # Django's own warning for the 4xx carries the same id (it ran inside the request).
    others = [line for line in lines(json_log) if line["logger"] == "django.request"]
    assert others and all(line["request_id"] == access["request_id"] for line in others)


@pytest.mark.django_db
def test_a_well_formed_x_request_id_from_a_proxy_is_kept_end_to_end(client, credentials, key,
                                                                    json_log):
    proxy_id = "7f3a9c0e2b4d4e6f8a1b3c5d7e9f0a2b"  # nginx's $request_id: 32 hex digits
    response = encrypt(client, credentials, str(key.id), extra_headers={"X-Request-Id": proxy_id})
    assert response.status_code == 200
    assert response["x-amzn-RequestId"] == proxy_id == response["X-Request-Id"]
    assert access_lines(json_log)[0]["request_id"] == proxy_id
    assert AuditEvent.objects.get(event_name="Encrypt").request_id == proxy_id


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["short", "has space in it", "x" * 65,
                                 "forged\n{\"level\":\"INFO\"}", "'; DROP TABLE--"])
def test_a_malformed_x_request_id_is_replaced_by_a_new_uuid(client, bad):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-Id"] != bad
    assert uuid.UUID(response["X-Request-Id"]).version == 4


@pytest.mark.django_db
def test_a_console_action_records_and_logs_the_id_of_its_response(client, admin, key, json_log):
    client.force_login(admin)
    response = client.post(f"/kms/keys/{key.id}/disable")
    assert response.status_code == 302
    request_id = response["X-Request-Id"]
    assert AuditEvent.objects.get(event_name="DisableKey").request_id == request_id
    [access] = access_lines(json_log)
    assert (access["request_id"], access["view"], access["status"]) == (
        request_id, "keys:key_disable", 302)
    assert "operation" not in access


# --- the format -------------------------------------------------------------------------------

def test_a_line_outside_a_request_has_a_null_request_id(json_log):
    logging.getLogger("kmsconsole.test").warning("beat tick %s", 7)
    [line] = lines(json_log)
    assert (line["level"], line["logger"], line["message"], line["request_id"]) == (
        "WARNING", "kmsconsole.test", "beat tick 7", None)


def test_an_exception_is_one_line_with_its_traceback(json_log):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("kmsconsole.test").exception("failed")
    [line] = lines(json_log)
    assert line["message"] == "failed"
    assert "RuntimeError: boom" in line["exception"] and "Traceback" in line["exception"]


def test_only_the_listed_extra_fields_reach_a_line(json_log):
    logging.getLogger("kmsconsole.test").info(
        "with extras", extra={"request": object(), "secret": "hunter2", "status": 200})
    [line] = lines(json_log)
    assert line["status"] == 200
    assert "secret" not in line and "request" not in line
    assert "hunter2" not in json.dumps(line)


def test_the_text_format_names_the_request_id_or_a_dash():
    record = logging.LogRecord("kmsconsole.test", logging.INFO, __file__, 1, "hello", None, None)
    RequestIdFilter().filter(record)
    assert TextFormatter().format(record).endswith(" INFO kmsconsole.test [-] hello")


# --- no secrets ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_no_plaintext_ciphertext_or_signature_reaches_the_logs(client, credentials, key,
                                                              json_log):
    ok = encrypt(client, credentials, str(key.id))
    refused = encrypt(client, credentials, str(uuid.uuid4()))
    unsigned = client.generic("POST", "/", data=json.dumps({"Plaintext": "x"}),
                              content_type="application/x-amz-json-1.1",
                              HTTP_X_AMZ_TARGET="TrentService.Encrypt")
    assert (ok.status_code, refused.status_code, unsigned.status_code) == (200, 400, 400)
    logged = json_log.getvalue()
    assert len(access_lines(json_log)) == 3
    access_key_id, secret = credentials
    ciphertext = json.loads(ok.content)["CiphertextBlob"]
    for secret_text in (PLAINTEXT.decode(), base64.b64encode(PLAINTEXT).decode(), ciphertext,
                        secret, "Signature="):
        assert secret_text not in logged


# --- settings ------------------------------------------------------------------------------------

def _log_from_a_process(**environment) -> str:
    """What a process configured by the project's settings writes for one warning."""
    script = ("import django, logging; django.setup();"
              "logging.getLogger('kmsconsole.test').warning('configured')")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **environment}
    for name in ("LOG_FORMAT", "DJANGO_DEBUG"):
        if name not in environment:
            env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stderr.strip().splitlines()[-1]


def test_log_format_json_makes_the_settings_write_json_lines():
    line = json.loads(_log_from_a_process(LOG_FORMAT="json"))
    assert (line["level"], line["logger"], line["message"], line["request_id"]) == (
        "WARNING", "kmsconsole.test", "configured", None)


def test_development_writes_readable_text_by_default():
    line = _log_from_a_process()
    assert line.endswith(" WARNING kmsconsole.test [-] configured")


def test_production_writes_json_by_default():
    # Production mode (DJANGO_DEBUG=false) starts only with its secrets set.
    line = json.loads(_log_from_a_process(
        DJANGO_DEBUG="false", DJANGO_SECRET_KEY="production-secret-" + "k" * 40,
        DJANGO_ALLOWED_HOSTS="kms.example.com", AUDIT_DIGEST_KEY="digest-" + "d" * 40,
        KMS_ROOT_KEY=base64.b64encode(os.urandom(32)).decode()))
    assert line["message"] == "configured"
