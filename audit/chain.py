"""The audit trail's hash chain: canonical form, hashes, appending, verification.

Every event gets a gapless `sequence`, the previous event's hash (`prev_hash`) and its own
`hash = sha256(prev_hash + canonical form)`. Editing any stored field of an event changes its
canonical form, so its hash no longer matches; deleting an event leaves a gap in the sequence;
moving or inserting an event breaks the prev_hash link. Somebody who can write to the database
and knows this code can recompute a consistent chain, so signed digests (audit/digests.py) pin
the chain head at intervals with a key the database does not hold.

Events written before the chain existed have sequence NULL and are not part of it. After
retention (audit/retention.py) deleted the oldest events, the chain starts at the newest
AuditCheckpoint, which holds the last deleted event's sequence and hash. An account reset
(keys/reset.py) removes that account's events from anywhere in the chain: each leaves an
AuditRedaction (sequence, prev_hash, hash; no content) that verification steps over, vouched for
by the reset's own ResetAccount event, which records a SHA-256 over its redactions.
"""

import datetime
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction

from .digests import DigestChain
from .models import AuditChainHead, AuditCheckpoint, AuditDigest, AuditEvent, AuditRedaction

# The hash an event's prev_hash holds when it is the very first of the chain.
GENESIS_HASH = ""

# Every stored field of AuditEvent except `id` (a database detail that retention's exports do
# not keep) and `hash` (the result). Spelled out rather than read from the model: a field added
# later would otherwise join the canonical form of old events too and make every one of them
# fail verification. test_audit_chain checks that this list and the model agree, so adding a
# field means deciding how it enters the chain (for example only for events written after it).
CANONICAL_FIELDS = (
    "event_id", "event_time", "event_version", "event_source", "event_name", "event_type",
    "aws_region", "recipient_account_id", "user_identity", "principal_arn", "access_key_id",
    "source_ip_address", "user_agent", "request_parameters", "response_elements",
    "additional_event_data", "service_event_details", "error_code", "error_message",
    "request_id", "read_only", "resources", "key_id", "source", "user_name", "search_text",
    "sequence", "prev_hash",
)
JSON_FIELDS = {"user_identity", "request_parameters", "response_elements",
               "additional_event_data", "service_event_details", "resources"}

# Why verification stops, worst news first in each event's checks.
EDITED = "hash mismatch (edited)"
DELETED = "sequence gap (deleted)"
RELINKED = "prev_hash does not match the previous event (reordered or inserted)"
REDACTION_FORGED = "redactions not recorded by an account reset (deleted)"
DIGEST_FORGED = "digest signature invalid"
DIGEST_MISMATCH = "digest does not match the chain"

VERIFY_CHUNK_SIZE = 2000

# The service event retention records for each batch it deletes (audit/retention.py); it names
# the batch's checkpoint, and being in the chain it is what vouches for that checkpoint.
RETENTION_EVENT = "AuditRetention"


# --- canonical form and hash ---------------------------------------------------------------

def canonical_form(event: AuditEvent) -> str:
    """The event as one stable string: the same whether computed before the INSERT or from the
    row read back from SQLite or PostgreSQL, so the hash can be checked at any later time."""
    values = {}
    for name in CANONICAL_FIELDS:
        value = getattr(event, name)
        if name == "event_time":
            value = event_time_text(value)
        elif name == "event_id":
            value = str(value)
        elif name in JSON_FIELDS:
            value = _stored_json(value)
        values[name] = value
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def event_time_text(moment: datetime.datetime) -> str:
    """ISO 8601 in UTC with microseconds: both databases keep microseconds."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stored_json(value):
    """A JSON field's value as the database gives it back. Django stores json.dumps(value):
    tuples come back as lists and non-string keys as strings (spelled as json spells them).
    PostgreSQL's jsonb then forgets key order (sort_keys covers that) and keeps numbers as
    decimals: a float 1e16 is written "1e+16" and read back as the integer 10000000000000000,
    while 2.0 stays 2.0. So every integral number becomes an exact int, and other floats stay
    floats (their shortest repr survives jsonb unchanged). Values read back from either
    database come out of this unchanged but for those numbers."""
    if isinstance(value, dict):
        return {_json_key(key): _stored_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_stored_json(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(Decimal(repr(value)))  # 1e+16 -> 10**16 exactly, as jsonb reads it
    return value


def _json_key(key) -> str:
    """A dict key as json.dumps writes it."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    return repr(key)  # int and float keys, as json's encoder spells them


