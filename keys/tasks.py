"""Celery tasks of keys, run by beat (CELERY_BEAT_SCHEDULE in settings): the scheduled sweep
every KMS_SWEEP_INTERVAL_SECONDS. Each calls one service and returns a short summary."""

from celery import shared_task

from kmsconsole.metrics import record_sweep_result

from .sweep import sweep


@shared_task
def kms_sweep() -> str:
    """Rotate the keys that are due, delete those whose waiting period ended and expire
    imported material past its ValidTo (keys/sweep.py); count each phase for /metrics."""
    result = sweep()
    for phase in result.phases:
        record_sweep_result(phase.name, phase.done, phase.failed, phase.skipped)
    return result.summary()
