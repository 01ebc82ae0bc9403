"""The audit hash chain and its signed digests (audit/chain.py, audit/digests.py).

Tampering is done the way an intruder with database access would: QuerySet.update / delete /
a raw insert, bypassing record(). Each test shows that chain_verify (and `manage.py
audit_verify`) then fails and names the event where the chain breaks.
"""

import datetime
import io
import uuid

import pytest
from django.core.management import call_command
from django.db import models

from audit import chain
from audit.chain import chain_verify, expected_hash
from audit.digests import digest_create, digest_signature
from audit.models import AuditChainHead, AuditDigest, AuditEvent
from audit.recording import operation
from keys import operations, services
from kmsconsole.errors import AccessDeniedError
from tests.conftest import caller_for, make_user

from .conftest import create_key

pytestmark = pytest.mark.django_db

STORED_FIELDS = [f for f in AuditEvent._meta.concrete_fields if f.name != "id"]
# The event the field-editing tests tamper with (an Encrypt with an encryption context).
TARGET = 3


@pytest.fixture
def trail(caller, account):
    """Six events through the one door: AttachUserPolicy (the admin fixture), CreateKey,
    Encrypt, DescribeKey, a denied DescribeKey, TagResource. Returned in chain order."""
    key = create_key(caller)
    operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"secret",
                       encryption_context={"department": "finance"})
    services.key_describe(caller=caller, key_id=str(key.id))
    with pytest.raises(AccessDeniedError):
        services.key_describe(caller=caller_for(make_user(account, "nobody")),
                              key_id=str(key.id))
    services.key_tag(caller=caller, key_id=str(key.id), tags=[("team", "payments")])
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.event_name for e in events] == [
        "AttachUserPolicy", "CreateKey", "Encrypt", "DescribeKey", "DescribeKey", "TagResource"]
    return events


def event_at(sequence: int) -> AuditEvent:
    return AuditEvent.objects.get(sequence=sequence)


def rehash(sequence: int) -> None:
    """What an intruder who read audit/chain.py does after an edit: recompute the hash."""
    event = event_at(sequence)
    AuditEvent.objects.filter(pk=event.pk).update(hash=expected_hash(event))


def move(sequence: int, to: int) -> None:
    AuditEvent.objects.filter(sequence=sequence).update(sequence=to)


def assert_broken_at(result, sequence: int, reason: str, event_id=None) -> None:
    assert not result.ok
    assert (result.broken.sequence, result.broken.reason) == (sequence, reason)
    assert result.broken.event_id == (str(event_id) if event_id else None)


# --- an untouched chain ----------------------------------------------------------------------

def test_an_untouched_chain_verifies_and_links_every_event_to_the_one_before(trail):
    assert [e.sequence for e in trail] == [1, 2, 3, 4, 5, 6]
    assert trail[0].prev_hash == ""
    for before, after in zip(trail, trail[1:], strict=False):
        assert after.prev_hash == before.hash
    head = AuditChainHead.objects.get()
    assert (head.sequence, head.hash) == (6, trail[-1].hash)
    result = chain_verify()
    assert result.ok
    assert (result.events_checked, result.first_sequence, result.last_sequence) == (6, 1, 6)


def test_the_canonical_form_covers_every_stored_field_but_id_and_hash():
    # A new AuditEvent field must be added to CANONICAL_FIELDS on purpose (see audit/chain.py).
    assert set(chain.CANONICAL_FIELDS) == {f.name for f in STORED_FIELDS} - {"hash"}


def test_json_numbers_and_key_order_hash_the_same_after_the_database_round_trip(caller):
    awkward = {"zeta": 1, "alpha": [2.0, 1e16, 1e-7, 0.1, 12345678901234567890],
               "nested": {"b": 1.5, "a": {"y": None, "x": True}}, "text": "caf\u00e9 \u2713"}
    with operation(caller, "TestNumbers", read_only=True, request_parameters=awkward) as op:
        op.additional_event_data = {"counts": {10: 1, 9: 2.0, True: None}, "pair": (1, 2)}
    written = AuditEvent.objects.get(event_name="TestNumbers")
    # Read back from SQLite's JSON text or PostgreSQL's jsonb (keys reordered, numbers decimal).
    assert chain.canonical_form(written) == chain.canonical_form(
        AuditEvent.objects.get(pk=written.pk))
    assert expected_hash(AuditEvent.objects.get(pk=written.pk)) == written.hash
    assert chain_verify().ok


