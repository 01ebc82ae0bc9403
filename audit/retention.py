"""Audit retention: export events older than AUDIT_RETENTION_DAYS to files, then delete them.

Oldest first, in batches of AUDIT_RETENTION_BATCH_SIZE, each in one transaction: the batch is
checked against the chain, written to a gzipped JSON Lines file under AUDIT_EXPORT_DIR (one
CloudTrail record per line, plus its place in the chain), flushed to disk (fsync) and hashed,
then an AuditCheckpoint (the last deleted event's sequence and hash, the file, its SHA-256) is
written, the events are deleted and the retention is recorded. An interruption therefore leaves
either a whole checkpointed batch or nothing (at most a file no checkpoint names, which the
next run writes again, byte for byte), and the remaining chain verifies from the checkpoint.

Never deleted: the newest event (the chain always ends at a stored event) and anything after
the first event younger than the cutoff (the chain is cut only at its start). A batch whose
chain does not verify is not deleted: deleting it would also delete the evidence.

Events written before the chain existed (sequence NULL) are exported and deleted the same way,
first, without a checkpoint: they are not part of the chain.
"""

import datetime
import gzip
import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from grants.principals import Caller

from .chain import GENESIS_HASH, RETENTION_EVENT, ChainWalk, canonical_form
from .models import AuditChainHead, AuditCheckpoint, AuditDigest, AuditEvent
from .recording import operation

log = logging.getLogger(__name__)

CLOUDTRAIL = "cloudtrail.amazonaws.com"
# The event's name, RETENTION_EVENT ("AuditRetention"): no AWS event fits, since CloudTrail
# never deletes events itself (S3 lifecycle rules expire log files without a CloudTrail event);
# the name says what happened, from CloudTrail's side.


@dataclass
class RetentionResult:
    """What one retention run did, for the task's and the command's summary."""

    retention_days: int
    cutoff: datetime.datetime | None = None
    events_deleted: int = 0
    files: list[str] = field(default_factory=list)
    # Why the run stopped before a batch it should have deleted ("" when it finished).
    refused: str = ""

    def summary(self) -> str:
        if self.cutoff is None:
            return "Audit retention is off (AUDIT_RETENTION_DAYS=0): nothing deleted."
        done = (f"Audit retention ({self.retention_days} days, events before "
                f"{self.cutoff:%Y-%m-%dT%H:%M:%SZ}): {self.events_deleted} event(s) exported "
                f"to {len(self.files)} file(s) and deleted")
        if self.files:
            done += f" ({', '.join(self.files)})"
        if self.refused:
            return f"{done}; stopped: {self.refused}"
        return f"{done}."


def retention_apply(*, now: datetime.datetime | None = None, retention_days: int | None = None,
                    batch_size: int | None = None,
                    export_dir: Path | None = None) -> RetentionResult:
    """Export and delete the events older than the retention period, oldest first.

    An operator's scheduled work, like account_reset: there is no principal to authorize; each
    batch is recorded as one AuditRetention service event per account whose events it deleted
    (each account's trail shows what left it and where it went).
    """
    days = settings.AUDIT_RETENTION_DAYS if retention_days is None else retention_days
    result = RetentionResult(retention_days=days)
    if days <= 0:
        return result
    result.cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    batch_size = batch_size or settings.AUDIT_RETENTION_BATCH_SIZE
    export_dir = Path(export_dir or settings.AUDIT_EXPORT_DIR)
    export_dir.mkdir(parents=True, exist_ok=True)
    while not result.refused and _retain_unchained_batch(result, batch_size, export_dir):
        pass
    # The newest event when the run starts stays, and so does everything appended during the
    # run (its own AuditRetention events among them).
    newest = AuditChainHead.objects.filter(pk=1).values_list("sequence", flat=True).first() or 0
    while not result.refused and _retain_chained_batch(result, batch_size, export_dir, newest):
        pass
    if result.refused:
        log.error("audit retention stopped: %s", result.refused)
    return result


def _retain_unchained_batch(result: RetentionResult, batch_size: int, export_dir: Path) -> bool:
    """One batch of the events written before the chain existed; False when none is left."""
    with transaction.atomic():
        events = list(AuditEvent.objects.filter(sequence__isnull=True,
                                                event_time__lt=result.cutoff)
                      .order_by("id")[:batch_size])
        if not events:
            return False
        name = f"audit-unchained-{events[0].id:012d}-{events[-1].id:012d}.jsonl.gz"
        sha256 = _export(events, export_dir / name)
        AuditEvent.objects.filter(id__in=[event.id for event in events]).delete()
        _record(events, {"exportFile": name, "exportSha256": sha256,
                         "eventsDeleted": len(events)})
    _done(result, events, name)
    return True


