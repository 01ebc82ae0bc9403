"""Audit retention (audit/retention.py): old events are exported, checkpointed and deleted,
and the chain that remains still verifies."""

import datetime
import gzip
import hashlib
import io
import json
import time

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit import chain, retention
from audit.chain import DELETED, GENESIS_HASH, canonical_form, chain_verify
from audit.digests import digest_create
from audit.models import AuditCheckpoint, AuditEvent
from audit.retention import retention_apply
from audit.tasks import audit_digest, audit_retention
from keys import services

from .conftest import create_key

pytestmark = pytest.mark.django_db

DAYS = 30


@pytest.fixture
def aged(caller):
    """Six events that will be old (sequences 1-6) and two young ones (7-8); `now` is the
    moment that makes exactly the first six older than DAYS."""
    key = create_key(caller)
    for _ in range(3):
        services.key_describe(caller=caller, key_id=str(key.id))
    services.key_list(caller=caller)
    time.sleep(0.002)
    boundary = timezone.now()
    time.sleep(0.002)
    services.key_list(caller=caller)
    services.key_list(caller=caller)
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in events] == list(range(1, 9))
    assert all(e.event_time < boundary for e in events[:6])
    return {"events": events, "now": boundary + datetime.timedelta(days=DAYS)}


def apply(aged, tmp_path, **kwargs):
    return retention_apply(now=aged["now"], retention_days=DAYS, export_dir=tmp_path, **kwargs)


def exported_lines(path):
    with gzip.open(path, "rt") as lines:
        return [json.loads(line) for line in lines]


def expected_line(event):
    record = event.as_record()
    record["kmsconsoleChain"] = {"sequence": event.sequence, "prevHash": event.prev_hash,
                                 "hash": event.hash, "canonical": canonical_form(event)}
    return record


def test_old_events_are_exported_checkpointed_and_deleted_and_the_chain_still_verifies(
        aged, tmp_path):
    result = apply(aged, tmp_path, batch_size=4)
    assert result.events_deleted == 6 and not result.refused
    assert result.files == ["audit-000000000001-000000000004.jsonl.gz",
                            "audit-000000000005-000000000006.jsonl.gz"]
    old = aged["events"][:6]
    checkpoints = list(AuditCheckpoint.objects.order_by("sequence"))
    assert [(c.sequence, c.hash, c.event_count, c.export_file) for c in checkpoints] == [
        (4, old[3].hash, 4, result.files[0]), (6, old[5].hash, 2, result.files[1])]
    for checkpoint, events in zip(checkpoints, (old[:4], old[4:]), strict=True):
        path = tmp_path / checkpoint.export_file
        assert hashlib.sha256(path.read_bytes()).hexdigest() == checkpoint.export_sha256
        assert exported_lines(path) == [expected_line(e) for e in events]
    assert not AuditEvent.objects.filter(sequence__lte=6).exists()
    assert AuditEvent.objects.filter(sequence__in=[7, 8]).count() == 2
    verified = chain_verify()
    assert verified.ok and verified.start == "the checkpoint after 6"


def test_each_batch_is_recorded_as_a_retention_service_event(aged, tmp_path, account):
    result = apply(aged, tmp_path, batch_size=4)
    events = list(AuditEvent.objects.filter(event_name="AuditRetention").order_by("sequence"))
    assert len(events) == 2
    first = events[0]
    assert (first.event_type, first.event_source, first.read_only) == (
        "AwsServiceEvent", "cloudtrail.amazonaws.com", False)
    assert first.recipient_account_id == account.id
    assert first.user_identity == {"accountId": account.id, "invokedBy": "AWS Internal"}
    checkpoint = AuditCheckpoint.objects.get(sequence=4)
    assert first.service_event_details == {"auditRetention": {
        "exportFile": result.files[0], "exportSha256": checkpoint.export_sha256,
        "eventsDeleted": 4, "accountEventsDeleted": 4, "firstSequence": 1, "lastSequence": 4,
        "lastHash": checkpoint.hash}}


def test_the_newest_event_and_younger_events_are_never_deleted(aged, tmp_path):
    result = retention_apply(now=aged["now"] + datetime.timedelta(days=365),
                             retention_days=DAYS, export_dir=tmp_path)
    assert result.events_deleted == 7
    assert list(AuditEvent.objects.filter(sequence__lte=8).values_list("sequence", flat=True)) \
        == [8]
    assert chain_verify().ok