def test_events_written_before_the_chain_existed_are_left_out(trail):
    legacy = AuditEvent.objects.create(
        event_time=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC), event_name="Encrypt",
        aws_region="us-east-1", recipient_account_id="111122223333", user_identity={},
        read_only=True, source="api")
    assert legacy.sequence is None
    assert chain_verify().events_checked == 6


def test_a_lost_head_restarts_at_the_newest_event(caller, trail):
    AuditChainHead.objects.all().delete()
    services.key_list(caller=caller)
    assert event_at(7).prev_hash == trail[-1].hash
    assert chain_verify().ok


# --- editing, deleting, reordering, inserting ------------------------------------------------

def tampered(field: models.Field, value):
    if isinstance(field, models.JSONField):
        if isinstance(value, list):
            return value + [{"tampered": True}]
        return {**(value or {}), "tampered": True}
    if isinstance(field, models.BooleanField):
        return not value
    if isinstance(field, models.DateTimeField):
        return value + datetime.timedelta(microseconds=1)
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.BigIntegerField):
        return value + 1000
    # Same length, so a column's maximum length never refuses the edit.
    return value[:-1] + ("0" if value[-1] != "0" else "1") if value else "x"


@pytest.mark.parametrize("field", STORED_FIELDS, ids=lambda f: f.name)
def test_editing_any_field_in_the_database_breaks_the_chain_at_that_event(trail, field):
    target = trail[TARGET - 1]
    AuditEvent.objects.filter(pk=target.pk).update(
        **{field.name: tampered(field, getattr(target, field.attname))})
    result = chain_verify()
    if field.name == "sequence":
        # The event left its place: its place is a gap, named by its sequence.
        assert_broken_at(result, TARGET, chain.DELETED, trail[TARGET].event_id)
    else:
        assert_broken_at(result, TARGET, chain.EDITED,
                         AuditEvent.objects.get(pk=target.pk).event_id)
    assert result.events_checked == TARGET - 1


@pytest.mark.parametrize("sequence, next_event", [(1, 1), (3, 3), (6, None)],
                         ids=["first", "middle", "last"])
def test_deleting_an_event_is_named_by_its_sequence(trail, sequence, next_event):
    AuditEvent.objects.filter(sequence=sequence).delete()
    result = chain_verify()
    after_gap = trail[next_event].event_id if next_event is not None else None
    assert_broken_at(result, sequence, chain.DELETED, after_gap)


def test_swapping_two_events_is_detected(trail):
    move(2, -2)
    move(4, 2)
    move(-2, 4)
    # Each moved event's stored sequence no longer matches its hash.
    assert_broken_at(chain_verify(), 2, chain.EDITED, trail[3].event_id)


def test_swapping_two_events_and_recomputing_their_hashes_breaks_the_links(trail):
    move(2, -2)
    move(4, 2)
    move(-2, 4)
    rehash(2)
    rehash(4)
    assert_broken_at(chain_verify(), 2, chain.RELINKED, trail[3].event_id)


def test_inserting_a_forged_event_breaks_the_link_to_the_next_one(trail):
    # Make room at sequence 3 (two steps: the sequence is unique at every row update), insert
    # a well-formed Decrypt there, recompute every hash that moved and the head.
    AuditEvent.objects.filter(sequence__gte=3).update(sequence=models.F("sequence") + 1000)
    AuditEvent.objects.filter(sequence__gte=1000).update(sequence=models.F("sequence") - 999)
    forged = AuditEvent(event_time=trail[2].event_time, event_name="Decrypt",
                        aws_region="us-east-1", recipient_account_id="111122223333",
                        user_identity=trail[2].user_identity, read_only=True, source="api",
                        sequence=3, prev_hash=trail[1].hash)
    forged.hash = expected_hash(forged)
    forged.save(force_insert=True)
    for sequence in range(4, 8):
        rehash(sequence)
    AuditChainHead.objects.update(sequence=7, hash=event_at(7).hash)
    assert_broken_at(chain_verify(), 4, chain.RELINKED, trail[2].event_id)


