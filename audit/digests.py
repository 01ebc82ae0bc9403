"""Signed digests of the audit chain, like CloudTrail's digest files (kms-spec.md 7.4).

The hash chain shows that events were edited, deleted or moved, but it has no secret: whoever
can write to the database and read this code can rebuild a consistent chain. A digest, written
at intervals by the beat task, states "the events first_sequence..last_sequence end at hash H"
and names the previous digest's signature, signed with HMAC-SHA256 under AUDIT_DIGEST_KEY, a
key the database does not hold. A chain rebuilt after a digest then no longer matches it, and a
digest removed or forged breaks the chain of signatures.

A digest is the trail's own bookkeeping, as CloudTrail's digest files are not CloudTrail
events: writing one records no audit event (it would also make every interval "new activity"
for the next digest, so the trail would never be quiet).
"""

import datetime
import hashlib
import hmac
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import AuditChainHead, AuditDigest

log = logging.getLogger(__name__)

ALGORITHM = "HMAC-SHA256"


def digest_message(digest: AuditDigest) -> bytes:
    """What is signed: every field of the digest but the signature, one per line."""
    created_at = digest.created_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "\n".join([digest.algorithm, created_at, str(digest.first_sequence),
                      str(digest.last_sequence), digest.last_hash,
                      digest.previous_signature]).encode("ascii")


def digest_signature(digest: AuditDigest) -> str:
    key = settings.AUDIT_DIGEST_KEY.encode()
    return hmac.new(key, digest_message(digest), hashlib.sha256).hexdigest()


def digest_create() -> AuditDigest | None:
    """Sign the chain head if events were appended since the previous digest (else None).

    The head row is locked while the digest is written, which holds appends back for that
    moment: the digest then names a head that no append is changing, and two digest runs
    (a beat task and a manual one) cannot both chain onto the same previous digest.
    """
    if settings.AUDIT_DIGEST_KEY_DERIVED and not settings.DEBUG:
        log.warning("AUDIT_DIGEST_KEY is not set: digests are signed with a key derived from "
                    "SECRET_KEY; production must set its own AUDIT_DIGEST_KEY")
    try:
        with transaction.atomic():
            head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
            previous = AuditDigest.objects.order_by("-last_sequence").first()
            covered = previous.last_sequence if previous else 0
            if head is None or head.sequence <= covered:
                return None
            digest = AuditDigest(created_at=timezone.now(), first_sequence=covered + 1,
                                 last_sequence=head.sequence, last_hash=head.hash,
                                 previous_signature=previous.signature if previous else "",
                                 algorithm=ALGORITHM)
            digest.signature = digest_signature(digest)
            digest.save(force_insert=True)
            return digest
    except IntegrityError:
        # SQLite has no row lock: a concurrent run signed this head first; nothing to add.
        return None


class DigestChain:
    """Checks digests in last_sequence order: each must be correctly signed, name the previous
    digest's signature and start where it ended."""

    def __init__(self):
        self.previous: AuditDigest | None = None

    def check(self, digest: AuditDigest) -> str:
        """"" when the digest holds, else why not."""
        if digest.algorithm != ALGORITHM or not hmac.compare_digest(
                digest_signature(digest), digest.signature):
            return "its signature is not valid under the digest key."
        previous = self.previous
        expected_previous = previous.signature if previous else ""
        if not hmac.compare_digest(digest.previous_signature, expected_previous):
            return "it does not name the previous digest's signature (a digest was removed " \
                   "or inserted)."
        if previous and digest.first_sequence != previous.last_sequence + 1:
            return "it does not start where the previous digest ended."
        self.previous = digest
        return ""