def test_an_interrupted_run_leaves_whole_batches_and_a_rerun_finishes(aged, tmp_path,
                                                                      monkeypatch):
    real_export = retention._export
    calls = []

    def export_then_crash(events, path):
        calls.append(path.name)
        sha256 = real_export(events, path)
        if len(calls) == 2:
            raise RuntimeError("the worker was killed")
        return sha256

    monkeypatch.setattr(retention, "_export", export_then_crash)
    with pytest.raises(RuntimeError):
        apply(aged, tmp_path, batch_size=2)
    # The first batch is checkpointed and gone; the second was rolled back (its file stayed).
    assert list(AuditCheckpoint.objects.values_list("sequence", flat=True)) == [2]
    assert list(AuditEvent.objects.filter(sequence__lte=6)
                .values_list("sequence", flat=True).order_by("sequence")) == [3, 4, 5, 6]
    assert chain_verify().ok
    orphan = (tmp_path / calls[1]).read_bytes()

    monkeypatch.setattr(retention, "_export", real_export)
    result = apply(aged, tmp_path, batch_size=2)
    assert result.events_deleted == 4
    assert sorted(AuditCheckpoint.objects.values_list("sequence", flat=True)) == [2, 4, 6]
    # The batch written again is the same file, byte for byte.
    assert (tmp_path / calls[1]).read_bytes() == orphan
    assert chain_verify().ok


def test_a_verification_overtaken_by_retention_walks_again_from_the_new_checkpoint(
        aged, tmp_path, monkeypatch):
    apply(aged, tmp_path, batch_size=4)
    real_starting_point = chain._starting_point
    starts = []

    def stale_then_real(from_sequence):
        # The first walk read "no checkpoint yet" just before retention committed its batch.
        starts.append(from_sequence)
        if len(starts) == 1:
            return 0, GENESIS_HASH, "the beginning of the chain"
        return real_starting_point(from_sequence)

    monkeypatch.setattr(chain, "_starting_point", stale_then_real)
    result = chain_verify()
    assert len(starts) == 2
    assert result.ok and result.start == "the checkpoint after 6"


def test_a_tampered_batch_is_not_deleted(aged, tmp_path):
    AuditEvent.objects.filter(sequence=2).update(user_agent="forged")
    result = apply(aged, tmp_path)
    assert result.events_deleted == 0
    assert "sequence 2" in result.refused
    assert AuditEvent.objects.filter(sequence__lte=6).count() == 6
    assert not AuditCheckpoint.objects.exists()


def test_a_checkpoint_forged_to_hide_deleted_events_is_detected(aged):
    events = aged["events"]
    AuditEvent.objects.filter(sequence__lte=2).delete()
    AuditCheckpoint.objects.create(created_at=timezone.now(), sequence=2, hash=events[1].hash,
                                   event_count=2, export_file="none", export_sha256="0" * 64)
    result = chain_verify()
    assert (result.broken.sequence, result.broken.reason) == (2, DELETED)


def test_digests_still_verify_after_retention(aged, tmp_path):
    digest_create()
    apply(aged, tmp_path, batch_size=4)
    digest_create()
    result = chain_verify()
    assert result.ok and result.digests_checked == 2


def test_retention_zero_keeps_everything(aged, tmp_path):
    result = retention_apply(now=aged["now"], retention_days=0, export_dir=tmp_path)
    assert result.cutoff is None and result.events_deleted == 0
    assert AuditEvent.objects.count() == 8


def unchained_event(days_old: int) -> AuditEvent:
    """An event written before the chain existed (sequence NULL)."""
    return AuditEvent.objects.create(
        event_time=timezone.now() - datetime.timedelta(days=days_old), event_name="Encrypt",
        aws_region="us-east-1", recipient_account_id="111122223333", user_identity={},
        read_only=True, source="api")


def test_old_events_from_before_the_chain_are_exported_and_deleted_too(caller, tmp_path,
                                                                      settings):
    settings.AUDIT_EXPORT_DIR = tmp_path
    settings.AUDIT_RETENTION_DAYS = DAYS
    old, young = unchained_event(DAYS + 1), unchained_event(DAYS - 1)
    services.key_list(caller=caller)
    summary = audit_retention()
    assert "1 event(s) exported to 1 file(s)" in summary
    name = f"audit-unchained-{old.id:012d}-{old.id:012d}.jsonl.gz"
    assert exported_lines(tmp_path / name) == [old.as_record()]
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=young.pk).exists()
    recorded = AuditEvent.objects.get(event_name="AuditRetention")
    assert recorded.service_event_details["auditRetention"]["exportFile"] == name
    assert chain_verify().ok


def test_the_audit_retention_command_runs_it_now(tmp_path, settings):
    settings.AUDIT_EXPORT_DIR = tmp_path
    unchained_event(400)
    out = io.StringIO()
    call_command("audit_retention", stdout=out)
    assert "Audit retention (365 days" in out.getvalue()
    assert "1 event(s) exported" in out.getvalue()


def test_the_audit_retention_command_fails_when_it_refuses(aged, tmp_path, settings):
    settings.AUDIT_EXPORT_DIR = tmp_path
    settings.AUDIT_RETENTION_DAYS = 1
    AuditEvent.objects.filter(sequence=1).update(event_time=aged["events"][0].event_time
                                                 - datetime.timedelta(days=2))
    with pytest.raises(CommandError, match="does not verify at sequence 1"):
        call_command("audit_retention")


def test_the_digest_task_and_command_sign_new_events_once(aged):
    assert audit_digest() == "Audit digest signed over events 1 to 8."
    out = io.StringIO()
    call_command("audit_digest", stdout=out)
    assert "no digest written" in out.getvalue()
