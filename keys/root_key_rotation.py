"""Root-key rotation: re-wrap every value stored under the root key with the current root key
(the service behind `manage.py kms_root_key`).

What is wrapped under the root key (WRAPPED_COLUMNS): each key's material versions and the
commitments of imported material, the private halves of import wrapping keys, and the secrets of
access keys, MFA devices and role sessions. A rotation changes only the wrapping: the plaintext
inside each value stays the same, so key material versions, and with them every ciphertext ever
returned, stay valid, and the opened-material cache (keys/materials.py, plaintext) stays right.

The flow (docs/deployment.md, "Root key rotation"): the operator makes the new key the current
one and the old key the previous one (KMS_PREVIOUS_ROOT_KEY_FILE), restarts every process, and
runs the rotation. While it runs, servers wrap under the new key and unwrap each value with the
key its header names (keys/crypto/rootkey.py, format 2), so they keep working throughout.

Resumable: rows are processed in batches, each in its own transaction, so an interruption loses
at most one uncommitted batch; a value already under the current key is recognised by the key
fingerprint in its header and skipped, so a re-run finishes the job. Each value is written back
only if it is still what was read (compare-and-swap): a value a server changed meanwhile (always
under the current key) is never overwritten with the older one.

Audited: one RotateRootKey service event per run in every account that has wrapped values,
carrying that account's counts only (tenants do not learn each other's numbers), the key
fingerprints and whether the run finished; never a key or a wrapped value. An operator action
from the command line, like kms_reset: whoever runs manage.py holds the database and the root
keys already, so there is no principal to authorize.
"""

import dataclasses
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import models, transaction

from audit.recording import operation
from grants.models import AccessKey, MFADevice, SessionCredential
from grants.principals import Caller
from keys.crypto.rootkey import RootKeyError, RootKeyRing, wrapped_by
from kmsconsole.errors import KmsError

from .models import ImportParameters, KeyMaterial
from .vault import commitment_aad, import_key_aad, material_aad, root_key

log = logging.getLogger(__name__)

ROTATE_ROOT_KEY_EVENT = "RotateRootKey"
DEFAULT_BATCH_SIZE = 500
# Status categories for values whose header names no configured key.
FORMAT_1 = "format 1 (names no key)"
UNREADABLE = "unreadable"
# How many failed rows a result names (the counts are always complete).
MAX_FAILURES_LISTED = 20


class RootKeyRotationRefused(Exception):
    """The configuration is not safe to rotate with; nothing was changed."""


@dataclass(frozen=True)
class WrappedColumn:
    """One column of wrapped values: where it is, which account owns a row, its AAD."""

    label: str
    model: type[models.Model]
    field: str
    related: str
    account_of: Callable[[models.Model], str]
    aad_of: Callable[[models.Model], bytes]


# The models' own AAD methods and vault's AAD functions, so rotation can never bind a value to
# something else than what the code that reads it expects.
WRAPPED_COLUMNS = (
    WrappedColumn("KeyMaterial.wrapped", KeyMaterial, "wrapped", "key",
                  lambda row: row.key.account_id,
                  lambda row: material_aad(row.key.arn, row.version)),
    WrappedColumn("KeyMaterial.material_commitment", KeyMaterial, "material_commitment", "key",
                  lambda row: row.key.account_id,
                  lambda row: commitment_aad(row.key.arn)),
    WrappedColumn("ImportParameters.wrapped_private_key", ImportParameters,
                  "wrapped_private_key", "key",
                  lambda row: row.key.account_id,
                  lambda row: import_key_aad(row.key.arn, row.token_digest)),
    WrappedColumn("AccessKey.secret_wrapped", AccessKey, "secret_wrapped", "user",
                  lambda row: row.user.account_id, lambda row: row._aad()),
    WrappedColumn("MFADevice.secret_wrapped", MFADevice, "secret_wrapped", "user",
                  lambda row: row.user.account_id, lambda row: row._aad()),
    WrappedColumn("SessionCredential.secret_wrapped", SessionCredential, "secret_wrapped",
                  "role", lambda row: row.role.account_id, lambda row: row._aad()),
)


