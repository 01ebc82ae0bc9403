"""Two sweeps at once process each due key exactly once (keys/sweep.py: each key claimed with
SELECT ... FOR UPDATE SKIP LOCKED in its own transaction, due-ness re-checked under the lock).

Two threads, each with its own database connection, start a sweep together over the same due
keys; one walks them in id order, the other in reverse, so they meet in the middle and also
race for the same rows. PostgreSQL only: SQLite has no row locks and refuses a second writer
instead of queueing it (not what this test is about); CI runs on PostgreSQL.
"""

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from audit.chain import chain_verify
from audit.models import AuditEvent
from keys import services, sweep
from keys.models import Key, KeyMaterial
from tests.conftest import caller_for

from .conftest import create_key

ROTATING_KEYS = 40
DELETED_KEYS = 10

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="needs PostgreSQL's row locks (set DATABASE_URL); CI runs it"),
]


def reversed_phase(phase: sweep.Phase) -> sweep.Phase:
    return sweep.Phase(phase.name, lambda now: reversed(list(phase.due_ids(now))),
                       phase.process_one)


def test_two_sweeps_at_once_rotate_and_delete_each_due_key_exactly_once(admin):
    caller = caller_for(admin)
    rotating = [create_key(caller) for _ in range(ROTATING_KEYS)]
    Key.objects.filter(pk__in=[key.pk for key in rotating]).update(
        rotation_enabled=True, rotation_period_days=90, next_rotation_date=timezone.now())
    doomed = [create_key(caller) for _ in range(DELETED_KEYS)]
    for key in doomed:
        services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    Key.objects.filter(pk__in=[key.pk for key in doomed]).update(deletion_date=timezone.now())

    now = timezone.now()
    plans = [sweep.default_phases(), [reversed_phase(phase) for phase in sweep.default_phases()]]
    start = threading.Barrier(len(plans))
    results, failures = [], []

    def run(phases):
        try:
            start.wait()
            results.append(sweep.sweep(now, phases=phases))
        except Exception as error:  # reported below; a thread cannot fail the test itself
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(phases,)) for phases in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert [result.failed for result in results] == [0, 0]
    assert sum(result.phase("rotation").done for result in results) == ROTATING_KEYS
    assert sum(result.phase("deletion").done for result in results) == DELETED_KEYS
    for key in rotating:
        assert list(KeyMaterial.objects.filter(key_id=key.id)
                    .values_list("version", flat=True)) == [1, 2]
        assert Key.objects.get(pk=key.pk).current_version == 2
    assert not Key.objects.filter(pk__in=[key.pk for key in doomed]).exists()
    assert not KeyMaterial.objects.filter(key_id__in=[key.pk for key in doomed]).exists()
    assert AuditEvent.objects.filter(event_name="RotateKey", error_code="").count() \
        == ROTATING_KEYS
    assert AuditEvent.objects.filter(event_name="DeleteKey", error_code="").count() \
        == DELETED_KEYS
    assert not AuditEvent.objects.filter(event_name__in=["RotateKey", "DeleteKey"]) \
        .exclude(error_code="").exists()
    result = chain_verify()
    assert result.ok, result.summary()
