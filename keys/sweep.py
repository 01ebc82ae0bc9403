"""The scheduled sweep (run by Celery beat, or `manage.py kms_sweep`): rotate keys that are
due, delete keys whose waiting period ended, expire imported material past its ValidTo.

A sweep runs phases one after another. A phase is a name, a function listing the ids of the
keys due at `now`, and a function processing one key. Each key is processed in its own
transaction: claimed with SELECT ... FOR UPDATE SKIP LOCKED under the same "is it due?"
condition the listing used, so two sweeps running at once (two workers, or a slow sweep
overlapping the next beat tick) never process one key twice: the second one either skips the
locked row or, once the first has committed, finds it no longer due. PostgreSQL evaluates the
condition again on the newest committed row version when it takes the lock, which is the
re-check after locking. (SQLite has no row locks; its single writer serialises sweeps.)

Each action goes through the one door like any request: `operation()` with the scheduler's
caller (`Caller.scheduler`, "AWS Internal"), which records an AwsServiceEvent in the same
transaction as the change. One key's failure rolls back that key's change only (no
half-rotated key), is audited as a failed service event and counted; the sweep goes on.
"""

import datetime
import functools
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.recording import operation
from grants.principals import Caller

from .imports import expire_imported_material, keys_with_expired_material
from .materials import forget_opened, rotate_material
from .models import ENABLED, ORIGIN_AWS_KMS, PENDING_DELETION, Key

log = logging.getLogger(__name__)

# Due ids are read in pages of this size (keyset on id): memory stays bounded with many due
# keys, and a key that failed is not retried within the same sweep (the next sweep retries it).
DUE_PAGE_SIZE = 500


@dataclass(frozen=True)
class Phase:
    """One kind of scheduled work. `due_ids(now)` lists candidate key ids (they may no longer be
    due when processed); `process_one(key_id, now)` does the work for one key in its own
    transaction and returns False when the key was not processed (another sweep holds it, or it
    is no longer due). It raises when the key failed; its failure is audited by then."""

    name: str
    due_ids: Callable[[datetime.datetime], Iterable]
    process_one: Callable[[uuid.UUID, datetime.datetime], bool | None]


@dataclass
class PhaseResult:
    name: str
    done: int = 0
    skipped: int = 0  # claimed by a concurrent sweep, or no longer due when claimed
    failed_key_ids: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failed_key_ids)


@dataclass
class SweepResult:
    """What one sweep did, phase by phase, for the task's and the command's summary."""

    phases: list[PhaseResult] = field(default_factory=list)

    def phase(self, name: str) -> PhaseResult:
        return next(phase for phase in self.phases if phase.name == name)

    @property
    def failed(self) -> int:
        return sum(phase.failed for phase in self.phases)

    def summary(self) -> str:
        parts = []
        for phase in self.phases:
            part = f"{phase.name}: {phase.done} done, {phase.failed} failed"
            if phase.skipped:
                part += f", {phase.skipped} skipped"
            if phase.failed_key_ids:
                part += f" ({', '.join(phase.failed_key_ids)})"
            parts.append(part)
        return "KMS sweep: " + "; ".join(parts) + "."


def _paged_ids(condition: Q) -> Iterator[uuid.UUID]:
    """Ids of the keys matching `condition`, read page by page in id order."""
    last = None
    while True:
        page = Key.objects.filter(condition).order_by("id")
        if last is not None:
            page = page.filter(id__gt=last)
        ids = list(page.values_list("id", flat=True)[:DUE_PAGE_SIZE])
        yield from ids
        if len(ids) < DUE_PAGE_SIZE:
            return
        last = ids[-1]


@functools.lru_cache(maxsize=16)
def _claiming(condition_of: Callable[[datetime.datetime], Q], now: datetime.datetime):
    """SELECT ... FOR UPDATE SKIP LOCKED of the keys matching `condition_of(now)`, built once
    per phase of a sweep: building the query costs more CPU than running it (bench/README.md,
    "Rotation sweep"). Never evaluated itself, only narrowed by filter(), which copies it."""
    return Key.objects.select_for_update(skip_locked=True).filter(condition_of(now))


def _claim(condition_of: Callable[[datetime.datetime], Q], now: datetime.datetime,
           key_id) -> Key | None:
    """Lock `key_id` if it still matches the condition and no other transaction holds it."""
    return _claiming(condition_of, now).filter(pk=key_id).first()


def _scheduler(key: Key) -> Caller:
    return Caller.scheduler(account_id=key.account_id, region=key.region)


def _act(key: Key, event_name: str, act: Callable[[object], None]) -> Exception | None:
    """Run `act(op)` for the claimed `key` through the one door, inside the claim's transaction;
    the error it failed with, or None.

    operation() runs in a savepoint: on failure it rolls back the change and records the failed
    service event. The error is caught here so that the claim's transaction commits that event
    (it would be rolled back with everything else otherwise); the caller raises it again after
    the commit, so the sweep counts the key as failed.
    """
    failure = None
    try:
        with operation(_scheduler(key), event_name, read_only=False) as op:
            op.add_key(key)
            act(op)
    except Exception as error:
        failure = error
    return failure


