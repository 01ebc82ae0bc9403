"""An account reset (`kms_reset`) removes the account's events from anywhere in the one hash
chain the server keeps, and the chain still verifies: each removed event leaves a redaction
(its place and hashes, no content) that the reset's ResetAccount event vouches for. An event
deleted any other way, or a redaction forged to hide it, still breaks verification.
"""

import io

import pytest
from django.core.management import call_command

from audit.chain import REDACTION_FORGED, RELINKED, chain_verify
from audit.models import AuditEvent, AuditRedaction
from grants.models import Account
from grants.principals import Caller
from keys import operations, services
from keys.reset import account_reset
from tests.conftest import REGION

pytestmark = pytest.mark.django_db

RESET = "123456789012"
KEPT = "210987654321"


def internal(account_id: str) -> Caller:
    return Caller.scheduler(account_id=account_id, region=REGION)


@pytest.fixture
def interleaved(db):
    """Two accounts whose events alternate in the chain: a reset of one leaves holes between
    the other's events."""
    for account_id in (RESET, KEPT):
        Account.objects.create(id=account_id)
    for _ in range(3):
        for account_id in (RESET, KEPT):
            key = services.key_create(caller=internal(account_id))
            operations.encrypt(caller=internal(account_id), key_id=str(key.id), plaintext=b"x")
    assert chain_verify().ok


def test_a_reset_leaves_a_chain_that_verifies_and_counts_the_removed_events(interleaved):
    removed = AuditEvent.objects.filter(recipient_account_id=RESET).count()
    account_reset(account_id=RESET)
    result = chain_verify()
    assert result.ok, result.summary()
    assert result.events_redacted == removed
    assert f"{removed} event(s) removed by account resets were accounted for" in result.summary()
    assert not AuditEvent.objects.filter(recipient_account_id=RESET).exclude(
        event_name="ResetAccount").exists()


def test_redactions_keep_no_content_of_the_removed_events(interleaved):
    account_reset(account_id=RESET)
    assert {f.name for f in AuditRedaction._meta.concrete_fields} == {
        "id", "sequence", "prev_hash", "hash", "request_id"}


def test_two_resets_and_later_events_still_verify(interleaved):
    account_reset(account_id=RESET)
    services.key_create(caller=internal(RESET))
    services.key_create(caller=internal(KEPT))
    account_reset(account_id=RESET)
    services.key_create(caller=internal(KEPT))
    assert chain_verify().ok


def test_a_second_reset_keeps_the_first_resets_event(interleaved):
    account_reset(account_id=RESET)
    account_reset(account_id=RESET)
    assert AuditEvent.objects.filter(recipient_account_id=RESET).count() == 2
    assert chain_verify().ok


def test_audit_verify_exits_0_after_a_reset(interleaved):
    account_reset(account_id=RESET)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "Audit trail intact" in out.getvalue()


def test_an_event_deleted_and_hidden_by_a_forged_redaction_breaks_the_chain(interleaved):
    victim = AuditEvent.objects.filter(recipient_account_id=KEPT).order_by("sequence")[1]
    AuditRedaction.objects.create(sequence=victim.sequence, prev_hash=victim.prev_hash,
                                  hash=victim.hash, request_id="forged")
    victim.delete()
    result = chain_verify()
    assert not result.ok
    assert (result.broken.sequence, result.broken.reason) == (victim.sequence, REDACTION_FORGED)


def test_a_redaction_added_to_a_real_reset_breaks_its_digest(interleaved):
    account_reset(account_id=RESET)
    request_id = AuditRedaction.objects.first().request_id
    victim = AuditEvent.objects.filter(recipient_account_id=KEPT).order_by("sequence")[0]
    AuditRedaction.objects.create(sequence=victim.sequence, prev_hash=victim.prev_hash,
                                  hash=victim.hash, request_id=request_id)
    victim.delete()
    result = chain_verify()
    assert not result.ok and result.broken.reason == REDACTION_FORGED


def test_a_redaction_whose_link_was_edited_breaks_the_chain(interleaved):
    account_reset(account_id=RESET)
    redaction = AuditRedaction.objects.order_by("sequence")[1]
    AuditRedaction.objects.filter(pk=redaction.pk).update(prev_hash="0" * 64)
    result = chain_verify()
    assert not result.ok
    # The edit changes the reset's digest first; either way the chain does not verify.
    assert result.broken.reason in (REDACTION_FORGED, RELINKED)