@dataclass
class ColumnCounts:
    """What one run did to one column (of one account, or of all)."""

    rewrapped: int = 0
    skipped: int = 0  # already under the current key, or changed meanwhile by a server
    failed: int = 0   # could not be unwrapped with any configured key

    def add(self, other: "ColumnCounts") -> None:
        self.rewrapped += other.rewrapped
        self.skipped += other.skipped
        self.failed += other.failed

    def as_event(self) -> dict:
        return {"rewrapped": self.rewrapped, "skipped": self.skipped, "failed": self.failed}


@dataclass
class Tally:
    """Counts by account and column, plus the first failed rows (label and primary key)."""

    by_account: dict[str, dict[str, ColumnCounts]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def counts(self, account_id: str, label: str) -> ColumnCounts:
        return self.by_account.setdefault(account_id, {}).setdefault(label, ColumnCounts())

    def merge(self, other: "Tally") -> None:
        for account_id, columns in other.by_account.items():
            for label, counts in columns.items():
                self.counts(account_id, label).add(counts)
        room = MAX_FAILURES_LISTED - len(self.failures)
        self.failures.extend(other.failures[:max(room, 0)])

    def by_column(self) -> dict[str, ColumnCounts]:
        totals = {column.label: ColumnCounts() for column in WRAPPED_COLUMNS}
        for columns in self.by_account.values():
            for label, counts in columns.items():
                totals[label].add(counts)
        return totals


@dataclass
class RotationResult:
    """What a run did: counts by column and account, and why it stopped early, if it did."""

    fingerprint: str
    previous_fingerprints: tuple[str, ...]
    tally: Tally
    interruption: str | None = None

    def total(self) -> ColumnCounts:
        total = ColumnCounts()
        for counts in self.tally.by_column().values():
            total.add(counts)
        return total

    @property
    def finished(self) -> bool:
        return self.interruption is None and self.total().failed == 0


def root_key_status() -> dict[str, Counter]:
    """For each wrapped column, how many values each root key wraps, read from the headers.

    Keys are fingerprints, FORMAT_1 (values written before wrapped values named their key) or
    UNREADABLE. Decrypts nothing; empty values (deleted imported material) are not counted.
    """
    status = {}
    for column in WRAPPED_COLUMNS:
        found = Counter()
        blobs = (column.model.objects.exclude(**{column.field: b""}).order_by("pk")
                 .values_list(column.field, flat=True))
        for blob in blobs.iterator(chunk_size=2000):
            found[_key_of(bytes(blob))] += 1
        status[column.label] = found
    return status


def root_key_rotate(*, expected_fingerprint: str, batch_size: int = DEFAULT_BATCH_SIZE,
                    progress: Callable[[str, ColumnCounts], None] | None = None
                    ) -> RotationResult:
    """Re-wrap every wrapped value under the current root key; see the module docstring.

    `expected_fingerprint` is the fingerprint of the key the operator means to rotate to: the
    run is refused unless it is the configured current key. `progress(label, counts)` is called
    after each committed batch with the column's running counts.
    """
    ring = root_key()
    _refuse_unsafe(ring, expected_fingerprint)
    result = RotationResult(fingerprint=ring.fingerprint,
                            previous_fingerprints=tuple(k.fingerprint for k in ring.previous),
                            tally=Tally())
    try:
        for column in WRAPPED_COLUMNS:
            _rotate_column(ring, column, batch_size, result.tally, progress)
    except BaseException as error:
        # Committed batches stay re-wrapped; the re-run skips them. Record how far this got.
        result.interruption = f"{type(error).__name__}: {error}"[:500]
        log.warning("root key rotation interrupted: %s", type(error).__name__)
        _record_run(result)
        if not isinstance(error, Exception):
            raise  # Ctrl-C and friends still stop the process
        return result
    _record_run(result)
    return result


def _key_of(blob: bytes) -> str:
    try:
        return wrapped_by(blob) or FORMAT_1
    except RootKeyError:
        return UNREADABLE


def _refuse_unsafe(ring: RootKeyRing, expected_fingerprint: str) -> None:
    """Threat: re-wrapping under the wrong key, or a configuration that cannot finish."""
    if ring.fingerprint != expected_fingerprint:
        raise RootKeyRotationRefused(
            f"The configured root key (fingerprint {ring.fingerprint}) is not the new key "
            f"(fingerprint {expected_fingerprint}). Configure the new key as KMS_ROOT_KEY_FILE "
            "and the old one as KMS_PREVIOUS_ROOT_KEY_FILE, restart web, worker and beat, then "
            "run rotate again.")
    previous_configured = bool((settings.KMS_PREVIOUS_ROOT_KEY or "").strip()
                               or settings.KMS_PREVIOUS_ROOT_KEY_FILE)
    if previous_configured and not ring.previous:
        raise RootKeyRotationRefused(
            "The previous root key (KMS_PREVIOUS_ROOT_KEY_FILE or KMS_PREVIOUS_ROOT_KEY) is the "
            "same key as the current one; it must be the old key.")
    # Format 1 values are tried with every key; unreadable ones are counted as failed.
    known = set(ring.fingerprints()) | {FORMAT_1, UNREADABLE}
    missing = Counter()
    for found in root_key_status().values():
        for key, count in found.items():
            if key not in known:
                missing[key] += count
    if missing:
        listed = ", ".join(f"{count} under {key}" for key, count in sorted(missing.items()))
        raise RootKeyRotationRefused(
            f"Some wrapped values are under no configured root key ({listed}). Configure the "
            "key they were wrapped with as KMS_PREVIOUS_ROOT_KEY_FILE; nothing was changed.")


def _rotate_column(ring: RootKeyRing, column: WrappedColumn, batch_size: int, tally: Tally,
                   progress) -> None:
    """Walk the column by primary key, one transaction per batch."""
    after = 0
    while True:
        batch = Tally()
        with transaction.atomic():
            rows = list(column.model.objects.select_related(column.related)
                        .exclude(**{column.field: b""}).filter(pk__gt=after)
                        .order_by("pk")[:batch_size])
            for row in rows:
                _rotate_row(ring, column, row, batch)
        # Counted only once committed: a batch rolled back by an interruption did nothing.
        tally.merge(batch)
        if not rows:
            return
        after = rows[-1].pk
        if progress is not None:
            progress(column.label, _column_total(tally, column.label))


def _rotate_row(ring: RootKeyRing, column: WrappedColumn, row, batch: Tally) -> None:
    blob = bytes(getattr(row, column.field))
    counts = batch.counts(column.account_of(row), column.label)
    if ring.is_current(blob):
        counts.skipped += 1
        return
    try:
        rewrapped = ring.rewrap(blob, aad=column.aad_of(row))
    except RootKeyError:
        counts.failed += 1
        batch.failures.append(f"{column.label} id={row.pk}")
        return
    # Compare-and-swap: written only if the row still holds what was read, so a value a
    # server replaced meanwhile (under the current key) is not overwritten with the old one.
    changed = (column.model.objects.filter(pk=row.pk, **{column.field: blob})
               .update(**{column.field: rewrapped}))
    if changed:
        counts.rewrapped += 1
    else:
        counts.skipped += 1


def _column_total(tally: Tally, label: str) -> ColumnCounts:
    total = ColumnCounts()
    for columns in tally.by_account.values():
        if label in columns:
            total.add(columns[label])
    return total


def _record_run(result: RotationResult) -> None:
    """One RotateRootKey event per account with wrapped values, sharing the run's request id.

    A run that did not finish is recorded as failed (errorCode, errorMessage), with the counts
    of what it did commit.
    """
    run_id = str(uuid.uuid4())
    problem = None
    if result.interruption is not None:
        problem = KmsError("Root key rotation was interrupted; run it again to finish.")
    elif not result.finished:
        problem = KmsError(f"Root key rotation did not finish: {result.total().failed} "
                           "wrapped value(s) could not be unwrapped with any configured key.")
    for account_id, columns in sorted(result.tally.by_account.items()):
        caller = dataclasses.replace(
            Caller.scheduler(account_id=account_id, region=settings.KMS_DEFAULT_REGION),
            request_id=run_id)
        total = ColumnCounts()
        for counts in columns.values():
            total.add(counts)
        details = {
            "rootKeyFingerprint": result.fingerprint,
            "previousRootKeyFingerprints": list(result.previous_fingerprints),
            "finished": result.finished,
            "valuesRewrapped": total.rewrapped, "valuesSkipped": total.skipped,
            "valuesFailed": total.failed,
            "columns": {label: counts.as_event() for label, counts in sorted(columns.items())},
        }
        try:
            with operation(caller, ROTATE_ROOT_KEY_EVENT, read_only=False) as op:
                op.service_event_details = {"rotateRootKey": details}
                if problem is not None:
                    raise problem  # recorded as a failed event, with the counts above
        except KmsError:
            if problem is None:
                raise
