"""Health probes for load balancers, Docker and `make run`.

GET /healthz: is the database reachable, is the broker reachable? 200 if both, else 503.
GET /readyz: may this process take traffic? The same two checks, plus: are all migrations applied
(a web process started before `migrate` finished, or a new release on an old schema, would answer
with errors)? 200 if so, else 503 naming what is not ready.
"""

import logging
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from kombu import Connection

log = logging.getLogger(__name__)


def database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means "down"; the detail goes to the log
        log.warning("health: database unreachable: %s", error)
        return "down"
    return "up"


def broker_state() -> str:
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        # The filesystem transport "connects" to anything; what matters is its queue folder.
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        return "up" if os.access(folder, os.W_OK) else "down"
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    except Exception as error:
        log.warning("health: broker unreachable: %s", error)
        return "down"
    return "up"


@login_not_required  # load balancers and `make run` probe it without signing in
@require_GET
def healthz(request):
    state = {"database": database_state(), "broker": broker_state()}
    healthy = all(value == "up" for value in state.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **state},
                        status=200 if healthy else 503)


_migrations_applied = False


def migrations_state() -> str:
    """"applied" once nothing is left to migrate; "pending" while something is.

    Remembered once applied: new migrations arrive only with new code, that is a new process.
    """
    global _migrations_applied
    if _migrations_applied:
        return "applied"
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        log.warning("readiness: migration state unknown: %s", error)
        return "unknown"
    _migrations_applied = not plan
    return "applied" if _migrations_applied else "pending"


@login_not_required  # probed by load balancers and orchestrators without signing in
@require_GET
def readyz(request):
    state = {"database": database_state(), "broker": broker_state()}
    state["migrations"] = migrations_state() if state["database"] == "up" else "unknown"
    ready = (state["database"] == "up" and state["broker"] == "up"
             and state["migrations"] == "applied")
    return JsonResponse({"status": "ready" if ready else "unavailable", **state},
                        status=200 if ready else 503)