def event_hash(prev_hash: str, canonical: str) -> str:
    """SHA-256 over the previous event's hash and this event's canonical form, in hex."""
    return hashlib.sha256((prev_hash + canonical).encode("ascii")).hexdigest()


def expected_hash(event: AuditEvent) -> str:
    return event_hash(event.prev_hash, canonical_form(event))


# --- appending -------------------------------------------------------------------------------

_HEAD = AuditChainHead._meta.db_table
# Locks the head row and reads it in one statement (the sequence is incremented by the database
# itself). The hash lives in this row, not only in the newest event, on purpose: after waiting
# for the lock, PostgreSQL returns the newest committed version of the locked row, whereas any
# other table read by the same statement would still see the statement's older snapshot.
ADVANCE_HEAD = (f"UPDATE {_HEAD} SET sequence = sequence + 1 WHERE id = 1 "
                "RETURNING sequence, hash")
SET_HEAD_HASH = f"UPDATE {_HEAD} SET hash = %s WHERE id = 1"


def chain_append(event: AuditEvent) -> None:
    """Give `event` the next sequence, link it to the previous event and insert it.

    Runs in the caller's transaction (record() is called at the end of the service's one), and
    costs two statements besides the INSERT: lock-and-advance the head, then store the new hash.

    Why the chain stays linear with concurrent writers: ADVANCE_HEAD takes the head row's lock
    and holds it until the writing transaction commits, so appenders run one after another from
    that statement to COMMIT; each reads the sequence and hash its predecessor committed. On
    SQLite the database-wide write lock serialises the same way. Should the locking ever fail,
    the unique index on sequence still refuses a fork instead of storing it.
    What it costs: appends no longer run in parallel. The lock is taken only when the event is
    written, after the service did its work, so it covers the INSERT, one UPDATE and the COMMIT;
    but the COMMIT waits for the WAL flush, so audited transactions commit one at a time and
    can no longer share a flush: the audited write rate is capped at about one per commit
    latency (bench/README.md, "Audit chain append": -53% to -79% with 8 writers, +0.3-0.5 ms
    with one). A service that nests operations in one outer transaction keeps the lock until
    that outer transaction ends.
    """
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(ADVANCE_HEAD)
        row = cursor.fetchone()
        if row is None:
            _create_head()
            cursor.execute(ADVANCE_HEAD)
            row = cursor.fetchone()
        event.sequence, event.prev_hash = row[0], row[1]
        event.hash = expected_hash(event)
        event.save(force_insert=True)
        cursor.execute(SET_HEAD_HASH, [event.hash])


def _create_head() -> None:
    """The head row does not exist before the first append. INSERT ... ON CONFLICT DO NOTHING
    (INSERT OR IGNORE on SQLite) lets two first writers race safely: one inserts, the other
    waits for it and inserts nothing, and both then lock the one row. A head lost with events
    still stored (deleted by hand) restarts at the newest event, so appends keep working and
    the chain stays checkable, instead of every request failing on the unique sequence."""
    newest = (AuditEvent.objects.filter(sequence__isnull=False).order_by("-sequence")
              .values_list("sequence", "hash").first())
    sequence, hash_ = newest or (0, GENESIS_HASH)
    AuditChainHead.objects.bulk_create([AuditChainHead(id=1, sequence=sequence, hash=hash_)],
                                       ignore_conflicts=True)


# --- account resets: removing events from the middle of the chain --------------------------

RESET_EVENT = "ResetAccount"


def redaction_digest(rows) -> str:
    """SHA-256 over the redactions of one reset, (sequence, prev_hash, hash) in sequence order."""
    digest = hashlib.sha256()
    for sequence, prev_hash, hash_ in rows:
        digest.update(f"{sequence}:{prev_hash}:{hash_}\n".encode("ascii"))
    return digest.hexdigest()