def test_editing_the_newest_event_and_its_hash_disagrees_with_the_head(trail):
    AuditEvent.objects.filter(sequence=6).update(user_agent="forged")
    rehash(6)
    assert_broken_at(chain_verify(), 6, chain.EDITED)


# --- digests ---------------------------------------------------------------------------------

def test_a_digest_is_written_only_when_events_were_appended(caller, trail):
    first = digest_create()
    assert (first.first_sequence, first.last_sequence, first.last_hash) == (1, 6, trail[-1].hash)
    assert first.previous_signature == "" and first.signature == digest_signature(first)
    assert digest_create() is None
    services.key_list(caller=caller)
    second = digest_create()
    assert (second.first_sequence, second.last_sequence) == (7, 7)
    assert second.previous_signature == first.signature
    result = chain_verify()
    assert result.ok and result.digests_checked == 2


def test_rewriting_the_whole_chain_after_an_edit_is_caught_by_the_digest(trail):
    digest_create()
    AuditEvent.objects.filter(sequence=3).update(user_agent="forged")
    for sequence in range(3, 7):
        if sequence > 3:
            AuditEvent.objects.filter(sequence=sequence).update(
                prev_hash=event_at(sequence - 1).hash)
        rehash(sequence)
    AuditChainHead.objects.update(hash=event_at(6).hash)
    # Every link holds now; only the signed digest still knows the old hash of event 6.
    assert_broken_at(chain_verify(), 6, chain.DIGEST_MISMATCH, trail[5].event_id)


def test_a_digest_signed_with_another_key_is_refused(caller, trail, settings):
    digest_create()
    services.key_list(caller=caller)
    real_key, settings.AUDIT_DIGEST_KEY = settings.AUDIT_DIGEST_KEY, "an intruder's key"
    forged = digest_create()
    settings.AUDIT_DIGEST_KEY = real_key
    assert_broken_at(chain_verify(), forged.last_sequence, chain.DIGEST_FORGED,
                     event_at(7).event_id)


def test_editing_a_digest_breaks_its_signature(trail):
    digest = digest_create()
    AuditDigest.objects.filter(pk=digest.pk).update(last_hash="0" * 64)
    assert_broken_at(chain_verify(), 6, chain.DIGEST_FORGED, trail[5].event_id)


def test_removing_a_digest_breaks_the_chain_of_signatures(caller, trail):
    digest_create()
    services.key_list(caller=caller)
    middle = digest_create()
    services.key_list(caller=caller)
    digest_create()
    middle.delete()
    result = chain_verify()
    assert (result.broken.sequence, result.broken.reason) == (8, chain.DIGEST_FORGED)
    assert "previous digest" in result.broken.detail


# --- where verification starts ---------------------------------------------------------------

def test_verification_can_start_at_a_sequence(trail):
    AuditEvent.objects.filter(sequence=2).update(user_agent="forged")
    assert chain_verify(from_sequence=3).ok
    assert not chain_verify().ok


def test_verification_covers_the_chain_up_to_the_head_read_when_it_starts(trail):
    # As if events 5 and 6 were appended while the walk ran: they are left for the next one.
    AuditChainHead.objects.update(sequence=4, hash=event_at(4).hash)
    result = chain_verify()
    assert result.ok and result.last_sequence == 4


# --- manage.py audit_verify ------------------------------------------------------------------

def test_audit_verify_exits_0_when_intact(trail):
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "Audit trail intact: 6 event(s) checked" in out.getvalue()


def test_audit_verify_exits_1_naming_the_broken_event(trail):
    AuditEvent.objects.filter(sequence=4).update(error_message="nothing happened")
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit_verify", stderr=err)
    assert exit_info.value.code == 1
    message = err.getvalue()
    assert "sequence 4" in message and str(trail[3].event_id) in message
    assert chain.EDITED in message


def test_audit_verify_from_sequence(trail):
    AuditEvent.objects.filter(sequence=1).update(user_agent="forged")
    out = io.StringIO()
    call_command("audit_verify", "--from-sequence", "2", stdout=out)
    assert "from sequence 2" in out.getvalue()