def _retain_chained_batch(result: RetentionResult, batch_size: int, export_dir: Path,
                          newest: int) -> bool:
    """The next batch at the start of the chain, before `newest`; False when nothing (more)
    may go."""
    try:
        with transaction.atomic():
            return _retain_chained_batch_in_transaction(result, batch_size, export_dir, newest)
    except IntegrityError:
        # Another run checkpointed this batch at the same moment (unique checkpoint sequence).
        result.refused = "another retention run deleted the same events; it carries on."
        return False


def _retain_chained_batch_in_transaction(result: RetentionResult, batch_size: int,
                                         export_dir: Path, newest: int) -> bool:
    checkpoint = AuditCheckpoint.objects.order_by("-sequence").first()
    after, prev_hash = (checkpoint.sequence, checkpoint.hash) if checkpoint else (0, GENESIS_HASH)
    candidates = (AuditEvent.objects.filter(sequence__gt=after, sequence__lt=newest)
                  .order_by("sequence")[:batch_size])
    events = list(takewhile(lambda event: event.event_time < result.cutoff, candidates))
    if not events:
        return False
    broken = _chain_break(events, after=after, prev_hash=prev_hash)
    if broken:
        result.refused = (f"the chain does not verify at sequence {broken.sequence} "
                          f"({broken.reason}); run `manage.py audit_verify`.")
        return False
    first, last = events[0].sequence, events[-1].sequence
    name = f"audit-{first:012d}-{last:012d}.jsonl.gz"
    sha256 = _export(events, export_dir / name)
    AuditCheckpoint.objects.create(created_at=timezone.now(), sequence=last, hash=events[-1].hash,
                                   event_count=len(events), export_file=name,
                                   export_sha256=sha256)
    AuditEvent.objects.filter(sequence__gt=after, sequence__lte=last).delete()
    _record(events, {"exportFile": name, "exportSha256": sha256, "eventsDeleted": len(events),
                     "firstSequence": first, "lastSequence": last, "lastHash": events[-1].hash})
    _done(result, events, name)
    return True


def _chain_break(events: list[AuditEvent], *, after: int, prev_hash: str):
    """The first break in this batch (hashes, links, digests), or None."""
    last = events[-1].sequence
    digest_hashes = dict(AuditDigest.objects.filter(last_sequence__gt=after,
                                                    last_sequence__lte=last)
                         .values_list("last_sequence", "last_hash"))
    walk = ChainWalk(after=after, prev_hash=prev_hash, digest_hashes=digest_hashes)
    for event in events:
        broken = walk.check(event)
        if broken:
            return broken
    return None


def export_line(event: AuditEvent) -> str:
    """One line of an export file: the CloudTrail record, plus (for chained events) its place
    in the chain and its canonical form, so the file can still be checked against the chain
    after the events left the database: sha256(prevHash + canonical) == hash."""
    record = event.as_record()
    if event.sequence is not None:
        record["kmsconsoleChain"] = {"sequence": event.sequence, "prevHash": event.prev_hash,
                                     "hash": event.hash, "canonical": canonical_form(event)}
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def _export(events: list[AuditEvent], path: Path) -> str:
    """Write the export file durably and return its SHA-256 (of the bytes on disk).

    Written under a temporary name and renamed, so a file with the final name is always
    complete; fsync'ed (file and folder) before the events are deleted. gzip without a time
    stamp, so a batch written again is the same file."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed:
            for event in events:
                compressed.write(export_line(event).encode())
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    with open(path, "rb") as written:
        return hashlib.file_digest(written, "sha256").hexdigest()


def _record(events: list[AuditEvent], details: dict) -> None:
    """One AuditRetention service event per account whose events the batch deleted (events
    refused before authentication belong to no account, and so does their record)."""
    per_account = Counter(event.recipient_account_id for event in events)
    for account_id, count in sorted(per_account.items()):
        caller = Caller.scheduler(account_id=account_id, region=settings.KMS_DEFAULT_REGION)
        with operation(caller, RETENTION_EVENT, read_only=False,
                       event_source=CLOUDTRAIL) as op:
            op.service_event_details = {"auditRetention": {
                **details, "accountEventsDeleted": count}}


def _done(result: RetentionResult, events: list[AuditEvent], name: str) -> None:
    result.events_deleted += len(events)
    result.files.append(name)
    log.info("audit retention: %d event(s) exported to %s and deleted", len(events), name)