def redact_events(events, *, request_id: str) -> dict:
    """Record a redaction for each chained event of `events` (a QuerySet the caller deletes
    next, in the same transaction) and return what the reset's ResetAccount event must carry
    for verification to accept the holes: their count and redaction_digest."""
    rows = list(events.filter(sequence__isnull=False).order_by("sequence")
                .values_list("sequence", "prev_hash", "hash"))
    AuditRedaction.objects.bulk_create(
        AuditRedaction(sequence=sequence, prev_hash=prev_hash, hash=hash_,
                       request_id=request_id)
        for sequence, prev_hash, hash_ in rows)
    return {"eventsRedacted": len(rows), "redactionDigest": redaction_digest(rows)}


def _unvouched_redaction(after: int) -> AuditRedaction | None:
    """The first redaction after `after` that no ResetAccount event of its request vouches for
    (with the SHA-256 of all of that request's redactions), or None. A redaction written by hand
    to hide a deletion has no such event, and forging the event breaks the chain after it."""
    request_ids = (AuditRedaction.objects.filter(sequence__gt=after)
                   .values_list("request_id", flat=True).distinct())
    for request_id in request_ids:
        rows = AuditRedaction.objects.filter(request_id=request_id).order_by("sequence")
        digest = redaction_digest(rows.values_list("sequence", "prev_hash", "hash"))
        last = rows.last()
        vouched = AuditEvent.objects.filter(
            event_name=RESET_EVENT, request_id=request_id, sequence__gt=last.sequence,
            service_event_details__resetAccount__redactionDigest=digest).exists()
        if not vouched:
            return rows.filter(sequence__gt=after).first()
    return None


# --- verification ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainBreak:
    """The first place where the chain does not hold. `sequence` is the position that fails
    (for a deletion: the first missing one); `event_id` the stored event there, or the first
    one after a gap (None when nothing follows); `reason` one of the constants above."""

    sequence: int
    event_id: str | None
    reason: str
    detail: str


@dataclass(frozen=True)
class ChainVerification:
    """What chain_verify found: how much it checked and the first break, if any."""

    events_checked: int
    digests_checked: int
    first_sequence: int | None  # the first and last event checked
    last_sequence: int | None
    start: str  # where the walk started: the chain's beginning, a checkpoint, a sequence
    broken: ChainBreak | None = None
    events_redacted: int = 0  # holes left by account resets, stepped over

    @property
    def ok(self) -> bool:
        return self.broken is None

    def summary(self) -> str:
        if self.ok:
            checked = (f"events {self.first_sequence} to {self.last_sequence}"
                       if self.events_checked else "no events")
            redacted = (f" {self.events_redacted} event(s) removed by account resets were "
                        "accounted for." if self.events_redacted else "")
            return (f"Audit trail intact: {self.events_checked} event(s) checked ({checked}, "
                    f"from {self.start}), {self.digests_checked} digest(s) verified.{redacted}")
        broken = self.broken
        event = f", eventID {broken.event_id}" if broken.event_id else ""
        return (f"Audit trail broken at sequence {broken.sequence}{event}: {broken.reason}. "
                f"{broken.detail} ({self.events_checked} event(s) verified before it.)")


