"""GET /healthz: is the database reachable, is the broker reachable? 200 if both, else 503."""

import logging
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
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
