"""GET /metrics: Prometheus text exposition through prometheus_client, the reference client.

What it exposes:
- kms_api_requests_total{operation, outcome, error_code} and
  kms_api_request_duration_seconds{operation}: every KMS API request (POST /), by operation
  ("Unknown" for a target that names none, so a caller cannot invent label values) and outcome
  (success, client_error, server_error) with the AWS error code;
- kms_http_requests_total{view, method, status} and kms_http_request_duration_seconds{view}:
  every HTTP request, console pages included, by URL name ("unresolved" for a 404);
- kms_sweep_keys_total{phase, result} and kms_sweep_last_run_timestamp_seconds{phase}: what
  the scheduled sweeps did (keys/tasks.py calls `record_sweep_result`);
- kms_keys{state} and kms_keys_due{phase}: computed at scrape time from the database (one
  GROUP BY and two counts), so they are right whichever process changed the keys; keys still due
  long after a sweep interval mean that beat or the worker is not running.

Several processes (gunicorn workers, the Celery worker): each counts in its own memory unless
PROMETHEUS_MULTIPROC_DIR names a directory they all share, where prometheus_client keeps the
values in files that any process's /metrics adds up (docs/observability.md). There is no live
gauge (one that must vanish with its process), so gunicorn needs no child_exit hook: a dead
worker's counts stay in the sums, as counters must.

Access: the metrics say how many keys there are and who gets which errors, so /metrics is not
public. A request is let in from METRICS_ALLOWED_IPS (addresses or networks, loopback by
default) or with `Authorization: Bearer <METRICS_BEARER_TOKEN>` when a token is set.
"""

import hmac
import ipaddress
import logging
import os
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from keys.models import KEY_STATES, Key
from keys.sweep import deletion_due, rotation_due

log = logging.getLogger(__name__)

API_REQUESTS = Counter(
    "kms_api_requests", "KMS API requests by operation and outcome.",
    ["operation", "outcome", "error_code"])
API_DURATION = Histogram(
    "kms_api_request_duration_seconds", "Time to answer a KMS API request.", ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
HTTP_REQUESTS = Counter(
    "kms_http_requests", "HTTP requests (console and API) by URL name, method and status.",
    ["view", "method", "status"])
HTTP_DURATION = Histogram(
    "kms_http_request_duration_seconds", "Time to answer an HTTP request.", ["view"])
SWEEP_KEYS = Counter(
    "kms_sweep_keys", "Keys processed by scheduled sweeps, by phase and result.",
    ["phase", "result"])
# "max" across processes: the most recent run of any worker.
SWEEP_LAST_RUN = Gauge(
    "kms_sweep_last_run_timestamp_seconds", "When a sweep phase last ran (Unix time).",
    ["phase"], multiprocess_mode="max")

# Methods a client may send are unbounded; labels must not be (each value is a new series).
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def outcome_of(status: int) -> str:
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "success"


def record_sweep_result(phase: str, done: int, failed: int, skipped: int = 0) -> None:
    """Count one sweep phase's keys (called by the Celery task after each sweep)."""
    for result, count in (("done", done), ("failed", failed), ("skipped", skipped)):
        # inc(0) still creates the series, so a rate() over it exists from the first sweep.
        SWEEP_KEYS.labels(phase, result).inc(count)
    SWEEP_LAST_RUN.labels(phase).set(time.time())


class MetricsMiddleware:
    """Counts and times every request (see the module docstring); place it right after
    RequestIdMiddleware so the time includes every other middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match else "unresolved"
        method = request.method if request.method in KNOWN_METHODS else "other"
        HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
        HTTP_DURATION.labels(view).observe(seconds)
        # Set by the KMS API view (api/views.py) to an operation it knows or "Unknown".
        operation = getattr(request, "kms_operation", "")
        if operation:
            API_REQUESTS.labels(operation, outcome_of(response.status_code),
                                getattr(response, "kms_error_code", "")).inc()
            API_DURATION.labels(operation).observe(seconds)
        return response


# --- scrape -------------------------------------------------------------------------------------

def database_metrics():
    """Keys by state and keys due per sweep phase, read at scrape time. A database that does not
    answer leaves them out (and is logged) rather than failing the whole scrape: the process
    metrics are most wanted exactly then."""
    try:
        by_state = dict(Key.objects.order_by().values_list("key_state")
                        .annotate(count=Count("id")))
        now = timezone.now()
        due = {"rotation": Key.objects.filter(rotation_due(now)).count(),
               "deletion": Key.objects.filter(deletion_due(now)).count()}
    except DatabaseError as error:
        log.warning("metrics: keys not counted, database error: %s", error)
        return []
    keys = GaugeMetricFamily("kms_keys", "KMS keys by key state.", labels=["state"])
    for state in KEY_STATES:
        keys.add_metric([state], by_state.get(state, 0))
    due_family = GaugeMetricFamily(
        "kms_keys_due", "Keys a sweep phase should process now (a backlog that stays says the "
        "sweep is not running).", labels=["phase"])
    for phase, count in due.items():
        due_family.add_metric([phase], count)
    return [keys, due_family]


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _Scrape:
    """What one scrape collects: this process's metrics (or, in multiprocess mode, all
    processes' from the shared directory) and the database's."""

    def __init__(self, source):
        self.source = source

    def collect(self):
        yield from self.source.collect()
        yield from database_metrics()


def exposition() -> bytes:
    if multiprocess_dir():
        source = CollectorRegistry()
        MultiProcessCollector(source)
    else:
        source = REGISTRY
    return generate_latest(_Scrape(source))


def scrape_allowed(request) -> bool:
    """Threat: anyone who reaches the server reading its key counts and error rates."""
    token = settings.METRICS_BEARER_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "")
        if hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in allowed_networks())


def allowed_networks() -> list:
    """METRICS_ALLOWED_IPS as networks; an entry that is neither an address nor a network is
    logged and lets nobody in (a typo must not open /metrics, nor break it for the others)."""
    networks = []
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.error("metrics: METRICS_ALLOWED_IPS entry %r is not an address or network", entry)
    return networks


@login_not_required  # Prometheus has no console session; scrape_allowed() decides instead
@require_GET
def metrics_view(request):
    if not scrape_allowed(request):
        return HttpResponseForbidden("Metrics are not available to this client.\n",
                                     content_type="text/plain")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