# --- rotation -------------------------------------------------------------------------------

def rotation_due(now: datetime.datetime) -> Q:
    """Keys whose automatic rotation date has passed and that AWS would rotate now.

    AWS rotates neither a disabled key nor one pending deletion when its date arrives; the date
    stays in the past. AWS's "How automatic key rotation works": when such a key is enabled
    again (or its deletion cancelled and it is enabled), "if the key material is more than one
    [rotation period] old, AWS KMS rotates it immediately and every [period] thereafter; if the
    key material is less than one [period] old, AWS KMS resumes the original key rotation
    schedule". A passed next_rotation_date is exactly "material older than one period", so the
    first sweep after re-enabling rotates it, and a key re-enabled before its date keeps it.
    While pending deletion, GetKeyRotationStatus reports false but rotation_enabled is kept so
    that cancelling restores it, as AWS does.

    Only symmetric keys with material generated here rotate automatically (EnableKeyRotation
    refuses the others); AWS managed keys are included: AWS rotates them every year.
    """
    return Q(rotation_enabled=True, key_state=ENABLED, origin=ORIGIN_AWS_KMS,
             key_spec="SYMMETRIC_DEFAULT", next_rotation_date__lte=now)


def keys_due_for_rotation(now: datetime.datetime) -> Iterator[uuid.UUID]:
    return _paged_ids(rotation_due(now))


def rotate_due_key(key_id, now: datetime.datetime) -> bool:
    """Rotate one due key: new material (rotation type AUTOMATIC) made current, the next
    rotation scheduled and a RotateKey service event, all in one transaction.

    The next rotation is one period after this rotation (not after the missed due date), as
    AWS documents for a key re-enabled after its date: "rotates it immediately and every
    [period] thereafter". For a key rotated on time the two are the same up to the sweep
    interval.
    """
    with transaction.atomic():
        key = _claim(rotation_due, now, key_id)
        if key is None:
            return False

        def rotate(op):
            op.service_event_details = {"rotationType": "AUTOMATIC", "keyId": str(key.id)}
            rotate_material(key, rotation_type="AUTOMATIC")
            key.next_rotation_date = now + datetime.timedelta(days=key.rotation_period_days)
            key.save(update_fields=["current_version", "next_rotation_date"])

        failure = _act(key, "RotateKey", rotate)
    if failure is not None:
        raise failure
    return True


# --- deletion -------------------------------------------------------------------------------

def deletion_due(now: datetime.datetime) -> Q:
    """Keys pending deletion whose waiting period has ended."""
    return Q(key_state=PENDING_DELETION, deletion_date__lte=now)


def keys_due_for_deletion(now: datetime.datetime) -> Iterator[uuid.UUID]:
    return _paged_ids(deletion_due(now))


def delete_due_key(key_id, now: datetime.datetime) -> bool:
    """Delete one key whose waiting period ended, for real: the key row and, by cascade, its
    material versions, import parameters, aliases, tags and grants; a DeleteKey service event
    in the same transaction. Audit events name keys by id only (no foreign key), so the key's
    history, this event included, survives it."""
    with transaction.atomic():
        key = _claim(deletion_due, now, key_id)
        if key is None:
            return False
        failure = _act(key, "DeleteKey", lambda op: key.delete())
    # This process's opened-material cache must not keep destroyed material in memory.
    forget_opened(key_id)
    if failure is not None:
        raise failure
    return True


# --- the sweep ------------------------------------------------------------------------------

ROTATION = Phase("rotation", keys_due_for_rotation, rotate_due_key)
DELETION = Phase("deletion", keys_due_for_deletion, delete_due_key)
# Imported material reaching its ValidTo: DeleteExpiredKeyMaterial (keys/imports.py).
EXPIRY = Phase("expiry", keys_with_expired_material, expire_imported_material)


def default_phases() -> list[Phase]:
    """Rotation, deletion, expiry. Each phase re-checks a key under its lock, so the order only
    saves work: an EXTERNAL key pending deletion whose material also expired is deleted, and
    the expiry phase then finds nothing left to do."""
    return [ROTATION, DELETION, EXPIRY]


def sweep(now: datetime.datetime | None = None,
          phases: list[Phase] | None = None) -> SweepResult:
    """Run every phase over the keys due at `now` (default: the current time)."""
    now = now or timezone.now()
    result = SweepResult()
    for phase in phases if phases is not None else default_phases():
        result.phases.append(_run_phase(phase, now))
    return result


def _run_phase(phase: Phase, now: datetime.datetime) -> PhaseResult:
    outcome = PhaseResult(phase.name)
    for key_id in phase.due_ids(now):
        try:
            processed = phase.process_one(key_id, now)
        except Exception:
            # Already audited as a failed service event (operation() logged the traceback);
            # the next sweep tries this key again.
            log.warning("kms sweep: %s of key %s failed", phase.name, key_id)
            outcome.failed_key_ids.append(str(key_id))
            continue
        if processed is False:
            outcome.skipped += 1
        else:
            outcome.done += 1
    return outcome