class ChainWalk:
    """Checks events one by one, in sequence order, against the chain and the digests.

    Started after a known position (`after`, whose hash is `prev_hash`; None when unknown, as
    for --from-sequence, where the first event's link to its predecessor cannot be checked).
    Shared by chain_verify and retention, which checks a batch before deleting it.
    """

    def __init__(self, *, after: int, prev_hash: str | None, digest_hashes: dict[int, str]):
        self.next_sequence = after + 1
        self.prev_hash = prev_hash
        self.digest_hashes = digest_hashes
        self.checked = 0
        self.redacted = 0
        self.first_sequence: int | None = None
        self.last_sequence: int | None = None

    def _step_over_redactions(self, until: int) -> ChainBreak | None:
        """Walk the redactions from the expected sequence up to `until` (exclusive), linking
        each to the one before; stop at the first sequence with neither event nor redaction
        (the caller reports it as deleted)."""
        redactions = AuditRedaction.objects.filter(sequence__gte=self.next_sequence,
                                                   sequence__lt=until).order_by("sequence")
        for redaction in redactions:
            if redaction.sequence != self.next_sequence:
                return None
            if self.prev_hash is not None and redaction.prev_hash != self.prev_hash:
                return ChainBreak(redaction.sequence, None, RELINKED,
                                  "A redaction left by an account reset does not follow the "
                                  "event before it.")
            self.prev_hash = redaction.hash
            self.next_sequence += 1
            self.redacted += 1
        return None

    def check(self, event: AuditEvent) -> ChainBreak | None:
        event_id = str(event.event_id)
        if event.sequence > self.next_sequence:
            broken = self._step_over_redactions(event.sequence)
            if broken:
                return broken
        if event.sequence != self.next_sequence:
            missing = self.next_sequence
            return ChainBreak(missing, event_id, DELETED,
                              f"Events {missing} to {event.sequence - 1} are missing; the next "
                              f"stored event is {event.sequence}.")
        if expected_hash(event) != event.hash:
            return ChainBreak(event.sequence, event_id, EDITED,
                              "A stored field differs from what was recorded.")
        if self.prev_hash is not None and event.prev_hash != self.prev_hash:
            return ChainBreak(event.sequence, event_id, RELINKED,
                              "The event does not follow the event before it.")
        signed = self.digest_hashes.get(event.sequence)
        if signed is not None and signed != event.hash:
            return ChainBreak(event.sequence, event_id, DIGEST_MISMATCH,
                              "A signed digest recorded another hash for this event.")
        self.prev_hash = event.hash
        self.next_sequence += 1
        self.checked += 1
        self.first_sequence = self.first_sequence or event.sequence
        self.last_sequence = event.sequence
        return None

    def finish(self, *, up_to: int, head_hash: str | None) -> ChainBreak | None:
        """After the last event: nothing up to `up_to` may be missing, and the chain must end
        at the hash the head recorded (which catches the newest event edited and rehashed)."""
        if self.next_sequence <= up_to:
            broken = self._step_over_redactions(up_to + 1)
            if broken:
                return broken
        if self.next_sequence <= up_to:
            return ChainBreak(self.next_sequence, None, DELETED,
                              f"Events {self.next_sequence} to {up_to} are missing at the end "
                              "of the chain.")
        if head_hash is not None and self.prev_hash is not None and self.prev_hash != head_hash:
            return ChainBreak(up_to, None, EDITED,
                              "The newest event's hash is not the one the chain head recorded.")
        return None


def chain_verify(*, from_sequence: int | None = None,
                 chunk_size: int = VERIFY_CHUNK_SIZE) -> ChainVerification:
    """Walk the chain from its start (the newest checkpoint, or sequence 1) or `from_sequence`
    up to the head as it is when the walk starts; events appended meanwhile (such as the event
    recording this validation) are left for the next run. Streams the events, so memory stays
    flat for any number of them. Checks the digests' signatures first, then each event."""
    result = _verify(from_sequence, chunk_size)
    broken = result.broken
    if (broken and broken.reason == DELETED
            and AuditCheckpoint.objects.filter(sequence__gte=broken.sequence).exists()):
        # Retention checkpointed and deleted the start of the chain while this walk read it:
        # walk again from the new checkpoint (which must itself be recorded in the chain).
        result = _verify(from_sequence, chunk_size)
    return result


