"""GET /metrics (issue 9): Prometheus text that Prometheus's own parser reads, counters that move
with real requests, keys by state from the database, sweep results, who may scrape, and the
multiprocess mode that gunicorn's workers and the Celery worker share."""

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from audit.models import AuditEvent
from keys import services
from keys.models import Key
from kmsconsole.metrics import record_sweep_result
from tests.api.conftest import create_access_key, kms_client
from tests.api.helpers import signed_post
from tests.conftest import caller_for

ROOT = Path(__file__).resolve().parents[2]
MISSING_KEY = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"


def scrape(client, **extra) -> dict:
    """{(sample name, frozenset of labels): value} of one scrape, read by Prometheus's parser."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


def samples(text: str) -> dict:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def family_names(client) -> set[str]:
    text = client.get("/metrics").content.decode()
    return {family.name for family in text_string_to_metric_families(text)}


# --- what it exposes ------------------------------------------------------------------------

@pytest.mark.django_db
def test_metrics_is_prometheus_text_with_every_family_the_operators_need(client):
    record_sweep_result("rotation", 0, 0)  # the sweep families exist once a sweep ran
    client.get("/healthz")
    names = family_names(client)
    assert {"kms_api_requests", "kms_api_request_duration_seconds", "kms_http_requests",
            "kms_http_request_duration_seconds", "kms_sweep_keys",
            "kms_sweep_last_run_timestamp_seconds", "kms_keys", "kms_keys_due",
            "process_cpu_seconds"} <= names


@pytest.mark.django_db(transaction=True)
def test_api_counters_and_latency_move_with_boto3_encrypt_calls(client, live_server, admin):
    kms = kms_client(live_server, create_access_key(admin))
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    before = scrape(client)

    kms.encrypt(KeyId=key_id, Plaintext=b"counted")
    with pytest.raises(ClientError) as refused:
        kms.encrypt(KeyId=MISSING_KEY, Plaintext=b"counted")
    assert refused.value.response["Error"]["Code"] == "NotFoundException"

    after = scrape(client)
    success = {"operation": "Encrypt", "outcome": "success", "error_code": ""}
    not_found = {"operation": "Encrypt", "outcome": "client_error",
                 "error_code": "NotFoundException"}
    assert value(after, "kms_api_requests_total", **success) == (
        value(before, "kms_api_requests_total", **success) + 1)
    assert value(after, "kms_api_requests_total", **not_found) == (
        value(before, "kms_api_requests_total", **not_found) + 1)
    assert value(after, "kms_api_request_duration_seconds_count", operation="Encrypt") == (
        value(before, "kms_api_request_duration_seconds_count", operation="Encrypt") + 2)
    assert value(after, "kms_api_request_duration_seconds_sum", operation="Encrypt") > (
        value(before, "kms_api_request_duration_seconds_sum", operation="Encrypt"))
    both = {"view": "root", "method": "POST", "status": "200"}
    assert value(after, "kms_http_requests_total", **both) >= (
        value(before, "kms_http_requests_total", **both) + 1)


@pytest.mark.django_db
def test_an_invented_operation_is_counted_as_unknown_not_as_a_new_label(client, admin):
    before = scrape(client)
    response = signed_post(client, "MadeUpOperation", {}, create_access_key(admin))
    assert response.status_code == 400
    after = scrape(client)
    unknown = {"operation": "Unknown", "outcome": "client_error",
               "error_code": "UnknownOperationException"}
    assert value(after, "kms_api_requests_total", **unknown) == (
        value(before, "kms_api_requests_total", **unknown) + 1)
    assert not any(dict(labels).get("operation") == "MadeUpOperation" for _, labels in after)


@pytest.mark.django_db
def test_console_requests_are_counted_by_url_name_and_status(client, admin):
    client.force_login(admin)
    before = scrape(client)
    assert client.get("/kms/keys").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    after = scrape(client)
    page = {"view": "keys:customer_managed_keys", "method": "GET", "status": "200"}
    missing = {"view": "unresolved", "method": "GET", "status": "404"}
    assert value(after, "kms_http_requests_total", **page) == (
        value(before, "kms_http_requests_total", **page) + 1)
    assert value(after, "kms_http_requests_total", **missing) == (
        value(before, "kms_http_requests_total", **missing) + 1)


@pytest.mark.django_db
def test_keys_by_state_and_keys_due_are_read_from_the_database_at_scrape_time(client, admin):
    caller = caller_for(admin)
    enabled = services.key_create(caller=caller)
    services.key_create(caller=caller)
    disabled = services.key_create(caller=caller)
    services.key_disable(caller=caller, key_id=str(disabled.id))
    # One key whose rotation date has passed: a sweep that is not running leaves it due.
    Key.objects.filter(pk=enabled.pk).update(
        rotation_enabled=True, rotation_period_days=365,
        next_rotation_date=timezone.now() - datetime.timedelta(hours=1))

    scraped = scrape(client)
    assert value(scraped, "kms_keys", state="Enabled") == 2
    assert value(scraped, "kms_keys", state="Disabled") == 1
    assert value(scraped, "kms_keys", state="PendingDeletion") == 0
    assert value(scraped, "kms_keys_due", phase="rotation") == 1
    assert value(scraped, "kms_keys_due", phase="deletion") == 0


@pytest.mark.django_db
def test_sweep_results_are_counted_by_phase_and_result(client):
    before = scrape(client)
    record_sweep_result("deletion", done=3, failed=1, skipped=2)
    after = scrape(client)
    for result, moved in (("done", 3), ("failed", 1), ("skipped", 2)):
        labels = {"phase": "deletion", "result": result}
        assert value(after, "kms_sweep_keys_total", **labels) == (
            value(before, "kms_sweep_keys_total", **labels) + moved)
    last_run = value(after, "kms_sweep_last_run_timestamp_seconds", phase="deletion")
    assert abs(last_run - timezone.now().timestamp()) < 60


@pytest.mark.django_db
def test_a_scrape_records_no_audit_event(client):
    before = AuditEvent.objects.count()
    scrape(client)
    assert AuditEvent.objects.count() == before


# --- who may scrape -------------------------------------------------------------------------

@pytest.mark.django_db
def test_loopback_may_scrape_without_signing_in_by_default(client, settings):
    assert settings.METRICS_ALLOWED_IPS == ["127.0.0.1", "::1"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


@pytest.mark.django_db
def test_another_address_is_refused_even_when_signed_in(client, admin):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    client.force_login(admin)  # a console session is no scrape permission
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"kms_" not in response.content


@pytest.mark.django_db
def test_an_allowed_network_may_scrape(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "not-an-address"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    # The typo lets nobody in; loopback is no longer listed.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_the_bearer_token_lets_in_from_anywhere_and_a_wrong_one_does_not(client, settings):
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_BEARER_TOKEN = "scrape-token-0123456789"
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.7",
                      HTTP_AUTHORIZATION="Bearer scrape-token-0123456789").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.7",
                      HTTP_AUTHORIZATION="Bearer scrape-token-wrong").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_metrics_answers_get_only(client):
    assert client.post("/metrics").status_code == 405


# --- several processes --------------------------------------------------------------------------

def _run(tmp_path: Path, multiproc: Path, script: str) -> str:
    """`script` in a process of its own (a gunicorn worker, the Celery worker), sharing
    `multiproc` as PROMETHEUS_MULTIPROC_DIR; an empty SQLite database (no tables)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "PROMETHEUS_MULTIPROC_DIR": str(multiproc), "KMS_VAR_DIR": str(tmp_path / "var")}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + script],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_in_multiprocess_mode_a_scrape_adds_up_every_process(tmp_path):
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    web_worker = ("from django.test import Client\n"
                  "assert Client().get('/healthz').status_code == 200\n")
    celery_worker = ("from kmsconsole.metrics import record_sweep_result\n"
                     "record_sweep_result('rotation', done=2, failed=1)\n")
    for script in (web_worker, web_worker, celery_worker):
        _run(tmp_path, multiproc, script)
    scraper = ("import json\n"
               "from django.test import Client\n"
               "r = Client().get('/metrics')\n"
               "print(json.dumps({'status': r.status_code, 'text': r.content.decode()}))\n")
    result = json.loads(_run(tmp_path, multiproc, scraper).strip().splitlines()[-1])
    assert result["status"] == 200
    scraped = samples(result["text"])
    healthz = {"view": "healthz", "method": "GET", "status": "200"}
    assert value(scraped, "kms_http_requests_total", **healthz) == 2
    assert value(scraped, "kms_sweep_keys_total", phase="rotation", result="done") == 2
    assert value(scraped, "kms_sweep_keys_total", phase="rotation", result="failed") == 1
    assert value(scraped, "kms_sweep_last_run_timestamp_seconds", phase="rotation") > 0
    # The database has no tables: the keys are left out, the scrape still answers.
    assert not any(name == "kms_keys" for name, _ in scraped)
