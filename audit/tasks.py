"""Celery tasks of the audit trail, run by beat (CELERY_BEAT_SCHEDULE in settings): sign a
digest every AUDIT_DIGEST_INTERVAL_SECONDS, apply retention daily. Each calls one service and
returns a short summary."""

from celery import shared_task

from .digests import digest_create
from .models import AuditDigest
from .retention import retention_apply


def digest_summary(digest: AuditDigest | None) -> str:
    if digest is None:
        return "No audit events since the previous digest: no digest written."
    return (f"Audit digest signed over events {digest.first_sequence} to "
            f"{digest.last_sequence}.")


@shared_task
def audit_digest() -> str:
    return digest_summary(digest_create())


@shared_task
def audit_retention() -> str:
    return retention_apply().summary()


@shared_task
def audit_alerts_scan() -> str:
    """Run the alert rules over the events recorded since the last scan (audit/alerts.py)."""
    from .alerts import alerts_scan

    return alerts_scan().summary()
