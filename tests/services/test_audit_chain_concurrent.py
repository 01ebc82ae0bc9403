"""Concurrent writers leave one linear chain (audit/chain.py, chain_append).

8 threads, each with its own database connection, each making 25 real service calls that
record events, starting together. The chain must then verify, have no gaps and hold all 200.
The head row does not exist when they start, so the first appenders also race to create it.
PostgreSQL only: SQLite serialises every writer on its database lock and refuses a second
writer instead of queueing it (not what this test is about); CI runs on PostgreSQL.
"""

import threading

import pytest
from django.db import connection, connections

from audit.chain import chain_verify
from audit.models import AuditChainHead, AuditEvent
from keys import services
from tests.conftest import caller_for

from .conftest import create_key

WRITERS = 8
CALLS_PER_WRITER = 25

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="needs PostgreSQL's row locks (set DATABASE_URL); CI runs it"),
]


def test_eight_concurrent_writers_leave_a_chain_that_verifies(admin):
    key = create_key(caller_for(admin))
    before = AuditEvent.objects.count()
    AuditChainHead.objects.all().delete()  # the first appenders race to create it again
    start = threading.Barrier(WRITERS)
    failures = []

    def writer():
        try:
            caller = caller_for(admin)
            start.wait()
            for _ in range(CALLS_PER_WRITER):
                services.key_describe(caller=caller, key_id=str(key.id))
        except Exception as error:  # reported below; a thread cannot fail the test itself
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert AuditEvent.objects.count() - before == WRITERS * CALLS_PER_WRITER
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1))
    result = chain_verify()
    assert result.ok, result.summary()
    assert result.events_checked == before + WRITERS * CALLS_PER_WRITER