def _verify(from_sequence: int | None, chunk_size: int) -> ChainVerification:
    up_to, head_hash = _head()
    after, prev_hash, start = _starting_point(from_sequence)
    if start.startswith("the checkpoint") and not _checkpoint_recorded(after, prev_hash):
        broken = ChainBreak(after, None, DELETED,
                            f"No {RETENTION_EVENT} event in the chain records the checkpoint "
                            f"at {after}: events were deleted and a checkpoint forged.")
        return ChainVerification(events_checked=0, digests_checked=0, first_sequence=None,
                                 last_sequence=None, start=start, broken=broken)
    forged = _unvouched_redaction(after)
    if forged is not None:
        broken = ChainBreak(forged.sequence, None, REDACTION_FORGED,
                            f"No {RESET_EVENT} event in the chain vouches for the redaction at "
                            f"{forged.sequence}: events were deleted and redactions forged.")
        return ChainVerification(events_checked=0, digests_checked=0, first_sequence=None,
                                 last_sequence=None, start=start, broken=broken)

    digests = 0
    digest_chain = DigestChain()
    digest_hashes: dict[int, str] = {}
    for digest in AuditDigest.objects.order_by("last_sequence").iterator(chunk_size=chunk_size):
        digests += 1
        error = digest_chain.check(digest)
        if error:
            return _digest_failure(digest, error, digests - 1, start)
        if digest.last_sequence == after and prev_hash not in (None, digest.last_hash):
            return _digest_failure(digest, "", digests - 1, start, reason=DIGEST_MISMATCH)
        if after < digest.last_sequence <= up_to:
            digest_hashes[digest.last_sequence] = digest.last_hash

    walk = ChainWalk(after=after, prev_hash=prev_hash, digest_hashes=digest_hashes)
    events = (AuditEvent.objects.filter(sequence__gt=after, sequence__lte=up_to)
              .order_by("sequence").iterator(chunk_size=chunk_size))
    broken = None
    for event in events:
        broken = walk.check(event)
        if broken:
            break
    else:
        broken = walk.finish(up_to=up_to, head_hash=head_hash)
    return ChainVerification(events_checked=walk.checked, digests_checked=digests,
                             first_sequence=walk.first_sequence,
                             last_sequence=walk.last_sequence, start=start, broken=broken,
                             events_redacted=walk.redacted)


def _head() -> tuple[int, str | None]:
    """The newest sequence and its hash, from the head row. Without one (nothing was ever
    appended, or it was deleted by hand), the newest stored sequence and no hash to compare."""
    head = AuditChainHead.objects.filter(pk=1).values_list("sequence", "hash").first()
    if head is not None:
        return head
    newest = (AuditEvent.objects.filter(sequence__isnull=False).order_by("-sequence")
              .values_list("sequence", flat=True).first())
    return newest or 0, None


def _starting_point(from_sequence: int | None) -> tuple[int, str | None, str]:
    """(after, its hash, description): where the walk begins."""
    checkpoint = AuditCheckpoint.objects.order_by("-sequence").first()
    if from_sequence is not None and (checkpoint is None or from_sequence > checkpoint.sequence):
        return from_sequence - 1, None, f"sequence {from_sequence}"
    if checkpoint is not None:
        return checkpoint.sequence, checkpoint.hash, f"the checkpoint after {checkpoint.sequence}"
    return 0, GENESIS_HASH, "the beginning of the chain"


def _checkpoint_recorded(sequence: int, hash_: str) -> bool:
    """Whether a retention event after the checkpoint names it. Checkpoints carry no signature;
    the AuditRetention event written with each one is in the chain, so a checkpoint forged to
    hide deleted events has no such event, and forging one breaks the chain after it."""
    return AuditEvent.objects.filter(
        event_name=RETENTION_EVENT, sequence__gt=sequence,
        service_event_details__auditRetention__lastSequence=sequence,
        service_event_details__auditRetention__lastHash=hash_).exists()


def _digest_failure(digest: AuditDigest, detail: str, digests_checked: int, start: str, *,
                    reason: str = DIGEST_FORGED) -> ChainVerification:
    event_id = (AuditEvent.objects.filter(sequence=digest.last_sequence)
                .values_list("event_id", flat=True).first())
    detail = detail or "The checkpoint's hash is not the one the digest signed."
    broken = ChainBreak(digest.last_sequence, str(event_id) if event_id else None, reason,
                        f"Digest of events {digest.first_sequence} to {digest.last_sequence}: "
                        f"{detail}")
    return ChainVerification(events_checked=0, digests_checked=digests_checked,
                             first_sequence=None, last_sequence=None, start=start, broken=broken)
